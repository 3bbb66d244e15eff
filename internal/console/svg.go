package console

import (
	"math"
	"strconv"
	"strings"

	"github.com/transferwatch/transferwatch/internal/dossier"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
)

// The geometry of the charts, in SVG user units.
const (
	chartW, chartH                    = 960, 300
	padLeft, padRight, padTop, padBot = 72, 16, 14, 36
	rowH, labelW                      = 26, 270
)

// tick is a labelled mark on an axis.
type tick struct {
	Pos   float64
	Label string
}

// hline is a threshold line of a series chart.
type hline struct {
	Y        float64
	Rule     string
	Value    uint64
	Covered  bool
	Crossing *policy.Date
}

// chart is the chart of one daily series: people since the window's first
// day, the thresholds within sight and the forecast to 31 December.
type chart struct {
	ID         string
	Series     dossier.Series
	W, H       int
	Path       string
	Forecast   string
	Thresholds []hline
	// Off are the thresholds too far above the figures to draw.
	Off    []dossier.Threshold
	XTicks []tick
	YTicks []tick
	TodayX float64
	Top    float64 // the y of the axis' top, padTop
	Bottom float64 // the y of the axis, chartH - padBot
	Left   float64
	Right  float64
	// Last is today's point.
	Last dossier.Point
}

// seriesChart lays out the chart of s up to 31 December of today's year.
func seriesChart(s dossier.Series, today policy.Date) chart {
	c := chart{ID: "chart-" + string(s.Counter) + "-" + string(s.Window), Series: s, W: chartW, H: chartH,
		Top: padTop, Bottom: chartH - padBot, Left: padLeft, Right: chartW - padRight}
	start := s.Start
	end := policy.Date{Year: today.Year, Month: 12, Day: 31}
	days := float64(max(end.DaysSince(start), 1))
	x := func(d policy.Date) float64 { return c.Left + (c.Right-c.Left)*float64(d.DaysSince(start))/days }

	top := float64(s.Held)
	for _, p := range s.Points {
		top = max(top, float64(p.People))
	}
	for _, p := range s.Forecast {
		top = max(top, float64(p.People))
	}
	// Thresholds up to three times the figures are drawn; those beyond
	// would flatten the curve and are listed instead.
	sight := max(top*3, 10)
	ymax := top
	for _, t := range s.Thresholds {
		if float64(t.Threshold) <= sight && t.Threshold > 1 {
			ymax = max(ymax, float64(t.Threshold))
		}
	}
	step := niceStep(max(ymax, 10) / 5)
	ymax = math.Ceil(max(ymax, 10)*1.05/step) * step
	y := func(v float64) float64 { return c.Bottom - (c.Bottom-c.Top)*v/ymax }

	c.Path = polyline(s.Points, x, y)
	c.Forecast = polyline(s.Forecast, x, y)
	for _, t := range s.Thresholds {
		if float64(t.Threshold) <= sight && t.Threshold > 1 {
			c.Thresholds = append(c.Thresholds, hline{Y: y(float64(t.Threshold)), Rule: t.Rule, Value: t.Threshold, Covered: t.Covered, Crossing: t.Crossing})
		} else {
			c.Off = append(c.Off, t)
		}
	}
	for v := 0.0; v <= ymax+step/2; v += step {
		c.YTicks = append(c.YTicks, tick{Pos: y(v), Label: formatNum(uint64(v))})
	}
	for m := start; !end.Before(m); m = dossier.AddMonths(m, 1) {
		c.XTicks = append(c.XTicks, tick{Pos: x(m), Label: m.String()[:7]})
		if start.Year != today.Year && len(c.XTicks) > 24 {
			break
		}
	}
	c.TodayX = x(today)
	if n := len(s.Points); n > 0 {
		c.Last = s.Points[n-1]
	}
	return c
}

// polyline is the SVG path through the points.
func polyline(pts []dossier.Point, x func(policy.Date) float64, y func(float64) float64) string {
	var b strings.Builder
	for i, p := range pts {
		if i == 0 {
			b.WriteByte('M')
		} else {
			b.WriteByte('L')
		}
		b.WriteString(strconv.FormatFloat(x(p.Date), 'f', 1, 64))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(y(float64(p.People)), 'f', 1, 64))
	}
	return b.String()
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// span is a bar between two days on a timeline row.
type span struct {
	X, W  float64
	Class string
	From  policy.Date
	To    policy.Date
}

// mark is a dated mark on a timeline row.
type mark struct {
	X     float64
	Kind  string
	Date  policy.Date
	Class string
}

// row is one row of a timeline chart.
type row struct {
	Y     float64
	Label string
	// Mech and State (an i18n key) say what the row is, under its label.
	Mech  policy.Mechanism
	State string
	Spans []span
	Marks []mark
}

// timeAxis maps days between From and To onto the chart's width.
type timeAxis struct {
	From, To    policy.Date
	Left, Right float64
}

func (a timeAxis) x(d policy.Date) float64 {
	days := float64(max(a.To.DaysSince(a.From), 1))
	return a.Left + (a.Right-a.Left)*float64(d.DaysSince(a.From))/days
}

func (a timeAxis) span(from, to policy.Date, class string) span {
	if from.Before(a.From) {
		from = a.From
	}
	if to.After(a.To) {
		to = a.To
	}
	return span{X: a.x(from), W: max(a.x(to)-a.x(from), 2), Class: class, From: from, To: to}
}

