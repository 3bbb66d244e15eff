package sketch

import (
	"slices"
	"time"
)

// History is what a store holds of one entity, by calendar year.
type History map[int]*Year

// Figure returns the distinct count of counter k over window w when this
// year is thisYear.
func (h History) Figure(k Counter, w Window, thisYear int, includeExempt bool) Figure {
	var sks []*hll
	for _, yr := range w.Years(thisYear) {
		y := h[yr]
		if y == nil {
			continue
		}
		for _, c := range k.Cells(includeExempt) {
			if sk := y.Sketch(c); sk != nil {
				sks = append(sks, sk)
			}
		}
	}
	est := unionEstimate(sks)
	return Figure{Estimate: est, UpperBound: UpperBound(est)}
}

// mergeRuns returns the distinct values of keys, sorted, where
// keys[bounds[i]:bounds[i+1]] are sorted runs.
func mergeRuns(keys []uint32, bounds []int) []uint32 {
	if len(bounds) <= 2 {
		return slices.Compact(keys)
	}
	buf := make([]uint32, 0, len(keys))
	for len(bounds) > 2 {
		// Merge the runs two by two.
		buf = buf[:0]
		next := []int{0}
		for i := 0; i+1 < len(bounds); i += 2 {
			a := keys[bounds[i]:bounds[i+1]]
			var b []uint32
			if i+2 < len(bounds) {
				b = keys[bounds[i+1]:bounds[i+2]]
			}
			for len(a) > 0 && len(b) > 0 {
				if a[0] <= b[0] {
					buf = append(buf, a[0])
					a = a[1:]
				} else {
					buf = append(buf, b[0])
					b = b[1:]
				}
			}
			buf = append(append(buf, a...), b...)
			next = append(next, len(buf))
		}
		keys, buf = buf, keys
		bounds = next
	}
	return slices.Compact(keys)
}

// Important reports whether important data was sent in window w.
func (h History) Important(w Window, thisYear int, includeExempt bool) bool {
	for _, yr := range w.Years(thisYear) {
		if y := h[yr]; y != nil && (y.Important[0] || includeExempt && y.Important[1]) {
			return true
		}
	}
	return false
}

// curve returns the union of counter k's day curves of year yr.
func (h History) curve(k Counter, yr int, includeExempt bool) *Curve {
	u := NewCurve()
	if y := h[yr]; y != nil {
		for _, c := range k.Cells(includeExempt) {
			u.Merge(y.Curves[c])
		}
	}
	return u
}

// Series returns the daily distinct count of counter k in window w by event
// time: index 0 is the window's first day, the last index is today (given
// as the day of thisYear, 0 = 1 January).
func (h History) Series(k Counter, w Window, thisYear, today int, includeExempt bool) []float64 {
	cur := h.curve(k, thisYear, includeExempt)
	if w != SincePrevJan1 {
		return cur.Series(nil, today)
	}
	prev := h.curve(k, thisYear-1, includeExempt)
	days := daysIn(thisYear - 1)
	out := prev.appendSeries(make([]float64, 0, days+today+1), nil, days-1)
	return cur.appendSeries(out, prev, today)
}

func daysIn(year int) int {
	return time.Date(year, time.December, 31, 0, 0, 0, 0, time.UTC).YearDay()
}

// A Query answers Figure and Series for one history, like History's own
// methods, but computes each distinct union only once: the counters and
// windows of an evaluation often cover the same non-empty cells (an entity
// with no processing events has the same "processed" as "personal"
// figures; with nothing last year, since_prev_jan1 equals current_year).
// A Query is not safe for concurrent use; the history must not change
// while it is used.
type Query struct {
	h       History
	figures map[unionKey]Figure
	series  map[seriesKey][]float64
}

// unionKey identifies a union of one year's cells and the year before's:
// bit c of cur (prev) is set when cell c of that year takes part and is not
// empty.
type unionKey struct {
	thisYear  int
	prev, cur uint8
}

type seriesKey struct {
	unionKey
	twoYears bool
	today    int
}

// Query returns a Query of h.
func (h History) Query() *Query {
	return &Query{h: h, figures: make(map[unionKey]Figure), series: make(map[seriesKey][]float64)}
}

// cells returns the bits of the cells of counter k that hold a sketch
// (curves false) or a day curve (curves true) in year yr.
func (q *Query) cells(k Counter, yr int, includeExempt, curves bool) uint8 {
	y := q.h[yr]
	if y == nil {
		return 0
	}
	var bits uint8
	for _, c := range k.Cells(includeExempt) {
		if curves && y.Curves[c] != nil || !curves && y.has(c) {
			bits |= 1 << c
		}
	}
	return bits
}

func (q *Query) key(k Counter, w Window, thisYear int, includeExempt, curves bool) unionKey {
	key := unionKey{thisYear: thisYear, cur: q.cells(k, thisYear, includeExempt, curves)}
	if w == SincePrevJan1 {
		key.prev = q.cells(k, thisYear-1, includeExempt, curves)
	}
	return key
}

// Figure is History.Figure.
func (q *Query) Figure(k Counter, w Window, thisYear int, includeExempt bool) Figure {
	key := q.key(k, w, thisYear, includeExempt, false)
	if f, ok := q.figures[key]; ok {
		return f
	}
	f := q.h.Figure(k, w, thisYear, includeExempt)
	q.figures[key] = f
	return f
}

// Series is History.Series. Calls that ask for the same union of curves
// share the slice returned: do not modify it.
func (q *Query) Series(k Counter, w Window, thisYear, today int, includeExempt bool) []float64 {
	key := seriesKey{unionKey: q.key(k, w, thisYear, includeExempt, true), twoYears: w == SincePrevJan1, today: today}
	if s, ok := q.series[key]; ok {
		return s
	}
	s := q.h.Series(k, w, thisYear, today, includeExempt)
	q.series[key] = s
	return s
}
