package policy

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/pkg/event"
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
	// expires, or before a covering security assessment's re-application
	// deadline. 0 disables the warning (not the one past the deadline).
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
		bad := false
		switch {
		case r.Advisory:
			bad = r.Mechanism != MechanismNone && r.Mechanism != ""
		default:
			bad = !r.Mechanism.Valid()
		}
		// Only a CIIO rule is breached from the start, and only the
		// headcount rule takes its threshold from the entity.
		if r.Threshold == 0 && !r.CIIOOnly && r.Exemption == "" {
			bad = true
		}
		if bad {
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

// Observation is what the store knows of one entity. Missing entries read
// as zero, so the zero Observation is an entity never seen. Observe builds
// it from today's store; its fields are the contract with any other
// reader.
type Observation struct {
	// Figures are the distinct-people counts of each window and counter,
	// over the events that count for the entity: those without an
	// exemption and those whose exemption it may not rely on (see
	// Settings.Counting and ExemptFigures.Counted).
	Figures map[sketch.Window]map[sketch.Counter]sketch.Figure
	// Important reports whether any event carrying important data lies in
	// the window, whatever its exemption: no exemption of the 2024
	// Provisions (Arts. 3–6) covers important data.
	Important map[sketch.Window]bool
	// Exempt describes the exempt transfers of each window; a missing
	// window has none.
	Exempt map[sketch.Window]ExemptFigures
	// Series are the daily point estimates of each window's count by event
	// day, over the same events as Figures: Series[w][c][i] is the count of
	// window w at the end of day i, where day 0 is the window's first day
	// (1 January of last year for since_prev_jan1) and day i is that day
	// plus i days; the last index is today. It may be shorter or empty; it
	// feeds Forecast.
	Series map[sketch.Window]map[sketch.Counter][]float64
	// Flows are the entity's data flows of each window, over the same
	// transfers as Figures (see ObserveFlows).
	Flows map[sketch.Window][]FlowFigure
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
	// FlowsTotal is the number of the entity's flows in the preset's
	// window; FlowsOutsideScope those outside the scope of every approval
	// covering a breached rule that counts them.
	FlowsTotal        int `json:"flows_total"`
	FlowsOutsideScope int `json:"flows_outside_scope"`
	// Flows are the flows of the preset's window (GET .../flows).
	Flows []FlowReport `json:"-"`
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
	ID      string         `json:"id"`
	Counter sketch.Counter `json:"counter"`
	Window  sketch.Window  `json:"window"`
	// Threshold is the rule's threshold: 0 for a CIIO's ciio rule (breached
	// from the start), the entity's headcount for hr-exemption (0:
	// unknown).
	Threshold  uint64 `json:"threshold"`
	Estimate   uint64 `json:"estimate"`
	UpperBound uint64 `json:"upper_bound"`
	// Ratio is the figure held divided by the threshold, rounded down to
	// three decimals (so it is ≥ 1 when the rule is breached, and below 1
	// otherwise except for processed-1m while nothing was transferred); 1
	// for a rule breached from the start with nobody yet; 0 for the ciio
	// rule of an entity that is not a CIIO and for hr-exemption with an
	// unknown headcount.
	Ratio float64 `json:"ratio"`
	Level Level   `json:"level"`
	// Mechanism is what the rule requires; "none" for an advisory rule.
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
	// pending one may be. It is the end of the legal term when the
	// configured date lies beyond it.
	ValidUntil *Date `json:"valid_until"`
	// DaysLeft is the whole days from today to ValidUntil, negative once
	// it has passed; nil when ValidUntil is.
	DaysLeft *int `json:"days_left"`
	// FiledOn is the day a standard contract was filed with the provincial
	// CAC; nil when not filed, and for other mechanisms.
	FiledOn *Date `json:"filed_on"`
	// FilingDue is the last day to file an approved standard contract (10
	// working days after it takes effect); nil for other approvals.
	FilingDue *Date `json:"filing_due"`
	// ReapplyBy is the last day to apply again for an approved security
	// assessment (60 working days before it expires); nil for other
	// approvals.
	ReapplyBy *Date `json:"reapply_by"`
	// Scope is what the approval covers; nil (null): every flow.
	Scope *ScopeReport `json:"scope"`
}

// severity orders reasons: what blocks first, then what warns, then
// information.
type severity int

const (
	sevBreach    severity = iota // uncovered breached rule: block
	sevCritical                  // uncovered rule at critical: warn
	sevWarning                   // uncovered rule at warning, advisory rule breached: warn
	sevApproval                  // approval not filed, beyond its legal term, re-application overdue: warn
	sevRenewal                   // covering approval expiring, re-application due: warn
	sevForecast                  // uncovered rule forecast to cross: warn
	sevExemption                 // exemptions not applied: information
	sevCovered                   // covered rule at warning or above: information
	sevNotice                    // rule at notice, covered or not: information
)

type reason struct {
	sev  severity
	days int // orders reasons of equal severity, then the order they were made
	text string
}

// evaluation is the state of one evaluation.
type evaluation struct {
	s       Settings
	levels  Levels
	e       Entity
	obs     Observation
	today   Date
	lastDay Date
	loc     *time.Location
	views   []view
	reasons []reason
}

// Evaluate holds the observation of entity e against the settings at time
// now and decides. It never fails: missing figures count as zero.
func Evaluate(s Settings, e Entity, obs Observation, now time.Time) Status {
	loc := s.location()
	now = now.In(loc).Truncate(time.Second)
	today := civil.DateOf(now)
	ev := &evaluation{
		s: s, levels: s.Levels.orDefault(), e: e, obs: obs, today: today,
		lastDay: Date{Year: today.Year, Month: time.December, Day: 31}, loc: loc,
	}
	for _, a := range e.Approvals {
		ev.views = append(ev.views, viewOf(a, s.Preset.Name, today))
	}

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
				WindowStart: civil.DateOf(w.Start(today.Year, loc)),
				Estimate:    f.Estimate,
				UpperBound:  max(f.UpperBound, f.Estimate),
			})
		}
	}

	overdue := ev.approvals(&st)
	for _, r := range s.Preset.Rules {
		rep := ev.rule(r, overdue)
		st.Rules = append(st.Rules, rep)
		if rep.Level == LevelBreached && r.Mechanism.Strength() > st.RequiredMechanism.Strength() {
			st.RequiredMechanism = r.Mechanism
		}
	}
	scopeReps, outside := ev.scopeRules(st.Rules)
	for _, rep := range scopeReps {
		st.Rules = append(st.Rules, rep)
		if rep.Level == LevelBreached && rep.Mechanism.Strength() > st.RequiredMechanism.Strength() {
			st.RequiredMechanism = rep.Mechanism
		}
	}
	st.Flows = ev.flowReports(outside)
	st.FlowsTotal, st.FlowsOutsideScope = len(st.Flows), len(outside)
	ev.exemptions()

	slices.SortStableFunc(ev.reasons, func(a, b reason) int {
		if a.sev != b.sev {
			return int(a.sev) - int(b.sev)
		}
		return a.days - b.days
	})
	for _, r := range ev.reasons {
		switch {
		case r.sev == sevBreach:
			st.Decision = st.Decision.AtLeast(Block)
		case r.sev <= sevForecast:
			st.Decision = st.Decision.AtLeast(Warn)
		}
		st.Reasons = append(st.Reasons, r.text)
	}
	return st
}

