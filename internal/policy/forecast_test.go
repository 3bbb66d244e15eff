package policy

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/transferwatch/transferwatch/internal/civil"
)

// series returns n daily values f(0) … f(n-1).
func series(n int, f func(i int) float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = f(i)
	}
	return s
}

// crossingIndex returns the first index ≥ from at which f reaches threshold.
func crossingIndex(f func(i int) float64, from int, threshold float64) int {
	for i := from; ; i++ {
		if f(i) >= threshold {
			return i
		}
	}
}

// olsForecast is the plain forecast the robust one is compared with: a
// least-squares line through the whole series, extrapolated from current.
func olsForecast(s []float64, current, threshold float64) int {
	n := float64(len(s))
	var sx, sy, sxx, sxy float64
	for i, v := range s {
		x := float64(i)
		sx, sy, sxx, sxy = sx+x, sy+v, sxx+x*x, sxy+x*v
	}
	slope := (n*sxy - sx*sy) / (n*sxx - sx*sx)
	return int(math.Ceil((threshold - current) / slope))
}

var (
	jan1   = civil.NewDate(2026, 1, 1)
	dec31  = civil.NewDate(2026, 12, 31)
	day150 = jan1.AddDays(150) // 2026-05-31
)

func TestForecastSteadyLinear(t *testing.T) {
	tests := []struct {
		name      string
		start     Date
		today     Date
		base      float64
		perDay    float64
		threshold uint64
	}{
		{"personal-100k current_year", jan1, day150, 20000, 400, 100_000},
		{"sensitive-10k current_year", jan1, day150, 1000, 37, 10_000},
		{"processed-1m since_prev_jan1", civil.NewDate(2025, 1, 1), day150, 0, 1500, 1_000_000},
		{"slow, crossing in December", jan1, day150, 0, 350, 100_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := func(i int) float64 { return tt.base + tt.perDay*float64(i) }
			idx := tt.today.DaysSince(tt.start)
			s := series(idx+1, f)
			want := tt.start.AddDays(crossingIndex(f, idx, float64(tt.threshold)))
			got, ok := Forecast(s, tt.start, tt.today, dec31, uint64(s[idx]), tt.threshold)
			if !ok {
				t.Fatalf("no forecast, want %s", want)
			}
			if d := got.DaysSince(want); d < -2 || d > 2 {
				t.Errorf("forecast %s, true crossing %s (%+d days)", got, want, d)
			}
		})
	}
}

func TestForecastAccelerating(t *testing.T) {
	tests := []struct {
		name      string
		f         func(i int) float64
		threshold uint64
		late      int // days the forecast may fall after the true crossing
	}{
		{"quadratic", func(i int) float64 { x := float64(i); return 20000 + 100*x + 2*x*x }, 100_000, 1},
		{"exponential, doubling every 8 weeks", func(i int) float64 { return 10000 * math.Exp(float64(i)*math.Ln2/56) }, 100_000, 4},
		{"rate stepping up four weeks ago", func(i int) float64 {
			if i < 122 {
				return 200 * float64(i)
			}
			return 200*122 + 600*float64(i-122)
		}, 100_000, 2},
	}
	noisy := func(f func(int) float64) func(int) float64 {
		r := rand.New(rand.NewPCG(7, 7))
		noise := series(400, func(int) float64 { return 1 + 0.003*r.NormFloat64() })
		return func(i int) float64 { return f(i) * noise[i] }
	}
	quadratic := tests[0].f
	tests = append(tests, struct {
		name      string
		f         func(i int) float64
		threshold uint64
		late      int
	}{
		// Noise can hide a mild acceleration (the rate rises 12% over the
		// span): the forecast then holds the median rate of the last four
		// weeks, later than the truth but far earlier than a linear fit.
		"quadratic seen through noise", noisy(quadratic), 100_000, 7,
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := series(151, tt.f)
			current := s[150]
			truth := crossingIndex(tt.f, 150, float64(tt.threshold)) - 150
			got, ok := Forecast(s, jan1, day150, dec31, uint64(current), tt.threshold)
			if !ok {
				t.Fatalf("no forecast, true crossing in %d days", truth)
			}
			days := got.DaysSince(day150)
			if days > truth+tt.late {
				t.Errorf("forecast in %d days, true crossing in %d: more than %d days late", days, truth, tt.late)
			}
			if ols := olsForecast(s, current, float64(tt.threshold)); days >= ols {
				t.Errorf("forecast in %d days, not earlier than a whole-series linear fit (%d days)", days, ols)
			}
			t.Logf("forecast %d days, truth %d, whole-series linear fit %d", days, truth, olsForecast(s, current, float64(tt.threshold)))
		})
	}
}

