package policy

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"time"

	"github.com/transferwatch/transferwatch/internal/sketch"
)

// Settings is the policy section of the configuration.
type Settings struct {
	Preset Preset
	// Levels are the fractions of a threshold for notice, warning and
	// critical; the zero Levels means DefaultLevels.
	Levels Levels
	// UsePoint holds the point estimate against thresholds
	// (policy.estimate: point) instead of the upper bound.
	UsePoint bool
	// RenewalLeadDays: warn this many days before a covering approval
	// expires. 0 disables the warning.
	RenewalLeadDays int
	// ForecastLeadDays: warn when a rule not covered is forecast to be
	// crossed within this many days. 0 disables the warning.
	ForecastLeadDays int
	// Location is the calendar of the windows, of "today" and of the
	// timestamps of a Status; nil means UTC.
	Location *time.Location
}

// Sentinel errors of Settings.Validate.
var (
	ErrNoRules       = errors.New("policy: preset has no rules")
	ErrLeadDays      = errors.New("policy: lead days must not be negative")
	ErrNoLocation    = errors.New("policy: no location")
	ErrInvalidPreset = errors.New("policy: invalid preset rule")
)

// Validate returns every problem of the settings, joined.
func (s Settings) Validate() error {
	var errs []error
	if len(s.Preset.Rules) == 0 {
		errs = append(errs, fmt.Errorf("%w: %q", ErrNoRules, s.Preset.Name))
	}
	for _, r := range s.Preset.Rules {
		if r.Threshold == 0 || !r.Mechanism.Valid() {
			errs = append(errs, fmt.Errorf("%w %q: threshold %d, mechanism %q", ErrInvalidPreset, r.ID, r.Threshold, r.Mechanism))
		}
	}
	if s.Levels != (Levels{}) {
		if err := s.Levels.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.RenewalLeadDays < 0 {
		errs = append(errs, fmt.Errorf("%w: renewal_lead_days=%d", ErrLeadDays, s.RenewalLeadDays))
	}
	if s.ForecastLeadDays < 0 {
		errs = append(errs, fmt.Errorf("%w: forecast_lead_days=%d", ErrLeadDays, s.ForecastLeadDays))
	}
	if s.Location == nil {
		errs = append(errs, ErrNoLocation)
	}
	return errors.Join(errs...)
}

func (s Settings) location() *time.Location {
	if s.Location == nil {
		return time.UTC
	}
	return s.Location
}

// Observation is what the store knows of one entity, read with the
// preset's IncludeExempt. Missing entries read as zero, so the zero
// Observation is an entity never seen.
type Observation struct {
	// Figures are the distinct-people counts of each window and counter.
	Figures map[sketch.Window]map[sketch.Counter]sketch.Figure
	// Important reports whether any important-data event lies in the window.
	Important map[sketch.Window]bool
	// Series are the daily point estimates of each window's count by event
	// day: Series[w][c][i] is the count of window w at the end of day i,
	// where day 0 is the window's first day (1 January of last year for
	// since_prev_jan1) and day i is that day plus i days; the last index is
	// today. It may be shorter or empty; it feeds Forecast.
	Series map[sketch.Window]map[sketch.Counter][]float64
}

// Status is the state of one entity: its EntityStatus (CONTRACT §6).
type Status struct {
	Entity            string           `json:"entity"`
	Name              string           `json:"name"`
	CIIO              bool             `json:"ciio"`
	Policy            string           `json:"policy"`
	Decision          Decision         `json:"decision"`
	RequiredMechanism Mechanism        `json:"required_mechanism"`
	Reasons           []string         `json:"reasons"`
	Counters          []CounterReport  `json:"counters"`
	Rules             []RuleReport     `json:"rules"`
	Approvals         []ApprovalReport `json:"approvals"`
	// UpdatedAt is the evaluation time in Settings.Location, whole seconds.
	UpdatedAt time.Time `json:"updated_at"`
}

// CounterReport is one counter of one window.
type CounterReport struct {
	Counter     sketch.Counter `json:"counter"`
	Window      sketch.Window  `json:"window"`
	WindowStart Date           `json:"window_start"`
	Estimate    uint64         `json:"estimate"`
	UpperBound  uint64         `json:"upper_bound"`
}

// RuleReport is one rule of the preset held against the entity.
type RuleReport struct {
	ID         string         `json:"id"`
	Counter    sketch.Counter `json:"counter"`
	Window     sketch.Window  `json:"window"`
	Threshold  uint64         `json:"threshold"`
	Estimate   uint64         `json:"estimate"`
	UpperBound uint64         `json:"upper_bound"`
	// Ratio is the figure held divided by the threshold, rounded down to
	// three decimals (so it is ≥ 1 exactly when the rule is breached); 0
	// for the ciio rule of an entity that is not a CIIO.
	Ratio     float64   `json:"ratio"`
	Level     Level     `json:"level"`
	Mechanism Mechanism `json:"mechanism"`
	// Covered: an approval covers the rule today, whatever its level.
	Covered bool `json:"covered"`
	// ForecastCrossing is the day the rule is forecast to be reached, or
	// nil; see Forecast.
	ForecastCrossing *Date `json:"forecast_crossing"`
	// ForecastDays is the number of days until ForecastCrossing (0 when
	// nil), for the transferwatch_rule_forecast_days metric.
	ForecastDays int `json:"-"`
}

// ApprovalReport is one approval of the entity.
type ApprovalReport struct {
	Mechanism Mechanism     `json:"mechanism"`
	Status    ApprovalState `json:"status"`
	Reference string        `json:"reference"`
	// ValidUntil is nil (null) for an approval without an end date, as a
	// pending one may be.
	ValidUntil *Date `json:"valid_until"`
	// DaysLeft is the whole days from today to ValidUntil, negative once
	// it has passed; nil when ValidUntil is.
	DaysLeft *int `json:"days_left"`
}

// severity orders reasons: what blocks first, then what warns, then
// information.
type severity int

const (
	sevBreach   severity = iota // uncovered breached rule: block
	sevCritical                 // uncovered rule at critical: warn
	sevWarning                  // uncovered rule at warning: warn
	sevRenewal                  // covering approval expiring: warn
	sevForecast                 // uncovered rule forecast to cross: warn
	sevCovered                  // covered rule at warning or above: information
	sevNotice                   // rule at notice, covered or not: information
)

type reason struct {
	sev  severity
	days int // orders reasons of equal severity, then the order they were made
	text string
}

// Evaluate holds the observation of entity e against the settings at time
// now and decides. It never fails: missing figures count as zero.
func Evaluate(s Settings, e Entity, obs Observation, now time.Time) Status {
	loc := s.location()
	now = now.In(loc).Truncate(time.Second)
	today := DateOf(now)
	lastDay := Date{Year: today.Year, Month: time.December, Day: 31}
	levels := s.Levels.orDefault()

	st := Status{
		Entity:            e.ID,
		Name:              e.Name,
		CIIO:              e.CIIO,
		Policy:            s.Preset.Name,
		Decision:          Allow,
		RequiredMechanism: MechanismNone,
		Reasons:           []string{},
		Counters:          make([]CounterReport, 0, len(sketch.Counters)*len(sketch.Windows)),
		Rules:             make([]RuleReport, 0, len(s.Preset.Rules)),
		Approvals:         make([]ApprovalReport, 0, len(e.Approvals)),
		UpdatedAt:         now,
	}
	for _, c := range sketch.Counters {
		for _, w := range sketch.Windows {
			f := obs.Figures[w][c]
			st.Counters = append(st.Counters, CounterReport{
				Counter:     c,
				Window:      w,
				WindowStart: DateOf(w.Start(today.Year, loc)),
				Estimate:    f.Estimate,
				UpperBound:  max(f.UpperBound, f.Estimate),
			})
		}
	}

	var reasons []reason
	for _, r := range s.Preset.Rules {
		rep, rs := evaluateRule(s, levels, r, e, obs, today, lastDay, loc)
		st.Rules = append(st.Rules, rep)
		reasons = append(reasons, rs...)
		if rep.Level == LevelBreached && r.Mechanism.Strength() > st.RequiredMechanism.Strength() {
			st.RequiredMechanism = r.Mechanism
		}
	}

	// Approvals, and renewals of those that cover a rule of the preset.
	renewing := map[int]bool{}
	for i, a := range e.Approvals {
		rep := ApprovalReport{Mechanism: a.Mechanism, Status: a.Status, Reference: a.Reference}
		if !a.ValidUntil.IsZero() {
			until, left := a.Until(), a.DaysLeft(today)
			rep.ValidUntil, rep.DaysLeft = &until, &left
		}
		st.Approvals = append(st.Approvals, rep)
		if !slices.ContainsFunc(s.Preset.Rules, func(r Rule) bool { return a.Covers(r, today) }) {
			continue
		}
		end := coverEnd(e.Approvals, i)
		last := e.Approvals[end]
		if left := last.DaysLeft(today); left <= s.RenewalLeadDays && !renewing[end] {
			renewing[end] = true
			reasons = append(reasons, reason{sev: sevRenewal, days: left, text: fmt.Sprintf(
				"approval %s expires %s, in %s", last.label(), last.Until(), plural(left, "day", "days"))})
		}
	}

	slices.SortStableFunc(reasons, func(a, b reason) int {
		if a.sev != b.sev {
			return int(a.sev) - int(b.sev)
		}
		return a.days - b.days
	})
	for _, r := range reasons {
		switch {
		case r.sev == sevBreach:
			st.Decision = st.Decision.atLeast(Block)
		case r.sev <= sevForecast:
			st.Decision = st.Decision.atLeast(Warn)
		}
		st.Reasons = append(st.Reasons, r.text)
	}
	return st
}

// evaluateRule holds one rule against the entity and returns its report and
// the reasons it gives.
func evaluateRule(s Settings, levels Levels, r Rule, e Entity, obs Observation, today, lastDay Date, loc *time.Location) (RuleReport, []reason) {
	start := DateOf(r.Window.Start(today.Year, loc))
	rep := RuleReport{
		ID:        r.ID,
		Counter:   r.Counter,
		Window:    r.Window,
		Threshold: r.Threshold,
		Level:     LevelOK,
		Mechanism: r.Mechanism,
	}
	if r.ImportantData {
		if obs.Important[r.Window] {
			rep.Estimate, rep.UpperBound = 1, 1
		}
	} else {
		f := obs.Figures[r.Window][r.Counter]
		rep.Estimate, rep.UpperBound = f.Estimate, max(f.UpperBound, f.Estimate)
	}
	held := rep.UpperBound
	if s.UsePoint || rep.Estimate == 0 {
		// An estimate of 0 is an empty sketch, which is exact: no error
		// bound can put anyone in it.
		held = rep.Estimate
	}
	applies := !r.CIIOOnly || e.CIIO
	if applies {
		rep.Level = levels.Of(held, r.Threshold)
		rep.Ratio = ratio(held, r.Threshold)
	}
	cover := -1
	for i, a := range e.Approvals {
		if a.Covers(r, today) && (cover < 0 || a.Until().After(e.Approvals[cover].Until())) {
			cover = i
		}
	}
	rep.Covered = cover >= 0

	var rs []reason
	if rep.Level != LevelOK {
		text := levelText(r, rep, held, s.UsePoint, start)
		sev := sevNotice
		switch {
		case rep.Covered && rep.Level != LevelNotice:
			sev = sevCovered
			text += ", covered by " + e.Approvals[cover].label()
		case rep.Level == LevelBreached:
			sev = sevBreach
		case rep.Level == LevelCritical:
			sev = sevCritical
		case rep.Level == LevelWarning:
			sev = sevWarning
		case rep.Covered:
			text += ", covered by " + e.Approvals[cover].label()
		}
		rs = append(rs, reason{sev: sev, text: text})
	}

	if applies && !r.ImportantData && !r.Binary() && rep.Level != LevelBreached {
		series := obs.Series[r.Window][r.Counter]
		if d, ok := Forecast(series, start, today, lastDay, held, r.Threshold); ok {
			rep.ForecastCrossing = &d
			rep.ForecastDays = d.DaysSince(today)
			if !rep.Covered && rep.ForecastDays <= s.ForecastLeadDays {
				rs = append(rs, reason{sev: sevForecast, days: rep.ForecastDays, text: fmt.Sprintf(
					"%s forecast to cross %d on %s (%s)", r.ID, r.Threshold, d, plural(rep.ForecastDays, "day", "days"))})
			}
		}
	}
	return rep, rs
}

// levelText describes a rule at a level above ok.
func levelText(r Rule, rep RuleReport, held uint64, usePoint bool, start Date) string {
	var text string
	switch {
	case r.ImportantData:
		text = fmt.Sprintf("%s breached: important data transferred since %s", r.ID, start)
	case r.CIIOOnly && rep.Level == LevelBreached:
		text = fmt.Sprintf("%s breached: critical information infrastructure operator transferred personal information of %s since %s",
			r.ID, plural(int(min(held, 1<<62)), "person", "people"), start)
	case rep.Level == LevelBreached:
		text = fmt.Sprintf("%s breached: %d >= %d since %s", r.ID, held, r.Threshold, start)
	default:
		text = fmt.Sprintf("%s at %s: %d of %d (%s) since %s", r.ID, rep.Level, held, r.Threshold, percent(held, r.Threshold), start)
	}
	if !r.ImportantData && !usePoint && held != rep.Estimate {
		text += fmt.Sprintf(" (upper bound; estimate %d)", rep.Estimate)
	}
	return text
}

// permille returns figure/threshold in thousandths, rounded down, and
// false if that does not fit 64 bits.
func permille(figure, threshold uint64) (uint64, bool) {
	threshold = max(threshold, 1)
	hi, lo := bits.Mul64(figure, 1000)
	if hi >= threshold {
		return 0, false
	}
	q, _ := bits.Div64(hi, lo, threshold)
	return q, true
}

// ratio returns figure/threshold rounded down to three decimals.
func ratio(figure, threshold uint64) float64 {
	if q, ok := permille(figure, threshold); ok {
		return float64(q) / 1000
	}
	return float64(figure) / float64(max(threshold, 1))
}

// percent formats figure/threshold as a percentage rounded down to one
// decimal, so 99.99% reads 99.9% and not 100.0%.
func percent(figure, threshold uint64) string {
	q, ok := permille(figure, threshold)
	if !ok {
		return fmt.Sprintf("%.1f%%", 100*float64(figure)/float64(max(threshold, 1)))
	}
	return fmt.Sprintf("%d.%d%%", q/10, q%10)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
