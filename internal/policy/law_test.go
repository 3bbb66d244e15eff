package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// stored is a group of events of one entity on one day of 2026, as ingest
// stores them in the sketch cells.
type stored struct {
	kind      event.Kind // "" is transfer
	sensitive bool
	exemption event.Exemption
	important bool
	first     int // first person, people are first .. first+people-1
	people    int
	// nextIngest stores as StoredExempt says (transit with important data
	// not exempt); otherwise as ingest does today (any exemption exempt).
	nextIngest bool
}

// splitmix64 spreads person numbers over 64 bits, as the subject PRF does.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// history builds an entity's sketches from groups of events in 2026.
func history(groups ...stored) sketch.History {
	b := sketch.Batch{}
	for i, g := range groups {
		hashes := make([]uint64, g.people)
		for p := range hashes {
			hashes[p] = splitmix64(uint64(g.first + p))
		}
		kind := g.kind
		if kind == "" {
			kind = event.KindTransfer
		}
		exempt := g.exemption != event.ExemptionNone
		if g.nextIngest {
			exempt = StoredExempt(g.exemption, g.important)
		}
		b.Add("acme-sh", 2026, 300+i, sketch.CellOf(kind, g.sensitive, exempt), g.important, hashes)
	}
	h := sketch.History{}
	for k, y := range b {
		h[k.Year] = y
	}
	return h
}

// observe reads h as the decider does, on 2026-11-25 (day 328).
func observe(s Settings, e Entity, h sketch.History) Observation {
	return Observe(s, e, h, 2026, 328, nil)
}

// lawCase is one row of issue 11's table: the decision, a rule with its
// level, the required mechanism and a reason each checked.
type lawCase struct {
	name     string
	preset   string
	lead     int // renewal_lead_days; 0: 183
	entity   Entity
	obs      Observation
	at       time.Time // zero: now (2026-11-25)
	decision Decision
	rule     string
	level    Level
	covered  bool
	required Mechanism
	reason   string // a part of one of the reasons
}

func runLaw(t *testing.T, cases []lawCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := settingsFor(t, tc.preset)
			if tc.lead != 0 {
				s.RenewalLeadDays = tc.lead
			}
			if tc.entity.ID == "" {
				tc.entity.ID = "acme-sh"
			}
			at := tc.at
			if at.IsZero() {
				at = now
			}
			st := Evaluate(s, tc.entity, tc.obs, at)
			if st.Decision != tc.decision {
				t.Errorf("decision %s, want %s; reasons %q", st.Decision, tc.decision, st.Reasons)
			}
			if st.RequiredMechanism != tc.required {
				t.Errorf("required_mechanism %s, want %s", st.RequiredMechanism, tc.required)
			}
			r := ruleOf(t, st, tc.rule)
			if r.Level != tc.level || r.Covered != tc.covered {
				t.Errorf("rule %s at %s covered=%v, want %s covered=%v", tc.rule, r.Level, r.Covered, tc.level, tc.covered)
			}
			if !slices.ContainsFunc(st.Reasons, func(s string) bool { return strings.Contains(s, tc.reason) }) {
				t.Errorf("no reason contains %q: %q", tc.reason, st.Reasons)
			}
		})
	}
}