func TestForecastNone(t *testing.T) {
	linear := series(151, func(i int) float64 { return 20000 + 400*float64(i) })
	tests := []struct {
		name      string
		s         []float64
		today     Date
		current   uint64
		threshold uint64
		last      Date
	}{
		{"flat", series(151, func(int) float64 { return 60000 }), day150, 60000, 100_000, dec31},
		{"declining", series(151, func(i int) float64 { return 90000 - 10*float64(i) }), day150, 88500, 100_000, dec31},
		{"empty series", nil, day150, 60000, 100_000, dec31},
		{"six points", linear[:6], jan1.AddDays(5), 22000, 100_000, dec31},
		{"six points in the last 28 days", series(151, func(i int) float64 {
			if i < 145 {
				return math.NaN()
			}
			return 1000 * float64(i)
		}), day150, 150000, 1_000_000, dec31},
		{"stale series", linear[:100], day150, 60000, 100_000, dec31},
		{"already breached", linear, day150, 100_000, 100_000, dec31},
		{"past the threshold", linear, day150, 100_001, 100_000, dec31},
		{"crossing after 31 December", linear, day150, 80000, 1_000_000, dec31},
		{"today is the last day", linear, dec31, 80000, 100_000, dec31},
		{"today before the window", linear, civil.NewDate(2025, 12, 31), 80000, 100_000, dec31},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := Forecast(tt.s, jan1, tt.today, tt.last, tt.current, tt.threshold); ok {
				t.Errorf("forecast %s, want none", got)
			}
		})
	}
}

func TestForecastMinimumPoints(t *testing.T) {
	f := func(i int) float64 { return 1000 * float64(i) }
	s := series(7, f)
	today := jan1.AddDays(6)
	got, ok := Forecast(s, jan1, today, dec31, 6000, 20000)
	if !ok {
		t.Fatal("no forecast from 7 points")
	}
	if want := jan1.AddDays(20); got != want {
		t.Errorf("forecast %s, want %s", got, want)
	}
}

func TestForecastCapsAtYearEnd(t *testing.T) {
	// 400 a day from 80,000 on 31 May: 165,600 is reached on 31 December,
	// 165,601 only on 1 January, when the window has started again.
	f := func(i int) float64 { return 20000 + 400*float64(i) }
	for _, start := range []Date{jan1, civil.NewDate(2025, 1, 1)} { // current_year, since_prev_jan1
		idx := day150.DaysSince(start)
		s := series(idx+1, func(i int) float64 { return f(i - idx + 150) })
		if got, ok := Forecast(s, start, day150, dec31, 80000, 165_600); !ok || got != dec31 {
			t.Errorf("window from %s: forecast %s %v, want %s", start, got, ok, dec31)
		}
		if got, ok := Forecast(s, start, day150, dec31, 80000, 165_601); ok {
			t.Errorf("window from %s: forecast %s across the year boundary", start, got)
		}
	}
}

func TestForecastFromCurrentFigure(t *testing.T) {
	// The series holds point estimates; the forecast starts from the figure
	// held (an upper bound here), not from the series' last value.
	s := series(151, func(i int) float64 { return 20000 + 400*float64(i) })
	fromSeries, _ := Forecast(s, jan1, day150, dec31, 80000, 100_000)
	fromBound, _ := Forecast(s, jan1, day150, dec31, 84000, 100_000)
	if got := fromSeries.DaysSince(fromBound); got != 10 {
		t.Errorf("an upper bound 4,000 higher at 400/day moves the forecast %d days earlier, want 10", got)
	}
}

func TestForecastSpike(t *testing.T) {
	// A one-off bulk transfer: one day adds 30,000 people, then the count
	// flattens again. Wherever the jump falls in the fitted span, it must
	// not be read as a trend.
	for k := 110; k <= 150; k++ {
		flat := series(151, func(i int) float64 {
			if i >= k {
				return 90000
			}
			return 60000
		})
		if got, ok := Forecast(flat, jan1, day150, dec31, 90000, 100_000); ok {
			t.Errorf("jump on day %d of a flat series: forecast crossing %s, want none", k, got)
		}
		// The same jump on a slow trend of 100 a day: the forecast follows
		// the trend (10,000 to go at 100 a day), not the jump.
		slow := series(151, func(i int) float64 {
			v := 45000 + 100*float64(i)
			if i >= k {
				v += 30000
			}
			return v
		})
		got, ok := Forecast(slow, jan1, day150, dec31, uint64(slow[150]), 100_000)
		if !ok || got.DaysSince(day150) < 95 {
			t.Errorf("jump on day %d of a slow trend: forecast %s %v, want about 100 days out", k, got, ok)
		}
	}
	// A single outlying value (a glitch), not a lasting jump.
	glitch := series(151, func(i int) float64 { return 20000 + 400*float64(i) })
	glitch[140] += 30000
	got, ok := Forecast(glitch, jan1, day150, dec31, 80000, 100_000)
	if !ok || got.DaysSince(day150) < 48 || got.DaysSince(day150) > 52 {
		t.Errorf("one outlying value: forecast %s %v, want about 50 days out", got, ok)
	}
}

