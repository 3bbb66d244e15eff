package policy

import (
	"math"
	"slices"
)

// Forecasting parameters; see EstimateGrowth.
const (
	// forecastSpan is how many recent days of a series are fitted.
	forecastSpan = 28
	// forecastLag is the length, in days, of one growth sample.
	forecastLag = 7
	// forecastMinPoints is the fewest points in the span that give a forecast.
	forecastMinPoints = 7
	// accelMinSamples is the fewest growth samples from which acceleration
	// is estimated (a full 28-day span gives 21).
	accelMinSamples = 15
	// accelHorizon is how far, in days, an acceleration is extrapolated: no
	// further than the span it was measured on.
	accelHorizon = forecastSpan
	// accelConsistency is the Kendall rank correlation of the growth
	// samples with time from which their rise counts as acceleration.
	accelConsistency = 0.7
	// maxForecastDays bounds any forecast (five years).
	maxForecastDays = 5*365 + 1
)

// Growth is the growth of a cumulative count, as estimated by
// EstimateGrowth.
type Growth struct {
	// Rate is the growth today, in people per day.
	Rate float64
	// Accel is the daily increase of Rate (≥ 0), extrapolated for at most
	// 28 days, after which the rate is held.
	Accel float64
}

// EstimateGrowth estimates the current growth of a cumulative daily series.
// series[i] is the count of the window at the end of day i (day 0 is the
// first day of the window); today is the index of today. Points after today
// and non-finite values are ignored. It reports false when fewer than 7 of
// the last 28 days have a value.
//
// The method, chosen to be robust to what pipelines really do:
//
//   - Growth samples. Over the last 28 days, the growth of every run of L
//     consecutive days, per day: s_i = (y[i+L] − y[i]) / L, with L = 7
//     (shorter, L = (n−1)/3, when only n < 22 days are known). Weekly
//     samples are immune to weekday patterns and to pipelines that run once
//     or twice a week.
//   - Rate. The median of the samples: a median of pairwise slopes of lag L,
//     the Theil–Sen idea restricted to one lag. A one-day jump (a one-off
//     bulk transfer or backfill) shows in at most L of the 28−L samples,
//     fewer than half, so it does not move the median, whatever day it fell
//     on; a single outlying value shows in at most two samples. (Theil–Sen
//     over all pairs of the span does not have this property: a jump in the
//     middle of the span straddles more than half of all pairs.)
//   - Acceleration. A constant rate underestimates accelerating growth and
//     so forecasts late. With at least 15 samples whose rise is consistent
//     (Kendall's rank correlation with time ≥ 0.7, so that week-to-week
//     noise, which is all overlapping samples show on a steady series, is
//     not taken for a trend), the Theil–Sen slope β of the samples against
//     time measures how fast the rate rises. A jump makes a block of at
//     most L equal samples, which is neither consistent nor tilts β. When
//     β > 0 the rate today is the Theil–Sen line at today (if above the
//     median) and the rate keeps rising by β a day for at most 28 days,
//     then is held: an acceleration is not extrapolated further than the
//     span it was measured on, so sustained exponential growth is still
//     forecast somewhat late far ahead, and the forecast catches up as the
//     crossing nears. A decelerating series keeps the median rate, which
//     forecasts earlier than extrapolating the slowdown: the safe side.
//
// Forecasts are in whole days and meant for a lead of months; they are
// recomputed at every evaluation.
func EstimateGrowth(series []float64, today int) (Growth, bool) {
	hi := min(today, len(series)-1)
	lo := max(0, today-(forecastSpan-1))
	if hi < lo {
		return Growth{}, false
	}
	known := 0
	for _, v := range series[lo : hi+1] {
		if finite(v) {
			known++
		}
	}
	if known < forecastMinPoints {
		return Growth{}, false
	}
	n := hi - lo + 1
	lag := min(forecastLag, (n-1)/3)
	var rates, at []float64
	for i := lo; i+lag <= hi; i++ {
		a, b := series[i], series[i+lag]
		if !finite(a) || !finite(b) {
			continue
		}
		rates = append(rates, (b-a)/float64(lag))
		// The sample measures the rate at the middle of its run, in days
		// relative to today.
		at = append(at, float64(i)+float64(lag)/2-float64(today))
	}
	if len(rates) == 0 {
		return Growth{}, false
	}
	g := Growth{Rate: median(rates)}
	if len(rates) >= accelMinSamples {
		if beta := theilSen(at, rates); beta > 0 && kendallTau(rates) >= accelConsistency {
			resid := make([]float64, len(rates))
			for i := range rates {
				resid[i] = rates[i] - beta*at[i]
			}
			g.Rate = max(g.Rate, median(resid)) // the line at today (at = 0)
			g.Accel = beta
		}
	}
	return g, true
}

