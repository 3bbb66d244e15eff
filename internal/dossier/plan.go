package dossier

import (
	"slices"
	"time"

	"github.com/transferwatch/transferwatch/internal/policy"
)

// The span of an application in practice, from the first preparation to
// the decision: 6 to 18 months (the seed's figures for the CAC security
// assessment). An application should start at the latest 18 months before
// the crossing it answers, so that even the slowest one is decided in
// time, and must start at the latest 6 months before it.
const (
	LeadMonthsMax = 18
	LeadMonthsMin = 6
)

// StartBy is the window in which to start an application for a rule
// forecast to cross: from Earliest (the crossing minus 18 months: even the
// slowest application is decided by the crossing) to Latest (minus 6
// months: only the fastest one is).
type StartBy struct {
	Rule      string           `json:"rule"`
	Mechanism policy.Mechanism `json:"mechanism"`
	Threshold uint64           `json:"threshold"`
	Crossing  policy.Date      `json:"crossing"`
	Earliest  policy.Date      `json:"earliest"`
	Latest    policy.Date      `json:"latest"`
	// State is "ahead" (before Earliest), "open" (between the two, both
	// included) or "late" (after Latest: only a fast application is
	// decided before the crossing).
	State string `json:"state"`
}

// StartBy states.
const (
	StartAhead = "ahead"
	StartOpen  = "open"
	StartLate  = "late"
)

// AddMonths returns the day n months after d (before it when n < 0); a day
// past the end of the target month becomes its last day (31 August minus 6
// months is 28 or 29 February), which is the earlier reading, so a start-by
// date is never late.
func AddMonths(d policy.Date, n int) policy.Date {
	first := time.Date(d.Year, d.Month, 1, 0, 0, 0, 0, time.UTC).AddDate(0, n, 0)
	lastDay := first.AddDate(0, 1, -1).Day()
	return policy.Date{Year: first.Year(), Month: first.Month(), Day: min(d.Day, lastDay)}
}

// StartByDates returns the start-by window of every rule of st forecast to
// cross that is not covered and requires a mechanism, earliest crossing
// first.
func StartByDates(st policy.Status, today policy.Date) []StartBy {
	out := []StartBy{}
	for _, r := range st.Rules {
		if r.ForecastCrossing == nil || r.Covered || !r.Mechanism.Valid() {
			continue
		}
		c := *r.ForecastCrossing
		sb := StartBy{Rule: r.ID, Mechanism: r.Mechanism, Threshold: r.Threshold, Crossing: c,
			Earliest: AddMonths(c, -LeadMonthsMax), Latest: AddMonths(c, -LeadMonthsMin)}
		switch {
		case today.Before(sb.Earliest):
			sb.State = StartAhead
		case today.After(sb.Latest):
			sb.State = StartLate
		default:
			sb.State = StartOpen
		}
		out = append(out, sb)
	}
	slices.SortStableFunc(out, func(a, b StartBy) int { return a.Crossing.DaysSince(b.Crossing) })
	return out
}

// Plan is one application the entity needs or will need, or the renewal of
// one of its security assessments, as dated steps.
type Plan struct {
	// Kind is "application" or "renewal".
	Kind      string           `json:"kind"`
	Mechanism policy.Mechanism `json:"mechanism"`
	// Rules are the rules that need it (an application).
	Rules []string `json:"rules"`
	// Renews is the reference of the approval renewed (a renewal).
	Renews string `json:"renews,omitempty"`
	// Start is the day the plan starts: today when the application is
	// needed now or its start-by window has opened, else the earliest
	// start-by date (for a renewal, 18 months before expiry). StartBasis
	// says which: "now", "start_by" or "expiry".
	Start      policy.Date `json:"start"`
	StartBasis string      `json:"start_basis"`
	// Deadline is the last day to start: the latest start-by date of an
	// application forecast, the re-application deadline of a renewal; nil
	// when the need is now.
	Deadline *policy.Date `json:"deadline"`
	Steps    []Step       `json:"steps"`
	// DecidedEarliest and DecidedLatest bound the day of the decision,
	// when every step takes its shortest and its longest time.
	DecidedEarliest policy.Date `json:"decided_earliest"`
	DecidedLatest   policy.Date `json:"decided_latest"`
	// ValidityYears is the legal term of the approval (0: none, as for a
	// standard contract), ValidityBasis its provision.
	ValidityYears int    `json:"validity_years"`
	ValidityBasis string `json:"validity_basis,omitempty"`
	// ReapplyBy is the re-application deadline of a security assessment
	// decided on DecidedLatest and valid the legal term (60 working days
	// before it expires); nil otherwise.
	ReapplyBy *policy.Date `json:"reapply_by"`
}

