package sketch_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/pkg/event"
)

func shanghai(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestDayOfYearBoundary(t *testing.T) {
	loc := shanghai(t)
	cases := []struct {
		at        string
		year, day int
	}{
		{"2026-12-31T16:30:00Z", 2027, 0},   // 00:30 on 1 January in Shanghai
		{"2026-12-31T15:59:59Z", 2026, 364}, // 23:59:59 on 31 December
		{"2027-01-01T00:00:00+08:00", 2027, 0},
		{"2024-12-31T12:00:00Z", 2024, 365}, // leap year: day 365 exists
	}
	for _, c := range cases {
		at, err := time.Parse(time.RFC3339, c.at)
		if err != nil {
			t.Fatal(err)
		}
		y, d := sketch.DayOf(at, loc)
		if y != c.year || d != c.day {
			t.Errorf("DayOf(%s) = %d/%d, want %d/%d", c.at, y, d, c.year, c.day)
		}
	}
}

func TestCountersAreUnionsOfCells(t *testing.T) {
	// One subject in each cell, each distinct.
	b := sketch.Batch{}
	var h uint64 = 1
	for _, kind := range []event.Kind{event.KindTransfer, event.KindProcessing} {
		for _, sens := range []bool{false, true} {
			for _, ex := range []bool{false, true} {
				b.Add("e", 2026, 10, sketch.CellOf(kind, sens, ex), false, []uint64{h * 0x9e3779b97f4a7c15})
				h++
			}
		}
	}
	hist := sketch.History{2026: b[sketch.Key{Entity: "e", Year: 2026}]}
	want := map[bool]map[sketch.Counter]uint64{
		true:  {sketch.Personal: 4, sketch.Sensitive: 2, sketch.NonSensitive: 2, sketch.Processed: 8},
		false: {sketch.Personal: 2, sketch.Sensitive: 1, sketch.NonSensitive: 1, sketch.Processed: 4},
	}
	for includeExempt, counters := range want {
		for k, n := range counters {
			if got := hist.Figure(k, sketch.CurrentYear, 2026, includeExempt).Estimate; got != n {
				t.Errorf("%s (exempt included: %t) = %d, want %d", k, includeExempt, got, n)
			}
		}
	}
}

func TestWindowsSpanYears(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	last, this := &sketch.Year{}, &sketch.Year{}
	shared := rng.Uint64()
	last.Insert(0, 100, shared)
	this.Insert(0, 5, shared)
	this.Insert(0, 6, rng.Uint64())
	last.MarkImportant(true) // exempt important data, last year
	hist := sketch.History{2025: last, 2026: this}
	if got := hist.Figure(sketch.Personal, sketch.CurrentYear, 2026, true).Estimate; got != 2 {
		t.Errorf("current_year = %d, want 2", got)
	}
	if got := hist.Figure(sketch.Personal, sketch.SincePrevJan1, 2026, true).Estimate; got != 2 {
		t.Errorf("since_prev_jan1 = %d, want 2 (the shared subject counts once)", got)
	}
	if got := hist.Figure(sketch.Personal, sketch.SincePrevJan1, 2027, true).Estimate; got != 2 {
		t.Errorf("since_prev_jan1 in 2027 = %d, want 2 (2026 only)", got)
	}
	if !hist.Important(sketch.SincePrevJan1, 2026, true) || hist.Important(sketch.SincePrevJan1, 2026, false) {
		t.Error("exempt important data must count only when exemptions are included")
	}
	if hist.Important(sketch.CurrentYear, 2026, true) {
		t.Error("last year's important data is not in current_year")
	}
	s := hist.Series(sketch.Personal, sketch.SincePrevJan1, 2026, 10, true)
	if len(s) != 365+11 {
		t.Fatalf("series length %d, want %d", len(s), 365+11)
	}
	if s[99] != 0 || s[100] < 0.5 || s[365+5] != s[100] || s[365+6] <= s[365+5] {
		t.Errorf("series does not follow the events: %v %v %v %v", s[99], s[100], s[365+5], s[365+6])
	}
}
