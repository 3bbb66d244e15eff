package sketch

import (
	"encoding/binary"
	"math"
	"slices"
	"time"

	"github.com/axiomhq/hyperloglog"
)

// History is what a store holds of one entity, by calendar year.
type History map[int]*Year

// Figure returns the distinct count of counter k over window w when this
// year is thisYear.
func (h History) Figure(k Counter, w Window, thisYear int, includeExempt bool) Figure {
	var sks []*hyperloglog.Sketch
	for _, yr := range w.Years(thisYear) {
		y := h[yr]
		if y == nil {
			continue
		}
		for _, c := range k.Cells(includeExempt) {
			if y.Sketches[c] != nil {
				sks = append(sks, y.Sketches[c])
			}
		}
	}
	est := unionEstimate(sks)
	return Figure{Estimate: est, UpperBound: UpperBound(est)}
}

// unionEstimate returns the estimate of the union of sks: exactly what
// merging them into an empty New14 sketch and calling Estimate returns, but
// without the cost of axiomhq merging sparse sketches into a sparse one (it
// re-encodes its whole sorted list every 164 keys, so a union of a few
// thousand subjects costs milliseconds).
//
// The union stays sparse while its list of distinct sparse keys, delta
// encoded as uvarints, fits in 2^14 bytes; its estimate is then linear
// counting at precision 25 over the number of keys. Otherwise it is dense:
// the registers are the maximum over every key and register, whatever the
// order of the merges, which a dense sketch merging each one gives.
func unionEstimate(sks []*hyperloglog.Sketch) uint64 {
	var keys []uint32
	var runs []int // keys[runs[i]:runs[i+1]] is sorted
	sparse := true
	for _, sk := range sks {
		b, err := sk.MarshalBinary()
		if err == nil {
			runs = append(runs, len(keys))
			keys, sparse = appendSparseKeys(keys, b)
		}
		if err != nil || !sparse {
			sparse = false
			break
		}
	}
	if sparse {
		keys = mergeRuns(keys, append(runs, len(keys)))
		if _, ok := sparseEncoding(keys); ok {
			const mp = uint32(1) << sparsePrecision
			n := min(uint32(len(keys)), mp-1)
			fm := float64(mp)
			return uint64(fm * math.Log(fm/float64(mp-n))) // axiomhq's linearCount
		}
	}
	u := hyperloglog.NewNoSparse()
	for _, sk := range sks {
		_ = u.Merge(sk) // same precision by construction
	}
	return estimate(u)
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

// sparsePrecision is the precision of axiomhq's sparse keys (its pp),
// fixed by its version-2 encoding.
const sparsePrecision = 25

// appendSparseKeys appends the keys of the version-2 sparse encoding b (a
// tmp set of big-endian keys, then a list of uvarint deltas) to keys. It
// reports false if b is not such an encoding.
func appendSparseKeys(keys []uint32, b []byte) ([]uint32, bool) {
	if len(b) < 8 || b[0] != 2 || b[1] != Precision || b[3] != 1 {
		return keys, false
	}
	n := int(binary.BigEndian.Uint32(b[4:8]))
	p := b[8:]
	if n > len(p)/4 {
		return keys, false
	}
	// The tmp set, in no order: sorted here, and merged with the list
	// (sorted) below, so that the whole is one sorted run.
	tmp := make([]uint32, n)
	for i := range tmp {
		tmp[i] = binary.BigEndian.Uint32(p[4*i:])
	}
	slices.Sort(tmp)
	p = p[4*n:]
	if len(p) < 12 {
		return keys, false
	}
	count := binary.BigEndian.Uint32(p[:4])
	sz := binary.BigEndian.Uint32(p[8:12])
	p = p[12:]
	if uint64(sz) != uint64(len(p)) {
		return keys, false
	}
	var last uint32
	for range count {
		d, w := binary.Uvarint(p)
		if w <= 0 || d > math.MaxUint32 {
			return keys, false
		}
		p = p[w:]
		last += uint32(d)
		for len(tmp) > 0 && tmp[0] < last {
			keys = append(keys, tmp[0])
			tmp = tmp[1:]
		}
		keys = append(keys, last)
	}
	return append(keys, tmp...), len(p) == 0
}

// uvarintLen is the length of x as a uvarint.
func uvarintLen(x uint32) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// estimate returns sk.Estimate(). For a dense sketch it computes the same
// value from the registers without axiomhq's math.Pow per register, which
// makes it cost about 0.35 ms.
func estimate(sk *hyperloglog.Sketch) uint64 {
	b, err := sk.MarshalBinary()
	// Version 2, precision 14, dense (byte 3 is 0), 4 bytes of register
	// count, then one byte per register.
	if err == nil && len(b) == 8+1<<Precision && b[0] == 2 && b[1] == Precision && b[3] == 0 {
		return denseEstimate(b[8:])
	}
	return sk.Estimate()
}

// denseEstimate is axiomhq's estimate (LogLog-Beta) of the dense
// precision-14 registers regs, computed with the same operations in the
// same order, so it returns exactly what Sketch.Estimate returns; only
// 1/2^v is built directly rather than through math.Pow.
func denseEstimate(regs []byte) uint64 {
	var sum, ez float64
	for _, v := range regs {
		if v == 0 {
			ez++
		}
		sum += math.Float64frombits(uint64(1023-int(v)) << 52) // exactly 1/2^v
	}
	m := float64(uint32(1) << Precision)
	alpha := 0.7213 / (1 + 1.079/m)
	est := alpha * m * (m - ez) / (sum + beta14(ez))
	return uint64(est + 0.5)
}

// beta14 is the bias correction of LogLog-Beta at precision 14, as axiomhq
// writes it.
func beta14(ez float64) float64 {
	zl := math.Log(ez + 1)
	return -0.371009760230692*ez +
		0.00978811941207509*zl +
		0.185796293324165*math.Pow(zl, 2) +
		0.203015527328432*math.Pow(zl, 3) +
		-0.116710521803686*math.Pow(zl, 4) +
		0.0431106699492820*math.Pow(zl, 5) +
		-0.00599583540511831*math.Pow(zl, 6) +
		0.000449704299509437*math.Pow(zl, 7)
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
		if curves && y.Curves[c] != nil || !curves && y.Sketches[c] != nil {
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