func TestForecastWeeklyBatches(t *testing.T) {
	// A pipeline that runs once a week, adding 2,800 people each time: the
	// growth is 400 a day, not zero and not 2,800 a day.
	f := func(i int) float64 { return 20000 + 2800*float64(i/7) }
	s := series(151, f)
	truth := crossingIndex(f, 150, 100_000) - 150
	got, ok := Forecast(s, jan1, day150, dec31, uint64(s[150]), 100_000)
	if !ok || abs(got.DaysSince(day150)-truth) > 3 {
		t.Errorf("weekly batches: forecast %s %v, true crossing in %d days", got, ok, truth)
	}
}

func TestForecastNoisy(t *testing.T) {
	// 0 to 800 new people a day (400 on average), and the sketch's
	// day-to-day error of 0.3% of the count on top: the forecast stays near
	// the expected crossing. (The average of 28 such days itself varies by
	// ±11% (one standard deviation), hence the tolerance.)
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		truthSeries := make([]float64, 151)
		v := 20000.0
		for i := range truthSeries {
			v += 800 * r.Float64()
			truthSeries[i] = v
		}
		noisy := series(151, func(i int) float64 { return truthSeries[i] * (1 + 0.003*r.NormFloat64()) })
		current := truthSeries[150]
		truth := int(math.Ceil((100_000 - current) / 400))
		got, ok := Forecast(noisy, jan1, day150, dec31, uint64(current), 100_000)
		if !ok {
			t.Errorf("seed %d: no forecast, true crossing in about %d days", seed, truth)
			continue
		}
		if d := got.DaysSince(day150); d < truth*75/100 || d > truth*130/100 {
			t.Errorf("seed %d: forecast in %d days, true crossing in about %d", seed, d, truth)
		}
	}
	// A flat count seen through the same noise is not forecast to cross
	// within a lead of 183 days.
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 2))
		flat := series(151, func(int) float64 { return 60000 * (1 + 0.003*r.NormFloat64()) })
		if got, ok := Forecast(flat, jan1, day150, dec31, 60000, 100_000); ok && got.DaysSince(day150) <= 183 {
			t.Errorf("seed %d: flat noisy series forecast to cross on %s", seed, got)
		}
	}
}

func TestEstimateGrowth(t *testing.T) {
	s := series(151, func(i int) float64 { return 400 * float64(i) })
	g, ok := EstimateGrowth(s, 150)
	if !ok || g.Rate != 400 || g.Accel != 0 {
		t.Errorf("linear: %+v %v, want rate 400, no acceleration", g, ok)
	}
	// Points after today are ignored.
	g2, _ := EstimateGrowth(append(s[:140:140], 1e9, 1e9), 139)
	if g2.Rate != 400 {
		t.Errorf("points after today moved the rate to %v", g2.Rate)
	}
	if _, ok := EstimateGrowth(s, -1); ok {
		t.Error("a negative today gave an estimate")
	}
	if d, ok := (Growth{Rate: 0, Accel: 5}).DaysTo(10, 100); ok {
		t.Errorf("no current growth forecast a crossing in %d days", d)
	}
}

func FuzzForecast(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, uint16(9), uint32(10), uint32(200))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 255}, uint16(7), uint32(0), uint32(1))
	f.Fuzz(func(t *testing.T, raw []byte, today uint16, current, threshold uint32) {
		s := make([]float64, len(raw))
		for i, b := range raw {
			s[i] = float64(b) * float64(i)
		}
		if len(s) > 3 {
			s[len(s)/2] = math.NaN()
		}
		now := jan1.AddDays(int(today % 366))
		got, ok := Forecast(s, jan1, now, dec31, uint64(current), uint64(threshold))
		if !ok {
			return
		}
		if !got.After(now) || got.After(dec31) {
			t.Fatalf("forecast %s outside (%s, %s]", got, now, dec31)
		}
		if uint64(current) >= uint64(threshold) {
			t.Fatalf("forecast %s for a threshold already reached", got)
		}
	})
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