func (ev *evaluation) add(sev severity, days int, text string) {
	ev.reasons = append(ev.reasons, reason{sev: sev, days: days, text: text})
}

// approvals reports the approvals, gives their reasons (filing, legal
// term, expiry, re-application) and returns the security assessments
// whose re-application is overdue with no successor applied for, by
// index, with the reason's text.
func (ev *evaluation) approvals(st *Status) map[int]Date {
	today, views := ev.today, ev.views
	overdue := map[int]Date{}
	renewing := map[int]bool{}
	for i, v := range views {
		rep := ApprovalReport{Mechanism: v.Mechanism, Status: v.Status, Reference: v.Reference, Scope: scopeReport(v.Scope)}
		if !v.ValidUntil.IsZero() {
			until, left := v.until, v.until.DaysSince(today)
			rep.ValidUntil, rep.DaysLeft = &until, &left
		}
		if filed, ok := v.Filed(); ok && v.Mechanism == StandardContract {
			rep.FiledOn = &filed
		}
		if v.filing != filingNone {
			due := v.due
			rep.FilingDue = &due
		}
		if v.Mechanism == SecurityAssessment && v.Status == Approved && !v.ValidUntil.IsZero() {
			by, _ := ReapplyBy(v.until)
			rep.ReapplyBy = &by
		}
		st.Approvals = append(st.Approvals, rep)

		// Problems of an approval that would be in force today.
		current := v.Status == Approved && !today.Before(v.From()) && today.Before(v.Until())
		if current && v.termEnd != nil {
			years, _ := LegalTerm(ev.s.Preset.Name, v.Mechanism)
			ev.add(sevApproval, 0, fmt.Sprintf("approval %s valid until %s, beyond the legal term of %d years (%s): held to expire %s",
				v.label(), v.Until(), years, LegalTermBasis(ev.s.Preset.Name, v.Mechanism), *v.termEnd))
		}
		if current {
			if text := v.filingText(); text != "" {
				ev.add(sevApproval, v.due.DaysSince(today), text)
			}
		}

		// Renewal and re-application of approvals that cover a rule.
		if !slices.ContainsFunc(ev.s.Preset.Rules, func(r Rule) bool { return v.covers(r, today) }) {
			continue
		}
		end := coverEnd(views, i)
		if renewing[end] {
			continue
		}
		renewing[end] = true
		last := views[end]
		left := last.until.DaysSince(today)
		text := fmt.Sprintf("approval %s expires %s, in %s", last.label(), last.until, plural(left, "day", "days"))
		warn := left <= ev.s.RenewalLeadDays
		if last.Mechanism == SecurityAssessment && !applied(views, end) {
			by, known := ReapplyBy(last.until)
			note := ""
			if !known {
				note = "; working days counted on weekends only beyond the published holiday schedules"
			}
			basis := measures2022 + " Art. 14"
			if ev.s.Preset.Name != PresetCAC2022 {
				basis = provisions2024 + " Art. 9"
			}
			switch daysToBy := by.DaysSince(today); {
			case daysToBy < 0:
				overdue[end] = by
				ev.add(sevApproval, left, fmt.Sprintf(
					"approval %s expires %s: re-application was due by %s (60 working days before expiry; %s%s) and no successor is approved or pending",
					last.label(), last.until, by, basis, note))
				continue
			case daysToBy <= ev.s.RenewalLeadDays:
				text += fmt.Sprintf(": re-apply by %s, in %s (60 working days before expiry; %s%s)",
					by, plural(daysToBy, "day", "days"), basis, note)
				warn = true
			}
		}
		if warn {
			ev.add(sevRenewal, left, text)
		}
	}
	return overdue
}