// Plan kinds and start bases.
const (
	KindApplication = "application"
	KindRenewal     = "renewal"
	BasisNow        = "now"
	BasisStartBy    = "start_by"
	BasisExpiry     = "expiry"
)

// Step is one step of a plan. Its label is the i18n key "step.<Key>".
type Step struct {
	Key string `json:"key"`
	// From is the earliest day the step starts; DoneEarliest and DoneLatest
	// bound the day it ends, each step taking MinDays to MaxDays in
	// practice after the previous one.
	From         policy.Date `json:"from"`
	DoneEarliest policy.Date `json:"done_earliest"`
	DoneLatest   policy.Date `json:"done_latest"`
	MinDays      int         `json:"min_days"`
	MaxDays      int         `json:"max_days"`
	// Statutory is the legal time limit of the step, if any, and Basis
	// its provision.
	Statutory string `json:"statutory,omitempty"`
	Basis     string `json:"basis,omitempty"`
}

// stepSpec is a step of a process: its key, the days it takes in practice
// and its legal limit.
type stepSpec struct {
	key              string
	minDays, maxDays int
	statutory, basis string
}

// process returns the steps of an application under mechanism m. The
// security assessment follows the 2022 Measures (the procedure the 2024
// Provisions keep): 6 to 18 months in all, as the seed says.
func process(m policy.Mechanism) []stepSpec {
	switch m {
	case policy.SecurityAssessment:
		return []stepSpec{
			{"preparation", 90, 180, "", "2022 Measures Arts. 5–6 (self-assessment, declaration materials)"},
			{"provincial_review", 30, 90, "5 working days (completeness check)", "2022 Measures Art. 7"},
			{"national_assessment", 60, 240, "7 working days to accept, then 45 working days, extendable", "2022 Measures Arts. 8, 12"},
			{"decision", 0, 30, "written notice of the result", "2022 Measures Art. 13"},
		}
	case policy.StandardContract:
		return []stepSpec{
			{"preparation", 30, 120, "", "Standard Contract Measures Art. 5 (PIPIA)"},
			{"contract_signed", 0, 30, "", "Standard Contract Measures Art. 6"},
			{"filing", 0, 14, "10 working days after the contract takes effect", "Standard Contract Measures Art. 7"},
		}
	case policy.Certification:
		return []stepSpec{
			{"preparation", 60, 180, "", "PIPL Art. 38(2)"},
			{"certification_audit", 60, 180, "", "Certification Implementation Rules (2022)"},
			{"decision", 0, 30, "", "Certification Implementation Rules (2022)"},
		}
	}
	return nil
}

// NewPlan lays out the process of mechanism m from start.
func NewPlan(kind string, m policy.Mechanism, preset string, start policy.Date) Plan {
	p := Plan{Kind: kind, Mechanism: m, Rules: []string{}, Start: start, Steps: []Step{}}
	lo, hi := start, start
	for _, s := range process(m) {
		st := Step{Key: s.key, From: lo, MinDays: s.minDays, MaxDays: s.maxDays, Statutory: s.statutory, Basis: s.basis}
		lo, hi = lo.AddDays(s.minDays), hi.AddDays(s.maxDays)
		st.DoneEarliest, st.DoneLatest = lo, hi
		p.Steps = append(p.Steps, st)
	}
	p.DecidedEarliest, p.DecidedLatest = lo, hi
	if years, ok := policy.LegalTerm(preset, m); ok {
		p.ValidityYears, p.ValidityBasis = years, policy.LegalTermBasis(preset, m)
		if m == policy.SecurityAssessment {
			until := AddMonths(hi, 12*years)
			by, _ := policy.ReapplyBy(until)
			p.ReapplyBy = &by
		}
	}
	return p
}