// TestIssue11 holds every row of issue 11's table: each case got allow
// (or exempt, or cover) before, and now gets what the law says.
func TestIssue11(t *testing.T) {
	cac22, cac24 := settingsFor(t, PresetCAC2022), settingsFor(t, PresetCAC2024)
	plain := Entity{ID: "acme-sh"}
	inFTZ := Entity{ID: "acme-sh", FTZ: "shanghai-lingang"}
	hrEntity := Entity{ID: "acme-sh", FTZ: "shanghai-lingang", Employees: 3_000}

	ftz := history(stored{exemption: event.ExemptionFTZNegativeList, people: 300_000})
	hr := history(stored{exemption: event.ExemptionHR, people: 250_000})
	transit := history(stored{exemption: event.ExemptionTransit, important: true, people: 150_000})
	transitNext := history(stored{exemption: event.ExemptionTransit, important: true, people: 150_000, nextIngest: true})

	assessment := func(ref string, from, until time.Time) Entity {
		return Entity{ID: "acme-sh", Approvals: []Approval{sa(ref, from, until)}}
	}
	contract := Entity{ID: "acme-sh", Approvals: []Approval{{
		Mechanism: StandardContract, Status: Approved, Reference: "SC-2026-0007",
		ValidFrom: day(2026, 10, 1), ValidUntil: day(2029, 10, 1),
	}}}
	expiring := assessment("CAC-2024-0311", day(2024, 3, 15), day(2027, 3, 15))

	runLaw(t, []lawCase{
		{
			name: "cac-2022, 50,000 people transferred, no approval", preset: PresetCAC2022,
			obs:      observe(cac22, plain, history(stored{people: 50_000})),
			decision: Block, rule: "personal-any", level: LevelBreached, required: StandardContract,
			reason: "personal-any breached: ",
		},
		{
			name: "cac-2024, one important-data event exempt under hr", preset: PresetCAC2024,
			obs:      observe(cac24, plain, history(stored{exemption: event.ExemptionHR, important: true, people: 3})),
			decision: Block, rule: "important-data", level: LevelBreached, required: SecurityAssessment,
			reason: "important-data breached: important data transferred since 2026-01-01",
		},
		{
			name: "cac-2024, important data exempt under hr, entity in a free-trade zone", preset: PresetCAC2024, entity: inFTZ,
			obs:      observe(cac24, inFTZ, history(stored{exemption: event.ExemptionHR, important: true, people: 3})),
			decision: Block, rule: "important-data", level: LevelBreached, required: SecurityAssessment,
			reason: "important-data breached: important data transferred since 2026-01-01",
		},
		{
			name: "cac-2022, important data exempt under contract", preset: PresetCAC2022,
			obs:      observe(cac22, plain, history(stored{exemption: event.ExemptionContract, important: true, people: 3})),
			decision: Block, rule: "important-data", level: LevelBreached, required: SecurityAssessment,
			reason: "important-data breached: important data transferred since 2025-01-01",
		},
		{
			name: "CIIO, no approval, no event yet", preset: PresetCAC2024, entity: Entity{ID: "grid-sh", CIIO: true},
			decision: Block, rule: "ciio", level: LevelBreached, required: SecurityAssessment,
			reason: "ciio breached: a critical information infrastructure operator needs a security assessment before its first outbound transfer",
		},
		{
			name: "CIIO, no approval, no event yet, cac-2022", preset: PresetCAC2022, entity: Entity{ID: "grid-sh", CIIO: true},
			decision: Block, rule: "ciio", level: LevelBreached, required: SecurityAssessment,
			reason: "(PIPL Art. 40; 2022 Measures Art. 4(2)); none since 2025-01-01",
		},
		{
			name: "cac-2024, 300,000 people under ftz_negative_list, entity in no free-trade zone", preset: PresetCAC2024,
			obs:      observe(cac24, plain, ftz),
			decision: Block, rule: "personal-100k", level: LevelBreached, required: StandardContract,
			reason: "exemptions not applied: the entity has no free-trade zone (ftz) and the store does not tell ftz_negative_list transfers from other exempt ones (2024 Provisions Art. 6)",
		},
		{
			name: "cac-2024, 300,000 people under ftz_negative_list, from a store that tells exemptions apart", preset: PresetCAC2024,
			obs:      exact(counts{nonSensitive: 300_000}.obs(), map[event.Exemption]uint64{event.ExemptionFTZNegativeList: 300_000}),
			decision: Block, rule: "personal-100k", level: LevelBreached, required: StandardContract,
			reason: "ftz_negative_list exemption not applied: the entity has no free-trade zone (ftz), so the 300000 people of those transfers since 2026-01-01 count as not exempt (2024 Provisions Art. 6)",
		},
		{
			name: "250,000 people under hr, entity employs 3,000", preset: PresetCAC2024, entity: hrEntity,
			obs:      observe(cac24, hrEntity, hr),
			decision: Warn, rule: "hr-exemption", level: LevelBreached, required: MechanismNone,
			reason: "people of exempt transfers (the store does not tell hr from other exemptions) >= 3000 employees since 2026-01-01 (upper bound; estimate ",
		},
		{
			name: "250,000 people under hr, entity employs 3,000, from a store that tells exemptions apart", preset: PresetCAC2024, entity: hrEntity,
			obs:      exact(Observation{}, map[event.Exemption]uint64{event.ExemptionHR: 250_000}),
			decision: Warn, rule: "hr-exemption", level: LevelBreached, required: MechanismNone,
			reason: "hr-exemption breached: 250000 people of hr-exempt transfers >= 3000 employees since 2026-01-01",
		},
		{
			name: "250,000 people under hr, entity in no free-trade zone: they count", preset: PresetCAC2024,
			entity:   Entity{ID: "acme-sh", Employees: 3_000},
			obs:      observe(cac24, Entity{Employees: 3_000}, hr),
			decision: Block, rule: "personal-100k", level: LevelBreached, required: StandardContract,
			reason: "exemptions not applied",
		},
		{
			name: "transit event carrying important data, stored as ingest does today", preset: PresetCAC2024, entity: inFTZ,
			obs:      observe(cac24, inFTZ, transit),
			decision: Block, rule: "personal-100k", level: LevelBreached, required: SecurityAssessment,
			reason: "an exempt transfer carried important data and the store does not tell transit transfers, which then are not exempt, from other exempt ones (2024 Provisions Art. 4)",
		},
		{
			name: "transit event carrying important data, stored as not exempt", preset: PresetCAC2024, entity: inFTZ,
			obs:      observe(cac24, inFTZ, transitNext),
			decision: Block, rule: "personal-100k", level: LevelBreached, required: SecurityAssessment,
			reason: "important-data breached",
		},
		{
			name: "transit event carrying important data, from a store that tells exemptions apart", preset: PresetCAC2024, entity: inFTZ,
			obs: func() Observation {
				o := withImportant(counts{nonSensitive: 150_000}.obs(), sketch.CurrentYear, sketch.SincePrevJan1)
				o.Exempt = map[sketch.Window]ExemptFigures{sketch.CurrentYear: {ByExemption: map[event.Exemption]sketch.Figure{}, TransitImportant: true}}
				return o
			}(),
			decision: Block, rule: "personal-100k", level: LevelBreached, required: SecurityAssessment,
			reason: "transit exemption not applied to transfers carrying important data: their people count as not exempt since 2026-01-01 (2024 Provisions Art. 4)",
		},
		{
			name: "security assessment 2025-01-01 to 2035-01-01 under cac-2024", preset: PresetCAC2024,
			entity: assessment("CAC-2025-0001", day(2025, 1, 1), day(2035, 1, 1)), obs: counts{nonSensitive: 1_200_000}.obs(),
			decision: Warn, rule: "personal-1m", level: LevelBreached, covered: true, required: SecurityAssessment,
			reason: "approval CAC-2025-0001 (security_assessment) valid until 2035-01-01, beyond the legal term of 3 years (2024 Provisions Art. 9): held to expire 2028-01-01",
		},
		{
			name: "security assessment 2025-01-01 to 2035-01-01, after three years", preset: PresetCAC2024,
			entity: assessment("CAC-2025-0001", day(2025, 1, 1), day(2035, 1, 1)), obs: counts{nonSensitive: 1_200_000}.obs(),
			at:       time.Date(2028, 2, 1, 10, 0, 0, 0, cst),
			decision: Block, rule: "personal-1m", level: LevelBreached, required: SecurityAssessment,
			reason: "held to expire 2028-01-01",
		},
		{
			name: "security assessment 2025-01-01 to 2035-01-01 under cac-2022: two years", preset: PresetCAC2022,
			entity: assessment("CAC-2025-0001", day(2025, 1, 1), day(2035, 1, 1)), obs: counts{nonSensitive: 150_000}.obs(),
			decision: Warn, rule: "personal-100k", level: LevelBreached, covered: true, required: SecurityAssessment,
			reason: "beyond the legal term of 2 years (2022 Measures Art. 14): held to expire 2027-01-01",
		},
		{
			name: "standard contract effective 2026-10-01, not filed", preset: PresetCAC2024,
			entity: contract, obs: counts{nonSensitive: 150_000}.obs(),
			decision: Block, rule: "personal-100k", level: LevelBreached, required: StandardContract,
			reason: "approval SC-2026-0007 (standard_contract) not filed within 10 working days of taking effect on 2026-10-01 (due 2026-10-20; Standard Contract Measures Art. 7): it covers nothing",
		},
		{
			name: "standard contract effective 2026-10-01, not filed, last day to file", preset: PresetCAC2024,
			entity: contract, obs: counts{nonSensitive: 150_000}.obs(), at: time.Date(2026, 10, 20, 17, 0, 0, 0, cst),
			decision: Warn, rule: "personal-100k", level: LevelBreached, covered: true, required: StandardContract,
			reason: "approval SC-2026-0007 (standard_contract) not filed yet: file it with the provincial CAC by 2026-10-20, 10 working days after it took effect on 2026-10-01 (Standard Contract Measures Art. 7)",
		},
		{
			name: "assessment expiring 2027-03-15, renewal_lead_days 60, today 2026-11-25", preset: PresetCAC2024, lead: 60,
			entity: expiring, obs: counts{nonSensitive: 1_200_000}.obs(),
			decision: Warn, rule: "personal-1m", level: LevelBreached, covered: true, required: SecurityAssessment,
			reason: "approval CAC-2024-0311 (security_assessment) expires 2027-03-15, in 110 days: re-apply by 2026-12-14, in 19 days (60 working days before expiry; 2024 Provisions Art. 9)",
		},
	})
}