// rule holds one rule against the entity and returns its report.
func (ev *evaluation) rule(r Rule, overdue map[int]Date) RuleReport {
	s, obs, e, today := ev.s, ev.obs, ev.e, ev.today
	start := civil.DateOf(r.Window.Start(today.Year, ev.loc))
	rep := RuleReport{
		ID:        r.ID,
		Counter:   r.Counter,
		Window:    r.Window,
		Threshold: r.Threshold,
		Level:     LevelOK,
		Mechanism: r.Mechanism,
	}
	if r.Advisory {
		rep.Mechanism = MechanismNone
	}
	var coarse bool // hr-exemption: the figure is of every exemption
	switch {
	case r.ImportantData:
		if obs.Important[r.Window] {
			rep.Estimate, rep.UpperBound = 1, 1
		}
	case r.Exemption != "":
		// The people the counters left out under the exemption: from a
		// store that tells exemptions apart, those of the exemption; from
		// one that does not, all exempt people when the counters left them
		// out (an upper bound), none when they counted them anyway.
		ef := obs.Exempt[r.Window]
		f, ok := ef.ByExemption[r.Exemption]
		if ef.ByExemption == nil && !ef.Counted {
			f, ok, coarse = ef.All, true, ef.All.Estimate > 0
		}
		if ok {
			rep.Estimate, rep.UpperBound = f.Estimate, max(f.UpperBound, f.Estimate)
		}
		rep.Threshold = uint64(max(e.Employees, 0))
	default:
		f := obs.Figures[r.Window][r.Counter]
		rep.Estimate, rep.UpperBound = f.Estimate, max(f.UpperBound, f.Estimate)
	}
	if r.DeclaredFloor {
		rep.Estimate = max(rep.Estimate, e.ProcessedSubjects)
		rep.UpperBound = max(rep.UpperBound, e.ProcessedSubjects)
	}
	held := rep.UpperBound
	if s.UsePoint || rep.Estimate == 0 {
		// An estimate of 0 is an empty sketch, which is exact: no error
		// bound can put anyone in it.
		held = rep.Estimate
	}
	applies := !r.CIIOOnly || e.CIIO
	noTransfer := false
	if applies {
		switch {
		case r.Exemption != "" && rep.Threshold == 0:
			// Headcount unknown: any person under the exemption is as far
			// as can be told without it.
			if held > 0 {
				rep.Level = LevelWarning
			}
		default:
			rep.Level = ev.levels.Of(held, rep.Threshold)
			rep.Ratio = ratio(held, rep.Threshold)
			if rep.Level == LevelBreached {
				rep.Ratio = max(rep.Ratio, 1)
			}
		}
		if r.NeedsTransfer && rep.Level == LevelBreached && obs.Figures[r.Window][sketch.Personal].Estimate == 0 {
			rep.Level, noTransfer = LevelCritical, true
		}
	}
	cover := -1
	for i, v := range ev.views {
		if v.covers(r, today) && (cover < 0 || v.until.After(ev.views[cover].until)) {
			cover = i
		}
	}
	// Covered only when every flow the rule counts lies inside the scope
	// of an approval that covers it.
	var outOfScope string
	if cover >= 0 && !r.Advisory {
		if out := ev.outsideFlows(r); len(out) > 0 {
			cover = -1
			outOfScope = fmt.Sprintf(", not covered: %s outside the scope of its approvals (rule %s)",
				plural(len(out), "flow", "flows"), ScopeRuleID)
		}
	}
	rep.Covered = cover >= 0 && !r.Advisory

	// A covering security assessment whose re-application is overdue puts
	// a rule that needs it (at notice or above) at least at critical.
	var lapsing string
	if rep.Covered && rep.Level != LevelOK {
		if _, late := overdue[coverEnd(ev.views, cover)]; late {
			if rep.Level != LevelBreached {
				rep.Level = LevelCritical
			}
			lapsing = ", whose re-application is overdue"
		}
	}

	if rep.Level != LevelOK {
		text := levelText(r, rep, held, s.UsePoint, start, coarse, noTransfer) + outOfScope
		sev := sevNotice
		switch {
		case rep.Covered && (rep.Level != LevelNotice || lapsing != ""):
			sev = sevCovered
			text += ", covered by " + ev.views[cover].label() + lapsing
		case r.Advisory && rep.Level == LevelBreached:
			sev = sevWarning
		case rep.Level == LevelBreached:
			sev = sevBreach
		case rep.Level == LevelCritical:
			sev = sevCritical
		case rep.Level == LevelWarning:
			sev = sevWarning
		case rep.Covered:
			text += ", covered by " + ev.views[cover].label()
		}
		ev.add(sev, 0, text)
	}

	if applies && !r.ImportantData && !r.Binary() && r.Exemption == "" && rep.Level != LevelBreached && !noTransfer {
		series := obs.Series[r.Window][r.Counter]
		if d, ok := Forecast(series, start, today, ev.lastDay, held, r.Threshold); ok {
			rep.ForecastCrossing = &d
			rep.ForecastDays = d.DaysSince(today)
			if !rep.Covered && rep.ForecastDays <= s.ForecastLeadDays {
				ev.add(sevForecast, rep.ForecastDays, fmt.Sprintf(
					"%s forecast to cross %d on %s (%s)", r.ID, r.Threshold, d, plural(rep.ForecastDays, "day", "days")))
			}
		}
	}
	return rep
}

