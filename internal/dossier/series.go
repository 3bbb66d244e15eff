package dossier

import (
	"math"
	"slices"
	"time"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
)

// Series is the daily count of distinct people of one counter over one
// window, from the window's first day to today, with the thresholds of the
// rules that hold it and the forecast line to 31 December.
type Series struct {
	Counter sketch.Counter `json:"counter"`
	Window  sketch.Window  `json:"window"`
	// Start is the window's first day (1 January of this year, or of last
	// year for since_prev_jan1).
	Start policy.Date `json:"start"`
	// Points are the daily point estimates of the day curves (precision
	// 10: the growth, not the legal figure), one per day with a value.
	Points []Point `json:"points"`
	// Estimate and UpperBound are today's legal figure (precision 14);
	// Held is the one held against thresholds (policy.estimate).
	Estimate   uint64 `json:"estimate"`
	UpperBound uint64 `json:"upper_bound"`
	Held       uint64 `json:"held"`
	// Thresholds are the rules that hold this series.
	Thresholds []Threshold `json:"thresholds"`
	// Growth is the growth policy.EstimateGrowth finds; nil when the data
	// do not give one.
	Growth *Growth `json:"growth"`
	// Forecast is the forecast line from today (at Held) to 31 December,
	// one point a day, as policy.Forecast extrapolates; empty without a
	// growth.
	Forecast []Point `json:"forecast"`
}

// Point is the count of one day.
type Point struct {
	Date   policy.Date `json:"date"`
	People uint64      `json:"people"`
}

// Threshold is a rule holding a series.
type Threshold struct {
	Rule      string           `json:"rule"`
	Threshold uint64           `json:"threshold"`
	Level     policy.Level     `json:"level"`
	Mechanism policy.Mechanism `json:"mechanism"`
	Covered   bool             `json:"covered"`
	// Crossing is the forecast crossing (policy's), or nil.
	Crossing *policy.Date `json:"crossing"`
}

// Growth is policy.Growth: people per day today, and its daily increase.
type Growth struct {
	RatePerDay float64 `json:"rate_per_day"`
	Accel      float64 `json:"accel_per_day"`
}

// NewSeries returns the series of the dossier: one per counter and window
// a forecast rule of the preset holds, then personal since 1 January if no
// rule holds it, in the preset's order. obs is the observation st was
// evaluated from.
func NewSeries(s policy.Settings, st policy.Status, obs policy.Observation, today policy.Date) []Series {
	loc := s.Location
	if loc == nil {
		loc = time.UTC
	}
	var keys []seriesKey
	for _, r := range s.Preset.Rules {
		if k := (seriesKey{r.Window, r.Counter}); forecastable(r) && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if k := (seriesKey{sketch.CurrentYear, sketch.Personal}); !slices.Contains(keys, k) {
		keys = append(keys, k)
	}
	last := policy.Date{Year: today.Year, Month: 12, Day: 31}
	out := make([]Series, 0, len(keys))
	for _, k := range keys {
		start := civil.DateOf(k.w.Start(today.Year, loc))
		f := obs.Figures[k.w][k.k]
		held := max(f.UpperBound, f.Estimate)
		if s.UsePoint || f.Estimate == 0 {
			held = f.Estimate
		}
		se := Series{
			Counter: k.k, Window: k.w, Start: start,
			Estimate: f.Estimate, UpperBound: max(f.UpperBound, f.Estimate), Held: held,
			Points: []Point{}, Thresholds: []Threshold{}, Forecast: []Point{},
		}
		raw := obs.Series[k.w][k.k]
		idx := today.DaysSince(start)
		for i, v := range raw {
			if i > idx || math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			se.Points = append(se.Points, Point{Date: start.AddDays(i), People: round(v)})
		}
		for _, r := range s.Preset.Rules {
			if !forecastable(r) || r.Window != k.w || r.Counter != k.k {
				continue
			}
			i := slices.IndexFunc(st.Rules, func(rr policy.RuleReport) bool { return rr.ID == r.ID })
			if i < 0 {
				continue
			}
			rr := st.Rules[i]
			se.Thresholds = append(se.Thresholds, Threshold{Rule: rr.ID, Threshold: rr.Threshold, Level: rr.Level,
				Mechanism: rr.Mechanism, Covered: rr.Covered, Crossing: rr.ForecastCrossing})
		}
		if g, ok := policy.EstimateGrowth(raw, idx); ok && g.Rate > 0 && !math.IsInf(g.Rate, 0) {
			se.Growth = &Growth{RatePerDay: g.Rate, Accel: g.Accel}
			se.Forecast = append(se.Forecast, Point{Date: today, People: held})
			for d := 1; d <= last.DaysSince(today); d++ {
				se.Forecast = append(se.Forecast, Point{Date: today.AddDays(d), People: round(float64(held) + g.Growth(d))})
			}
		}
		out = append(out, se)
	}
	return out
}