// exact returns o with the exempt figures of a store that tells
// exemptions apart, this year.
func exact(o Observation, people map[event.Exemption]uint64) Observation {
	by := map[event.Exemption]sketch.Figure{}
	var all uint64
	for x, n := range people {
		by[x] = sketch.Figure{Estimate: n, UpperBound: n}
		all += n
	}
	o.Exempt = map[sketch.Window]ExemptFigures{sketch.CurrentYear: {All: sketch.Figure{Estimate: all, UpperBound: all}, ByExemption: by}}
	return o
}

// TestObserve checks how today's store is read for an entity: which
// exempt transfers count, important data whatever the exemption, and the
// figures of exempt transfers.
func TestObserve(t *testing.T) {
	cac22, cac24 := settingsFor(t, PresetCAC2022), settingsFor(t, PresetCAC2024)
	inFTZ := Entity{ID: "acme-sh", FTZ: "hainan"}
	h := history(
		stored{people: 40_000}, // plain transfers, people 0..39,999
		stored{exemption: event.ExemptionHR, first: 100_000, people: 20_000}, // hr, other people
		stored{kind: event.KindProcessing, first: 200_000, people: 5_000},    // processing only
	)
	near := func(f sketch.Figure, want uint64) bool {
		d := float64(f.Estimate) - float64(want)
		return d < 0.03*float64(want) && -d < 0.03*float64(want)
	}
	tests := []struct {
		name      string
		s         Settings
		e         Entity
		h         sketch.History
		personal  uint64 // this year
		processed uint64
		counted   bool
		important bool
	}{
		{"cac-2022 counts exempt transfers", cac22, Entity{}, h, 60_000, 65_000, true, false},
		{"cac-2024 in a free-trade zone leaves them out", cac24, inFTZ, h, 40_000, 45_000, false, false},
		{"cac-2024 in no free-trade zone counts them", cac24, Entity{}, h, 60_000, 65_000, true, false},
		{
			"cac-2024 in a free-trade zone, an exempt event with important data", cac24, inFTZ,
			history(stored{people: 40_000}, stored{exemption: event.ExemptionContract, important: true, first: 100_000, people: 20_000}),
			60_000, 60_000, true, true,
		},
		{
			"cac-2024, important data without exemption", cac24, inFTZ,
			history(stored{people: 40_000, important: true}, stored{exemption: event.ExemptionContract, first: 100_000, people: 20_000}),
			40_000, 40_000, false, true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Observe(tt.s, tt.e, tt.h, 2026, 328, nil)
			w := sketch.CurrentYear
			if f := o.Figures[w][sketch.Personal]; !near(f, tt.personal) {
				t.Errorf("personal %d, want about %d", f.Estimate, tt.personal)
			}
			if f := o.Figures[w][sketch.Processed]; !near(f, tt.processed) {
				t.Errorf("processed %d, want about %d", f.Estimate, tt.processed)
			}
			if o.Exempt[w].Counted != tt.counted {
				t.Errorf("exempt transfers counted %v, want %v", o.Exempt[w].Counted, tt.counted)
			}
			if !near(o.Exempt[w].All, 20_000) || o.Exempt[w].ByExemption != nil {
				t.Errorf("exempt people %+v, want about 20,000 and no breakdown", o.Exempt[w])
			}
			if o.Important[w] != tt.important || o.Important[sketch.SincePrevJan1] != tt.important {
				t.Errorf("important %v, want %v in both windows", o.Important, tt.important)
			}
			if len(o.Series[w][sketch.Personal]) != 329 {
				t.Errorf("personal series of %d days, want 329", len(o.Series[w][sketch.Personal]))
			}
		})
	}

	// Only the series asked for are drawn.
	o := Observe(cac24, inFTZ, h, 2026, 328, func(w sketch.Window, k sketch.Counter) bool {
		return w == sketch.CurrentYear && k == sketch.NonSensitive
	})
	if len(o.Series[sketch.CurrentYear][sketch.NonSensitive]) == 0 || len(o.Series[sketch.CurrentYear][sketch.Personal]) != 0 {
		t.Errorf("series drawn: %v", o.Series)
	}
	// Nothing stored: no exempt people, nothing counted.
	o = Observe(cac24, inFTZ, sketch.History{}, 2026, 328, nil)
	if o.Exempt[sketch.CurrentYear].All != (sketch.Figure{}) || o.Figures[sketch.CurrentYear][sketch.Personal].Estimate != 0 {
		t.Errorf("empty history: %+v", o)
	}
}