// Growth returns the growth forecast over the next d days.
func (g Growth) Growth(d int) float64 {
	x := float64(d)
	if d <= accelHorizon {
		return g.Rate*x + g.Accel*x*x/2
	}
	h := float64(accelHorizon)
	return g.Rate*x + g.Accel*(h*h/2+h*(x-h))
}

// DaysTo returns the fewest days, from 1 to maxDays, after which the count
// has grown by at least gap, or false if it does not within maxDays or
// is not growing (Rate ≤ 0).
func (g Growth) DaysTo(gap float64, maxDays int) (int, bool) {
	if !(g.Rate > 0) || math.IsInf(g.Rate, 0) || math.IsNaN(g.Accel) {
		return 0, false
	}
	maxDays = min(maxDays, maxForecastDays)
	for d := 1; d <= maxDays; d++ {
		if g.Growth(d) >= gap {
			return d, true
		}
	}
	return 0, false
}

// Forecast returns the day on which a count now at current is forecast to
// reach threshold, extrapolating from current (the figure held, not the
// last value of the series) at the growth EstimateGrowth finds in series,
// whose index 0 is the day start and whose today is today.
//
// It reports false when the count has already reached the threshold, when
// the data are insufficient, when the count is flat or declining, and when
// the crossing would fall after last. Evaluate passes 31 December of this
// year as last: a current_year window restarts on 1 January, so a crossing
// later than that is no crossing of this window; a since_prev_jan1 window
// drops its older year on 1 January, so its count falls then and the
// forecast is likewise capped. No forecast reaches further than five years.
func Forecast(series []float64, start, today, last Date, current, threshold uint64) (Date, bool) {
	if current >= threshold {
		return Date{}, false
	}
	idx := today.DaysSince(start)
	maxDays := last.DaysSince(today)
	if idx < 0 || maxDays < 1 {
		return Date{}, false
	}
	g, ok := EstimateGrowth(series, idx)
	if !ok {
		return Date{}, false
	}
	d, ok := g.DaysTo(float64(threshold-current), maxDays)
	if !ok {
		return Date{}, false
	}
	return today.AddDays(d), true
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// median returns the median of xs (not empty); xs is left untouched.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// kendallTau returns Kendall's rank correlation (tau-a) of xs with their
// order: 1 when every later value is higher, -1 when every later value is
// lower.
func kendallTau(xs []float64) float64 {
	var s, n int
	for i := range xs {
		for j := i + 1; j < len(xs); j++ {
			n++
			switch {
			case xs[j] > xs[i]:
				s++
			case xs[j] < xs[i]:
				s--
			}
		}
	}
	if n == 0 {
		return 0
	}
	return float64(s) / float64(n)
}

// theilSen returns the median of the slopes between every pair of points
// with distinct x.
func theilSen(x, y []float64) float64 {
	slopes := make([]float64, 0, len(x)*(len(x)-1)/2)
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			if dx := x[j] - x[i]; dx != 0 {
				slopes = append(slopes, (y[j]-y[i])/dx)
			}
		}
	}
	if len(slopes) == 0 {
		return 0
	}
	return median(slopes)
}