// exemptions says which exempt transfers the figures count as not exempt,
// and why (cac-2024; under cac-2022 every transfer counts).
func (ev *evaluation) exemptions() {
	if ev.s.Preset.IncludeExempt {
		return
	}
	c := ev.s.Counting(ev.e)
	seen := map[sketch.Window]bool{}
	for _, r := range ev.s.Preset.Rules {
		w := r.Window
		if seen[w] {
			continue
		}
		seen[w] = true
		ef := ev.obs.Exempt[w]
		start := civil.DateOf(w.Start(ev.today.Year, ev.loc))
		if ef.ByExemption != nil {
			if f := ef.ByExemption[event.ExemptionFTZNegativeList]; !c.Honours(event.ExemptionFTZNegativeList) && f.Estimate > 0 {
				ev.add(sevExemption, 0, fmt.Sprintf(
					"ftz_negative_list exemption not applied: the entity has no free-trade zone (ftz), so the %s of those transfers since %s count as not exempt (%s Art. 6)",
					people(f.Estimate), start, provisions2024))
			}
			if ef.TransitImportant {
				ev.add(sevExemption, 0, fmt.Sprintf(
					"transit exemption not applied to transfers carrying important data: their people count as not exempt since %s (%s Art. 4)",
					start, provisions2024))
			}
			continue
		}
		if !ef.Counted || ef.All.Estimate == 0 {
			continue
		}
		var why []string
		if !c.Honours(event.ExemptionFTZNegativeList) {
			why = append(why, fmt.Sprintf("the entity has no free-trade zone (ftz) and the store does not tell ftz_negative_list transfers from other exempt ones (%s Art. 6)", provisions2024))
		}
		if ef.Important {
			why = append(why, fmt.Sprintf("an exempt transfer carried important data and the store does not tell transit transfers, which then are not exempt, from other exempt ones (%s Art. 4)", provisions2024))
		}
		if len(why) == 0 {
			continue
		}
		ev.add(sevExemption, 0, fmt.Sprintf("exemptions not applied: %s, so the %s of exempt transfers since %s count as not exempt",
			strings.Join(why, "; "), people(ef.All.Estimate), start))
	}
}