func TestCounting(t *testing.T) {
	cac22, cac24 := settingsFor(t, PresetCAC2022), settingsFor(t, PresetCAC2024)
	if c := cac22.Counting(Entity{FTZ: "hainan"}); len(c.Honoured) != 0 || !c.IncludeExempt() {
		t.Errorf("cac-2022 counting %+v: want every exemption counted", c)
	}
	c := cac24.Counting(Entity{})
	for x, want := range map[event.Exemption]bool{
		event.ExemptionContract: true, event.ExemptionHR: true, event.ExemptionEmergency: true,
		event.ExemptionTransit: true, event.ExemptionFTZNegativeList: false,
	} {
		if c.Honours(x) != want {
			t.Errorf("cac-2024 without ftz honours %s: %v, want %v", x, c.Honours(x), want)
		}
	}
	if !c.IncludeExempt() {
		t.Error("cac-2024 without ftz: a store that cannot tell exemptions apart must count them all")
	}
	if c := cac24.Counting(Entity{FTZ: "hainan"}); !c.Honours(event.ExemptionFTZNegativeList) || c.IncludeExempt() {
		t.Errorf("cac-2024 in a free-trade zone: %+v, want every exemption honoured", c)
	}
	for _, tt := range []struct {
		x         event.Exemption
		important bool
		want      bool
	}{
		{event.ExemptionNone, false, false}, {event.ExemptionNone, true, false},
		{event.ExemptionTransit, false, true}, {event.ExemptionTransit, true, false},
		{event.ExemptionHR, true, true}, {event.ExemptionFTZNegativeList, false, true},
	} {
		if got := StoredExempt(tt.x, tt.important); got != tt.want {
			t.Errorf("StoredExempt(%q, %v) = %v, want %v", tt.x, tt.important, got, tt.want)
		}
	}
}

