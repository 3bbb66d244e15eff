package sketch

import (
	"time"

	"github.com/axiomhq/hyperloglog"
)

// History is what a store holds of one entity, by calendar year.
type History map[int]*Year

// Figure returns the distinct count of counter k over window w when this
// year is thisYear.
func (h History) Figure(k Counter, w Window, thisYear int, includeExempt bool) Figure {
	u := hyperloglog.New14()
	for _, yr := range w.Years(thisYear) {
		y := h[yr]
		if y == nil {
			continue
		}
		for _, c := range k.Cells(includeExempt) {
			if y.Sketches[c] != nil {
				_ = u.Merge(y.Sketches[c]) // same precision by construction
			}
		}
	}
	est := u.Estimate()
	return Figure{Estimate: est, UpperBound: UpperBound(est)}
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
	out := prev.Series(nil, daysIn(thisYear-1)-1)
	return append(out, cur.Series(prev, today)...)
}

func daysIn(year int) int {
	return time.Date(year, time.December, 31, 0, 0, 0, 0, time.UTC).YearDay()
}