// NewPlans returns the plans of the entity of st: per mechanism required
// by a rule that is breached or forecast to cross and not covered, an
// application (none for a weaker mechanism when a stronger one starts no
// later: a security assessment satisfies what a standard contract does);
// and per approved security assessment still valid without a successor
// applied for, its renewal.
func NewPlans(preset string, st policy.Status, startBy []StartBy, today policy.Date) []Plan {
	type need struct {
		start   policy.Date
		basis   string
		latest  *policy.Date
		rules   []string
		reached bool
	}
	needs := map[policy.Mechanism]*need{}
	add := func(m policy.Mechanism, rule string, start policy.Date, basis string, latest *policy.Date) {
		n := needs[m]
		if n == nil {
			n = &need{start: start, basis: basis, latest: latest}
			needs[m] = n
		}
		if start.Before(n.start) {
			n.start, n.basis = start, basis
		}
		if latest == nil || n.latest != nil && latest.Before(*n.latest) {
			n.latest = latest
		}
		if !slices.Contains(n.rules, rule) {
			n.rules = append(n.rules, rule)
		}
	}
	for _, r := range st.Rules {
		if r.Level == policy.LevelBreached && !r.Covered && r.Mechanism.Valid() {
			add(r.Mechanism, r.ID, today, BasisNow, nil)
		}
	}
	for _, sb := range startBy {
		start, basis := sb.Earliest, BasisStartBy
		if !today.Before(start) {
			start, basis = today, BasisNow
		}
		latest := sb.Latest
		add(sb.Mechanism, sb.Rule, start, basis, &latest)
	}
	plans := []Plan{}
	for _, m := range []policy.Mechanism{policy.SecurityAssessment, policy.Certification, policy.StandardContract} {
		n := needs[m]
		if n == nil {
			continue
		}
		if m != policy.SecurityAssessment {
			if sa := needs[policy.SecurityAssessment]; sa != nil && !n.start.Before(sa.start) {
				continue
			}
			if m == policy.StandardContract && needs[policy.Certification] != nil {
				continue
			}
		}
		p := NewPlan(KindApplication, m, preset, n.start)
		p.StartBasis, p.Deadline, p.Rules = n.basis, n.latest, n.rules
		plans = append(plans, p)
	}
	for i, a := range st.Approvals {
		if a.Mechanism != policy.SecurityAssessment || a.Status != policy.Approved || a.ValidUntil == nil || !a.ValidUntil.After(today) {
			continue
		}
		if successor(st.Approvals, i) {
			continue
		}
		start, basis := AddMonths(*a.ValidUntil, -LeadMonthsMax), BasisExpiry
		if !today.Before(start) {
			start, basis = today, BasisNow
		}
		p := NewPlan(KindRenewal, a.Mechanism, preset, start)
		p.StartBasis, p.Renews = basis, a.Reference
		p.Deadline = a.ReapplyBy
		plans = append(plans, p)
	}
	return plans
}

// successor reports whether another security assessment is pending, or
// approved and valid beyond approval i.
func successor(as []policy.ApprovalReport, i int) bool {
	for j, b := range as {
		if j == i || b.Mechanism != policy.SecurityAssessment {
			continue
		}
		if b.Status == policy.Pending || b.Status == policy.Approved && b.ValidUntil != nil && b.ValidUntil.After(*as[i].ValidUntil) {
			return true
		}
	}
	return false
}