func TestHRExemption(t *testing.T) {
	hr := func(n uint64) Observation {
		return exact(Observation{}, map[event.Exemption]uint64{event.ExemptionHR: n})
	}
	withStaff := func(n int) Entity { return Entity{ID: "acme-sh", FTZ: "hainan", Employees: n} }
	runCases(t, []evalCase{
		{name: "no hr transfers, headcount unknown", preset: PresetCAC2024, entity: withStaff(0), obs: hr(0),
			decision: Allow, required: MechanismNone, rules: map[string]Level{"hr-exemption": LevelOK}, reasons: []string{}},
		{name: "one hr transfer, headcount unknown", preset: PresetCAC2024, entity: withStaff(0), obs: hr(12),
			decision: Warn, required: MechanismNone, rules: map[string]Level{"hr-exemption": LevelWarning},
			reasons: []string{"hr-exemption at warning: 12 people of hr-exempt transfers since 2026-01-01 and the headcount is unknown (set employees): the exemption covers the entity's own employees only (2024 Provisions Art. 5(2))"}},
		{name: "below notice", preset: PresetCAC2024, entity: withStaff(3_000), obs: hr(2_000),
			decision: Allow, required: MechanismNone, rules: map[string]Level{"hr-exemption": LevelOK}, reasons: []string{}},
		{name: "at warning", preset: PresetCAC2024, entity: withStaff(3_000), obs: hr(2_600),
			decision: Warn, required: MechanismNone, rules: map[string]Level{"hr-exemption": LevelWarning},
			reasons: []string{"hr-exemption at warning: 2600 people of hr-exempt transfers of 3000 employees (86.6%) since 2026-01-01: the exemption covers the entity's own employees only (2024 Provisions Art. 5(2))"}},
		{name: "breached at the headcount: warn, never block", preset: PresetCAC2024, entity: withStaff(3_000), obs: hr(3_000),
			decision: Warn, required: MechanismNone, rules: map[string]Level{"hr-exemption": LevelBreached}, covered: map[string]bool{"hr-exemption": false}},
		{name: "breached, with every approval", preset: PresetCAC2024,
			entity: Entity{ID: "acme-sh", FTZ: "hainan", Employees: 10, Approvals: []Approval{sa("CAC-1", day(2026, 6, 1), day(2028, 6, 1))}},
			obs:    hr(11), decision: Warn, required: MechanismNone, covered: map[string]bool{"hr-exemption": false}},
		{name: "no such rule under cac-2022", preset: PresetCAC2022, entity: withStaff(10), obs: hr(5_000),
			decision: Allow, required: MechanismNone, reasons: []string{}},
	})
	// From a store that cannot tell hr from other exemptions: every exempt
	// person, when the counters left them out; none when they counted
	// them (nothing escaped the counters under hr).
	coarse := func(n uint64, counted bool) Observation {
		return Observation{Exempt: map[sketch.Window]ExemptFigures{sketch.CurrentYear: {All: sketch.Figure{Estimate: n, UpperBound: n}, Counted: counted}}}
	}
	for _, tt := range []struct {
		counted bool
		level   Level
	}{{false, LevelBreached}, {true, LevelOK}} {
		st := Evaluate(settingsFor(t, PresetCAC2024), withStaff(3_000), coarse(5_000, tt.counted), now)
		if r := ruleOf(t, st, "hr-exemption"); r.Level != tt.level {
			t.Errorf("exempt transfers counted=%v: hr-exemption at %s, want %s", tt.counted, r.Level, tt.level)
		}
	}
	st := Evaluate(settingsFor(t, PresetCAC2024), withStaff(3_000), hr(3_300), now)
	if r := ruleOf(t, st, "hr-exemption"); r.Threshold != 3_000 || r.Ratio != 1.1 || r.Mechanism != MechanismNone || r.Counter != HRExemptCounter {
		t.Errorf("hr-exemption report %+v, want threshold 3000, ratio 1.1, mechanism none", r)
	}
}

func TestProcessed1M(t *testing.T) {
	runCases(t, []evalCase{
		{
			name: "1.2 million processed, nobody transferred", preset: PresetCAC2022, obs: counts{processing: 1_200_000}.obs(),
			decision: Warn, required: MechanismNone, rules: map[string]Level{"processed-1m": LevelCritical, "personal-any": LevelOK},
			reasons: []string{"processed-1m at critical: 1200000 >= 1000000 since 2025-01-01, but nobody's personal information transferred: the first transfer needs a security_assessment (2022 Measures Art. 4(2))"},
		},
		{
			name: "1.2 million processed, one person transferred", preset: PresetCAC2022, obs: counts{nonSensitive: 1, processing: 1_200_000}.obs(),
			decision: Block, required: SecurityAssessment, rules: map[string]Level{"processed-1m": LevelBreached},
			reasons: []string{"processed-1m breached: 1200001 >= 1000000 since 2025-01-01", "personal-any breached: 1 >= 1 since 2025-01-01"},
		},
		{
			name: "a CRM of 3 million that never flows through the topic", preset: PresetCAC2022,
			entity: Entity{ID: "acme-sh", ProcessedSubjects: 3_000_000}, obs: counts{nonSensitive: 20}.obs(),
			decision: Block, required: SecurityAssessment, rules: map[string]Level{"processed-1m": LevelBreached},
			reasons: []string{"processed-1m breached: 3000000 >= 1000000 since 2025-01-01", "personal-any breached: 20 >= 1 since 2025-01-01"},
		},
		{
			name: "processed_subjects below the estimate", preset: PresetCAC2022,
			entity: Entity{ID: "acme-sh", ProcessedSubjects: 10}, obs: counts{nonSensitive: 5, processing: 720_000}.obs(),
			decision: Block, required: StandardContract, rules: map[string]Level{"processed-1m": LevelNotice},
		},
		{
			name: "processed_subjects, nothing transferred", preset: PresetCAC2022,
			entity:   Entity{ID: "acme-sh", ProcessedSubjects: 3_000_000},
			decision: Warn, required: MechanismNone, rules: map[string]Level{"processed-1m": LevelCritical},
		},
	})
	st := Evaluate(settingsFor(t, PresetCAC2022), Entity{ID: "acme-sh", ProcessedSubjects: 3_000_000}, counts{nonSensitive: 20}.obs(), now)
	if r := ruleOf(t, st, "processed-1m"); r.Estimate != 3_000_000 || r.UpperBound != 3_000_000 || r.Ratio != 3 {
		t.Errorf("processed-1m report %+v, want 3,000,000 held, ratio 3", r)
	}
}

