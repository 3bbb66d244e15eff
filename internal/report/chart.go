package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/transferwatch/transferwatch/internal/dossier"
	"github.com/transferwatch/transferwatch/internal/policy"
)

// Chart is the geometry of the SVG chart of one daily series: the measured
// line from the window's first day to today, the forecast line from today
// to 31 December, a horizontal line per threshold, month ticks and people
// ticks. Coordinates are in the SVG's user units.
type Chart struct {
	Series        dossier.Series
	Width, Height int
	// The plot area.
	Left, Top, Right, Bottom float64
	// Measured and Forecast are the points of the polylines ("x,y x,y …").
	Measured, Forecast string
	Thresholds         []ChartLine
	// Above are thresholds beyond the top of the chart (named in the
	// legend, not drawn).
	Above  []dossier.Threshold
	XTicks []Tick
	YTicks []Tick
	TodayX float64
}

// ChartLine is a threshold drawn across the chart.
type ChartLine struct {
	Y     float64
	Label string
	Level policy.Level
}

// Tick is an axis tick; a month tick has its Month (and Year).
type Tick struct {
	At    float64
	Label string
	Year  int
	Month time.Month
}

// NewChart lays out the chart of s, whose last day is 31 December of
// today's year.
func NewChart(s dossier.Series, today policy.Date) Chart {
	c := Chart{Series: s, Width: 720, Height: 290, Left: 64, Top: 16, Right: 704, Bottom: 248}
	last := policy.Date{Year: today.Year, Month: time.December, Day: 31}
	days := float64(max(last.DaysSince(s.Start), 1))
	x := func(d policy.Date) float64 { return c.Left + (c.Right-c.Left)*float64(d.DaysSince(s.Start))/days }

	// The top of the chart: the data, the forecast, and the nearest
	// threshold above them, with room to spare.
	top := float64(s.Held)
	for _, p := range s.Points {
		top = math.Max(top, float64(p.People))
	}
	for _, p := range s.Forecast {
		top = math.Max(top, float64(p.People))
	}
	// The nearest threshold above the data shows when it is near (within
	// three times the data), or when there are no data yet; those further
	// up are named, not drawn, so that the line stays readable.
	next := math.Inf(1)
	for _, th := range s.Thresholds {
		if float64(th.Threshold) >= top {
			next = math.Min(next, float64(th.Threshold))
		}
	}
	if !math.IsInf(next, 1) && (next <= 3*top || top == 0) {
		top = next
	}
	top = niceCeil(math.Max(top*1.1, 10))
	y := func(v float64) float64 { return c.Bottom - (c.Bottom-c.Top)*math.Min(v, top)/top }

	var b strings.Builder
	for _, p := range s.Points {
		fmt.Fprintf(&b, "%s,%s ", coord(x(p.Date)), coord(y(float64(p.People))))
	}
	c.Measured = strings.TrimSpace(b.String())
	b.Reset()
	for _, p := range s.Forecast {
		fmt.Fprintf(&b, "%s,%s ", coord(x(p.Date)), coord(y(float64(p.People))))
	}
	c.Forecast = strings.TrimSpace(b.String())
	for _, th := range s.Thresholds {
		if float64(th.Threshold) > top {
			c.Above = append(c.Above, th)
			continue
		}
		c.Thresholds = append(c.Thresholds, ChartLine{Y: y(float64(th.Threshold)), Label: th.Rule + " " + num(th.Threshold), Level: th.Level})
	}
	c.TodayX = x(today)
	for d := s.Start; !d.After(last); d = dossier.AddMonths(d, 1) {
		label := d.Month.String()[:3]
		if d.Month == time.January {
			label = strconv.Itoa(d.Year)
		}
		c.XTicks = append(c.XTicks, Tick{At: x(d), Label: label, Year: d.Year, Month: d.Month})
		if last.DaysSince(s.Start) > 400 {
			d = dossier.AddMonths(d, 1) // two years: every other month
		}
	}
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		c.YTicks = append(c.YTicks, Tick{At: y(v), Label: num(uint64(v))})
	}
	return c
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// Helpers of the template's layout.

// PlotWidth is the width of the plot area.
func (c Chart) PlotWidth() float64 { return c.Right - c.Left }

// PlotHeight is the height of the plot area.
func (c Chart) PlotHeight() float64 { return c.Bottom - c.Top }

// YLabelX is where people ticks' labels end.
func (c Chart) YLabelX() float64 { return c.Left - 4 }

// XLabelY is the baseline of month labels.
func (c Chart) XLabelY() float64 { return c.Bottom + 16 }

// TickEnd is the lower end of a month tick.
func (c Chart) TickEnd() float64 { return c.Bottom + 4 }

// ThresholdLabelX is where threshold labels end.
func (c Chart) ThresholdLabelX() float64 { return c.Right - 4 }

// TodayLabelY is the baseline of the "today" label.
func (c Chart) TodayLabelY() float64 { return c.Bottom + 28 }