// ticks are the first days of the quarters (or years, over a long range)
// of the axis.
func (a timeAxis) ticks() []tick {
	// A label takes about 64 units: as many months between ticks as
	// keep them apart.
	span := float64(a.To.DaysSince(a.From)) / 30.4
	fit := max((a.Right-a.Left)/64, 1)
	months := 1
	for _, m := range []int{1, 2, 3, 6, 12, 24} {
		months = m
		if span/float64(m) <= fit {
			break
		}
	}
	var out []tick
	m := policy.Date{Year: a.From.Year, Month: a.From.Month, Day: 1}
	for m.Before(a.From) || (int(m.Month)-1)%months != 0 {
		m = dossier.AddMonths(m, 1)
		m.Day = 1
	}
	for ; !a.To.Before(m); m = dossier.AddMonths(m, months) {
		out = append(out, tick{Pos: a.x(m), Label: m.String()[:7]})
	}
	return out
}

// timelineChart is the approvals and start-by windows of an entity.
type timelineChart struct {
	W, H   int
	Axis   timeAxis
	Rows   []row
	Ticks  []tick
	TodayX float64
	Bottom float64
}

// newTimelineChart lays out the approvals (validity, filing and
// re-application deadlines) and the start-by windows of d.
func newTimelineChart(d *dossier.Dossier) timelineChart {
	today := d.Today
	from, to := today.AddDays(-90), today.AddDays(365)
	validFrom := map[string]policy.Date{}
	for _, e := range d.Timeline {
		if e.Kind == dossier.EventValidFrom {
			validFrom[e.Reference] = e.Date
		}
		if e.Date.Before(from) {
			from = e.Date
		}
		if e.Date.After(to) {
			to = e.Date
		}
	}
	from, to = from.AddDays(-15), to.AddDays(15)
	a := timeAxis{From: from, To: to, Left: labelW, Right: chartW - padRight}
	t := timelineChart{W: chartW, Axis: a, Ticks: a.ticks(), TodayX: a.x(today)}
	y := float64(padTop)
	for _, ap := range d.Status.Approvals {
		r := row{Y: y, Label: ap.Reference, Mech: ap.Mechanism, State: "status." + string(ap.Status)}
		start, known := validFrom[ap.Reference]
		if !known {
			start = from
		}
		class := "validity"
		switch {
		case ap.Status != policy.Approved:
			class += " pending"
		case ap.ValidUntil != nil && ap.ValidUntil.Before(today):
			class += " expired"
		}
		end := to
		if ap.ValidUntil != nil {
			end = *ap.ValidUntil
		}
		r.Spans = append(r.Spans, a.span(start, end, class))
		for _, m := range []struct {
			kind string
			d    *policy.Date
		}{{dossier.EventFiledOn, ap.FiledOn}, {dossier.EventFilingDue, ap.FilingDue}, {dossier.EventReapplyBy, ap.ReapplyBy}, {dossier.EventValidUntil, ap.ValidUntil}} {
			if m.d != nil {
				cl := "marker"
				if m.kind == dossier.EventReapplyBy && m.d.Before(today) {
					cl += " late"
				}
				r.Marks = append(r.Marks, mark{X: a.x(*m.d), Kind: m.kind, Date: *m.d, Class: cl})
			}
		}
		t.Rows = append(t.Rows, r)
		y += rowH + 8
	}
	for _, sb := range d.StartBy {
		r := row{Y: y, Label: sb.Rule, Mech: sb.Mechanism, State: "state." + sb.State}
		r.Spans = append(r.Spans, a.span(sb.Earliest, sb.Latest, "startby"))
		cl := "marker"
		if sb.State == dossier.StartLate {
			cl += " late"
		}
		r.Marks = append(r.Marks,
			mark{X: a.x(sb.Earliest), Kind: dossier.EventStartByEarliest, Date: sb.Earliest, Class: "marker"},
			mark{X: a.x(sb.Latest), Kind: dossier.EventStartByLatest, Date: sb.Latest, Class: cl},
			mark{X: a.x(sb.Crossing), Kind: dossier.EventForecastCrossing, Date: sb.Crossing, Class: "marker late"})
		t.Rows = append(t.Rows, r)
		y += rowH + 8
	}
	t.Bottom = y
	t.H = int(y) + padBot
	return t
}

// planChart is the steps of a plan on a time line.
type planChart struct {
	W, H      int
	Rows      []row
	Ticks     []tick
	TodayX    float64
	DeadlineX float64
	Deadline  bool
	Bottom    float64
}

// newPlanChart lays out the steps of p: each from its earliest start to
// its earliest end (solid) and on to its latest end (light).
func newPlanChart(p dossier.Plan, today policy.Date) planChart {
	from, to := p.Start, p.DecidedLatest
	if today.Before(from) {
		from = today
	}
	if p.Deadline != nil && p.Deadline.After(to) {
		to = *p.Deadline
	}
	a := timeAxis{From: from.AddDays(-10), To: to.AddDays(20), Left: labelW, Right: chartW - padRight}
	c := planChart{W: chartW, Ticks: a.ticks(), TodayX: a.x(today)}
	if p.Deadline != nil {
		c.Deadline, c.DeadlineX = true, a.x(*p.Deadline)
	}
	y := float64(padTop)
	for _, s := range p.Steps {
		r := row{Y: y, Label: "step." + s.Key}
		r.Spans = append(r.Spans, a.span(s.From, s.DoneEarliest, "step"), a.span(s.DoneEarliest, s.DoneLatest, "step late"))
		c.Rows = append(c.Rows, r)
		y += rowH + 6
	}
	c.Bottom = y
	c.H = int(y) + padBot
	return c
}

// counterKey names a counter of a window, for the page's data attributes.
func counterKey(k sketch.Counter, w sketch.Window) string { return string(k) + "/" + string(w) }