// TestFiling: a standard contract is filed within 10 working days of taking
// effect, counted in the mainland China calendar.
func TestFiling(t *testing.T) {
	sc := func(from time.Time, filed time.Time) Entity {
		return Entity{ID: "acme-sh", Approvals: []Approval{{
			Mechanism: StandardContract, Status: Approved, Reference: "SC-1",
			ValidFrom: from, ValidUntil: from.AddDate(3, 0, 0), FiledOn: filed,
		}}}
	}
	at := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, cst) }
	obs := counts{nonSensitive: 150_000}.obs() // cac-2024 personal-100k breached
	national, spring := day(2026, 10, 1), day(2026, 2, 12)
	tests := []struct {
		name     string
		e        Entity
		at       time.Time
		decision Decision
		covered  bool
		reason   string // the filing reason, "" for none
	}{
		{"National Day: filed on the 10th working day", sc(national, day(2026, 10, 20)), at(2026, 11, 25), Allow, true, ""},
		{"National Day: filed the day after", sc(national, day(2026, 10, 21)), at(2026, 11, 25), Block, false,
			"approval SC-1 (standard_contract) not filed within 10 working days of taking effect on 2026-10-01: filed 2026-10-21, due 2026-10-20 (Standard Contract Measures Art. 7): it covers nothing"},
		{"National Day: the holiday does not count", sc(national, time.Time{}), at(2026, 10, 15), Warn, true,
			"not filed yet: file it with the provincial CAC by 2026-10-20"},
		{"National Day: not filed, the day after the deadline", sc(national, time.Time{}), at(2026, 10, 21), Block, false,
			"not filed within 10 working days of taking effect on 2026-10-01 (due 2026-10-20"},
		{"Spring Festival: not filed, last day", sc(spring, time.Time{}), at(2026, 3, 4), Warn, true,
			"file it with the provincial CAC by 2026-03-04, 10 working days after it took effect on 2026-02-12"},
		{"Spring Festival: not filed, day after", sc(spring, time.Time{}), at(2026, 3, 5), Block, false,
			"(due 2026-03-04; Standard Contract Measures Art. 7): it covers nothing"},
		{"Spring Festival: filed on the exchanged Saturday", sc(spring, day(2026, 2, 28)), at(2026, 3, 5), Allow, true, ""},
		{"filed before it takes effect", sc(national, day(2026, 9, 28)), at(2026, 11, 25), Allow, true, ""},
		{"a filing date in the future is no filing", sc(national, day(2026, 12, 1)), at(2026, 11, 25), Block, false, "it covers nothing"},
		{"not yet in effect: no filing reason", sc(day(2026, 12, 1), time.Time{}), at(2026, 11, 25), Block, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := Evaluate(settingsFor(t, PresetCAC2024), tt.e, obs, tt.at)
			if st.Decision != tt.decision || ruleOf(t, st, "personal-100k").Covered != tt.covered {
				t.Errorf("%s covered=%v, want %s covered=%v; reasons %q", st.Decision, ruleOf(t, st, "personal-100k").Covered,
					tt.decision, tt.covered, st.Reasons)
			}
			filing := slices.ContainsFunc(st.Reasons, func(r string) bool { return strings.Contains(r, "filed") })
			if tt.reason == "" && filing {
				t.Errorf("a filing reason: %q", st.Reasons)
			}
			if tt.reason != "" && !slices.ContainsFunc(st.Reasons, func(r string) bool { return strings.Contains(r, tt.reason) }) {
				t.Errorf("no reason contains %q: %q", tt.reason, st.Reasons)
			}
			a := st.Approvals[0]
			if a.FilingDue == nil || (tt.e.Approvals[0].FiledOn.IsZero() != (a.FiledOn == nil)) {
				t.Errorf("approval report %+v: want filing_due, and filed_on when filed", a)
			}
		})
	}
	due, known := Approval{ValidFrom: national}.FilingDue()
	if due != (civil.NewDate(2026, 10, 20)) || !known {
		t.Errorf("FilingDue after 2026-10-01 = %s known=%v, want 2026-10-20", due, known)
	}
	// Beyond the published schedules: weekends only, and the reason says so.
	far := day(2031, 10, 1)
	if due, known := (Approval{ValidFrom: far}).FilingDue(); due != (civil.NewDate(2031, 10, 15)) || known {
		t.Errorf("FilingDue after 2031-10-01 = %s known=%v, want 2031-10-15 counted on weekends only", due, known)
	}
	st := Evaluate(settingsFor(t, PresetCAC2024), sc(far, time.Time{}), obs, at(2031, 10, 3))
	if !slices.ContainsFunc(st.Reasons, func(r string) bool {
		return strings.Contains(r, "by 2031-10-15") && strings.Contains(r, "working days counted on weekends only: no published holiday schedule for 2031")
	}) {
		t.Errorf("reasons %q: want the deadline counted on weekends only, said so", st.Reasons)
	}
}