// levelText describes a rule at a level above ok.
func levelText(r Rule, rep RuleReport, held uint64, usePoint bool, start Date, coarse, noTransfer bool) string {
	var text, tail string
	switch {
	case r.ImportantData:
		text = fmt.Sprintf("%s breached: important data transferred since %s", r.ID, start)
	case r.CIIOOnly && rep.Level == LevelBreached && held == 0:
		text = fmt.Sprintf("%s breached: a critical information infrastructure operator needs a security assessment before its first outbound transfer of personal information (%s); none since %s",
			r.ID, r.Basis, start)
	case r.CIIOOnly && rep.Level == LevelBreached:
		text = fmt.Sprintf("%s breached: critical information infrastructure operator transferred personal information of %s since %s",
			r.ID, plural(int(min(held, 1<<62)), "person", "people"), start)
	case r.Exemption != "":
		whose := fmt.Sprintf("people of %s-exempt transfers", r.Exemption)
		if coarse {
			whose = fmt.Sprintf("people of exempt transfers (the store does not tell %s from other exemptions)", r.Exemption)
		}
		switch {
		case rep.Threshold == 0:
			text = fmt.Sprintf("%s at %s: %d %s since %s and the headcount is unknown (set employees)", r.ID, rep.Level, held, whose, start)
		case rep.Level == LevelBreached:
			text = fmt.Sprintf("%s breached: %d %s >= %d employees since %s", r.ID, held, whose, rep.Threshold, start)
		default:
			text = fmt.Sprintf("%s at %s: %d %s of %d employees (%s) since %s", r.ID, rep.Level, held, whose, rep.Threshold, percent(held, rep.Threshold), start)
		}
		tail = fmt.Sprintf(": the exemption covers the entity's own employees only (%s)", r.Basis)
	case noTransfer:
		text = fmt.Sprintf("%s at %s: %d >= %d since %s", r.ID, rep.Level, held, r.Threshold, start)
		tail = fmt.Sprintf(", but nobody's personal information transferred: the first transfer needs a %s (%s)", r.Mechanism, r.Basis)
	case rep.Level == LevelBreached:
		text = fmt.Sprintf("%s breached: %d >= %d since %s", r.ID, held, r.Threshold, start)
	default:
		text = fmt.Sprintf("%s at %s: %d of %d (%s) since %s", r.ID, rep.Level, held, r.Threshold, percent(held, r.Threshold), start)
	}
	if !r.ImportantData && !usePoint && held != rep.Estimate {
		text += fmt.Sprintf(" (upper bound; estimate %d)", rep.Estimate)
	}
	return text + tail
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

func people(n uint64) string { return plural(int(min(n, 1<<62)), "person", "people") }