// TestReapply: a security assessment is applied for again 60 working days
// before it expires; past that with no successor applied for, the rules it
// covers are at least critical and the entity at least warn.
func TestReapply(t *testing.T) {
	at := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, cst) }
	for _, tt := range []struct {
		until, by Date
		known     bool
	}{
		{civil.NewDate(2027, 3, 15), civil.NewDate(2026, 12, 14), true}, // across New Year and Spring Festival 2027
		{civil.NewDate(2026, 12, 1), civil.NewDate(2026, 9, 1), true},   // across Mid-Autumn and National Day 2026
		{civil.NewDate(2026, 4, 1), civil.NewDate(2025, 12, 30), true},  // across Spring Festival 2026, New Year, and their exchanged weekend days
		{civil.NewDate(2029, 3, 1), civil.NewDate(2028, 12, 6), false},  // beyond the published schedules: weekends only
	} {
		if by, known := ReapplyBy(tt.until); by != tt.by || known != tt.known {
			t.Errorf("ReapplyBy(%s) = %s known=%v, want %s known=%v", tt.until, by, known, tt.by, tt.known)
		}
	}

	expiring := sa("CAC-2024-0311", day(2024, 3, 15), day(2027, 3, 15))
	pending := Approval{Mechanism: SecurityAssessment, Status: Pending, Reference: "CAC-2026-R0311"}
	obs := counts{nonSensitive: 1_200_000, sensitive: 8_000}.obs() // personal-1m breached, sensitive-10k at notice
	s := settingsFor(t, PresetCAC2024)
	s.RenewalLeadDays = 60
	tests := []struct {
		name      string
		approvals []Approval
		at        time.Time
		decision  Decision
		sensitive Level
		reason    string
	}{
		{"20 days before the deadline", []Approval{expiring}, at(2026, 11, 25), Warn, LevelNotice, "re-apply by 2026-12-14, in 19 days"},
		{"on the deadline", []Approval{expiring}, at(2026, 12, 14), Warn, LevelNotice, "re-apply by 2026-12-14, in 0 days"},
		{"the day after the deadline", []Approval{expiring}, at(2026, 12, 15), Warn, LevelCritical,
			"approval CAC-2024-0311 (security_assessment) expires 2027-03-15: re-application was due by 2026-12-14 (60 working days before expiry; 2024 Provisions Art. 9) and no successor is approved or pending"},
		{"after the deadline, successor pending", []Approval{expiring, pending}, at(2026, 12, 15), Allow, LevelNotice, ""},
		{"after the deadline, successor approved", []Approval{expiring, sa("CAC-2027-0001", day(2027, 3, 1), day(2030, 3, 1))}, at(2026, 12, 15), Allow, LevelNotice, ""},
		{"after the deadline, successor rejected", []Approval{expiring, {Mechanism: SecurityAssessment, Status: Rejected, Reference: "R"}}, at(2026, 12, 15), Warn, LevelCritical, "re-application was due by 2026-12-14"},
		{"after the deadline, only a standard contract pending", []Approval{expiring, {Mechanism: StandardContract, Status: Pending, Reference: "SC"}}, at(2026, 12, 15), Warn, LevelCritical, "no successor is approved or pending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := Evaluate(s, Entity{ID: "acme-sh", Approvals: tt.approvals}, obs, tt.at)
			if st.Decision != tt.decision {
				t.Errorf("decision %s, want %s: %q", st.Decision, tt.decision, st.Reasons)
			}
			if r := ruleOf(t, st, "sensitive-10k"); r.Level != tt.sensitive || !r.Covered {
				t.Errorf("sensitive-10k at %s covered=%v, want %s covered", r.Level, r.Covered, tt.sensitive)
			}
			if r := ruleOf(t, st, "personal-1m"); r.Level != LevelBreached || !r.Covered {
				t.Errorf("personal-1m at %s covered=%v, want breached and covered", r.Level, r.Covered)
			}
			if r := ruleOf(t, st, "important-data"); r.Level != LevelOK {
				t.Errorf("important-data at %s: a rule at ok stays ok", r.Level)
			}
			if tt.reason != "" && !slices.ContainsFunc(st.Reasons, func(r string) bool { return strings.Contains(r, tt.reason) }) {
				t.Errorf("no reason contains %q: %q", tt.reason, st.Reasons)
			}
			if tt.reason == "" && slices.ContainsFunc(st.Reasons, func(r string) bool { return strings.Contains(r, "re-appl") }) {
				t.Errorf("a re-application reason: %q", st.Reasons)
			}
			if by := st.Approvals[0].ReapplyBy; by == nil || *by != (civil.NewDate(2026, 12, 14)) {
				t.Errorf("reapply_by %v, want 2026-12-14", by)
			}
		})
	}
	// The rule raised to critical says why.
	st := Evaluate(s, Entity{ID: "acme-sh", Approvals: []Approval{expiring}}, obs, at(2026, 12, 15))
	want := "sensitive-10k at critical: 8000 of 10000 (80.0%) since 2026-01-01, covered by CAC-2024-0311 (security_assessment), whose re-application is overdue"
	if !slices.Contains(st.Reasons, want) {
		t.Errorf("reasons %q lack %q", st.Reasons, want)
	}
	// A standard contract or certification has no re-application deadline.
	cert := Approval{Mechanism: Certification, Status: Approved, Reference: "PIPC-1", ValidFrom: day(2024, 3, 15), ValidUntil: day(2027, 3, 15)}
	st = Evaluate(s, Entity{ID: "acme-sh", Approvals: []Approval{cert}}, counts{nonSensitive: 150_000}.obs(), at(2026, 12, 15))
	if st.Approvals[0].ReapplyBy != nil || st.Decision != Allow {
		t.Errorf("certification: %s %q reapply_by %v, want allow and no reapply_by", st.Decision, st.Reasons, st.Approvals[0].ReapplyBy)
	}
}

func TestLegalTerm(t *testing.T) {
	for _, tt := range []struct {
		preset string
		m      Mechanism
		years  int
		ok     bool
	}{
		{PresetCAC2022, SecurityAssessment, 2, true},
		{PresetCAC2024, SecurityAssessment, 3, true},
		{PresetCAC2022, Certification, 3, true},
		{PresetCAC2024, Certification, 3, true},
		{PresetCAC2024, StandardContract, 0, false},
	} {
		if years, ok := LegalTerm(tt.preset, tt.m); years != tt.years || ok != tt.ok {
			t.Errorf("LegalTerm(%s, %s) = %d %v, want %d %v", tt.preset, tt.m, years, ok, tt.years, tt.ok)
		}
	}
	// Exactly the term is fine; a standard contract has none.
	e := Entity{ID: "acme-sh", Approvals: []Approval{
		sa("CAC-1", day(2025, 6, 1), day(2028, 6, 1)),
		{Mechanism: StandardContract, Status: Approved, Reference: "SC-1", ValidFrom: day(2025, 6, 3), ValidUntil: day(2040, 1, 1), FiledOn: day(2025, 6, 5)},
	}}
	st := Evaluate(settingsFor(t, PresetCAC2024), e, counts{nonSensitive: 10}.obs(), now)
	if st.Decision != Allow || len(st.Reasons) != 0 {
		t.Errorf("approvals within their terms: %s %q", st.Decision, st.Reasons)
	}
	if u := st.Approvals[1].ValidUntil; u == nil || *u != (civil.NewDate(2040, 1, 1)) {
		t.Errorf("standard contract valid_until %v, want 2040-01-01 as configured", u)
	}
	// Beyond it, the report shows the end of the term.
	st = Evaluate(settingsFor(t, PresetCAC2022), e, counts{nonSensitive: 10}.obs(), now)
	if u := st.Approvals[0].ValidUntil; u == nil || *u != (civil.NewDate(2027, 6, 1)) || st.Decision != Warn {
		t.Errorf("cac-2022, a 3-year assessment: valid_until %v, %s; want 2027-06-01 and warn", u, st.Decision)
	}
}

func TestUnknown(t *testing.T) {
	v := Unknown(settingsFor(t, PresetCAC2022), "newco-sh", now)
	if v.Entity != "newco-sh" || v.Decision != Block || v.RequiredMechanism != string(StandardContract) {
		t.Errorf("cac-2022: %+v, want block, standard_contract", v)
	}
	want := []string{
		"entity neither configured nor seen: decided under cac-2022 as an entity without approvals about to make its first outbound transfer of personal information",
		"personal-any: the first transfer needs a standard_contract (PIPL Art. 38; Standard Contract Measures Art. 4)",
	}
	if !slices.Equal(v.Reasons, want) {
		t.Errorf("cac-2022 reasons\n got %q\nwant %q", v.Reasons, want)
	}
	v = Unknown(settingsFor(t, PresetCAC2024), "newco-sh", now)
	if v.Decision != Allow || v.RequiredMechanism != string(MechanismNone) || len(v.Reasons) != 2 ||
		v.Reasons[1] != "no rule of cac-2024 requires a mechanism for one person's non-sensitive personal information" {
		t.Errorf("cac-2024: %+v, want allow with its reasons", v)
	}
}

func TestSettingsValidateRuleKinds(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    Rule
		ok   bool
	}{
		{"ciio breached from the start", Rule{ID: "ciio", Threshold: 0, Mechanism: SecurityAssessment, CIIOOnly: true}, true},
		{"threshold 0 for everyone", Rule{ID: "x", Threshold: 0, Mechanism: SecurityAssessment}, false},
		{"advisory without mechanism", Rule{ID: "hr", Mechanism: MechanismNone, Advisory: true, Exemption: event.ExemptionHR}, true},
		{"advisory requiring a mechanism", Rule{ID: "hr", Mechanism: StandardContract, Advisory: true, Exemption: event.ExemptionHR}, false},
		{"not advisory, no mechanism", Rule{ID: "x", Threshold: 5, Mechanism: MechanismNone}, false},
	} {
		s := settingsFor(t, PresetCAC2024)
		s.Preset.Rules = []Rule{tt.r}
		if err := s.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}
