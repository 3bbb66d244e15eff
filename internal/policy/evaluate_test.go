package policy

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/pkg/event"
)

type evalCase struct {
	name     string
	preset   string
	entity   Entity
	obs      Observation
	now      time.Time // zero: now
	usePoint bool
	levels   Levels // zero: DefaultLevels
	leadDays int    // renewal_lead_days; zero: 183

	decision Decision
	required Mechanism
	rules    map[string]Level // levels expected of these rules
	covered  map[string]bool  // coverage expected of these rules
	reasons  []string         // every reason, in order; nil: not checked
}

func runCases(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := settingsFor(t, tc.preset)
			s.UsePoint = tc.usePoint
			if tc.levels != (Levels{}) {
				s.Levels = tc.levels
			}
			if tc.leadDays != 0 {
				s.RenewalLeadDays = tc.leadDays
			}
			at := tc.now
			if at.IsZero() {
				at = now
			}
			if tc.entity.ID == "" {
				tc.entity.ID = "acme-sh"
			}
			st := Evaluate(s, tc.entity, tc.obs, at)
			if st.Decision != tc.decision {
				t.Errorf("decision %s, want %s; reasons %q", st.Decision, tc.decision, st.Reasons)
			}
			if st.RequiredMechanism != tc.required {
				t.Errorf("required_mechanism %s, want %s", st.RequiredMechanism, tc.required)
			}
			for id, want := range tc.rules {
				if got := ruleOf(t, st, id).Level; got != want {
					t.Errorf("rule %s at %s, want %s", id, got, want)
				}
			}
			for id, want := range tc.covered {
				if got := ruleOf(t, st, id).Covered; got != want {
					t.Errorf("rule %s covered=%v, want %v", id, got, want)
				}
			}
			if tc.reasons != nil && !slices.Equal(st.Reasons, tc.reasons) {
				t.Errorf("reasons\n got %q\nwant %q", st.Reasons, tc.reasons)
			}
			if st.Decision != Allow && len(st.Reasons) == 0 {
				t.Errorf("%s without a reason", st.Decision)
			}
		})
	}
}

func TestThresholdEdges(t *testing.T) {
	runCases(t, []evalCase{
		{
			name: "cac-2022 personal 99,999", preset: PresetCAC2022, obs: counts{nonSensitive: 99_999}.obs(),
			decision: Block, required: StandardContract,
			rules: map[string]Level{"personal-100k": LevelCritical, "processed-1m": LevelOK, "personal-any": LevelBreached},
			reasons: []string{
				"personal-any breached: 99999 >= 1 since 2025-01-01",
				"personal-100k at critical: 99999 of 100000 (99.9%) since 2025-01-01",
			},
		},
		{
			name: "cac-2022 personal 100,000", preset: PresetCAC2022, obs: counts{nonSensitive: 100_000}.obs(),
			decision: Block, required: SecurityAssessment,
			rules: map[string]Level{"personal-100k": LevelBreached, "personal-any": LevelBreached},
			reasons: []string{
				"personal-100k breached: 100000 >= 100000 since 2025-01-01",
				"personal-any breached: 100000 >= 1 since 2025-01-01",
			},
		},
		{
			name: "cac-2024 personal 99,999", preset: PresetCAC2024, obs: counts{nonSensitive: 99_999}.obs(),
			decision: Warn, required: MechanismNone,
			rules:   map[string]Level{"personal-100k": LevelCritical, "personal-1m": LevelOK},
			reasons: []string{"personal-100k at critical: 99999 of 100000 (99.9%) since 2026-01-01"},
		},
		{
			name: "cac-2024 personal 100,000", preset: PresetCAC2024, obs: counts{nonSensitive: 100_000}.obs(),
			decision: Block, required: StandardContract,
			rules:   map[string]Level{"personal-100k": LevelBreached, "personal-1m": LevelOK},
			reasons: []string{"personal-100k breached: 100000 >= 100000 since 2026-01-01"},
		},
		{
			name: "cac-2022 sensitive 9,999", preset: PresetCAC2022, obs: counts{sensitive: 9_999}.obs(),
			decision: Block, required: StandardContract,
			rules: map[string]Level{"sensitive-10k": LevelCritical, "personal-100k": LevelOK, "personal-any": LevelBreached},
			reasons: []string{
				"personal-any breached: 9999 >= 1 since 2025-01-01",
				"sensitive-10k at critical: 9999 of 10000 (99.9%) since 2025-01-01",
			},
		},
		{
			name: "cac-2022 sensitive 10,000", preset: PresetCAC2022, obs: counts{sensitive: 10_000}.obs(),
			decision: Block, required: SecurityAssessment,
			rules: map[string]Level{"sensitive-10k": LevelBreached},
		},
		{
			name: "cac-2024 sensitive 9,999", preset: PresetCAC2024, obs: counts{sensitive: 9_999}.obs(),
			decision: Block, required: StandardContract,
			rules: map[string]Level{"sensitive-10k": LevelCritical, "sensitive-any": LevelBreached},
			reasons: []string{
				"sensitive-any breached: 9999 >= 1 since 2026-01-01",
				"sensitive-10k at critical: 9999 of 10000 (99.9%) since 2026-01-01",
			},
		},
		{
			name: "cac-2024 sensitive 10,000", preset: PresetCAC2024, obs: counts{sensitive: 10_000}.obs(),
			decision: Block, required: SecurityAssessment,
			rules: map[string]Level{"sensitive-10k": LevelBreached, "sensitive-any": LevelBreached},
		},
		{
			name: "cac-2022 processed 999,999", preset: PresetCAC2022, obs: counts{nonSensitive: 50_000, processing: 949_999}.obs(),
			decision: Block, required: StandardContract,
			rules: map[string]Level{"processed-1m": LevelCritical, "personal-100k": LevelOK, "personal-any": LevelBreached},
		},
		{
			name: "cac-2022 processed 1,000,000", preset: PresetCAC2022, obs: counts{nonSensitive: 50_000, processing: 950_000}.obs(),
			decision: Block, required: SecurityAssessment,
			rules: map[string]Level{"processed-1m": LevelBreached},
		},
		{
			name: "cac-2024 has no processed rule", preset: PresetCAC2024, obs: counts{nonSensitive: 50_000, processing: 950_000}.obs(),
			decision: Allow, required: MechanismNone,
		},
		{
			name: "cac-2024 personal 999,999", preset: PresetCAC2024, obs: counts{nonSensitive: 999_999}.obs(),
			decision: Block, required: StandardContract,
			rules: map[string]Level{"personal-1m": LevelCritical, "personal-100k": LevelBreached},
		},
		{
			name: "cac-2024 personal 1,000,000", preset: PresetCAC2024, obs: counts{nonSensitive: 1_000_000}.obs(),
			decision: Block, required: SecurityAssessment,
			rules: map[string]Level{"personal-1m": LevelBreached, "personal-100k": LevelBreached},
		},
		{
			name: "nothing transferred", preset: PresetCAC2022,
			decision: Allow, required: MechanismNone, reasons: []string{},
		},
	})
}

func TestCIIOAndImportantData(t *testing.T) {
	ciio := Entity{ID: "grid-sh", Name: "Grid Co.", CIIO: true}
	saUntil2028 := Entity{ID: "grid-sh", Approvals: []Approval{sa("CAC-2025-0042", day(2026, 6, 1), day(2028, 6, 1))}}
	runCases(t, []evalCase{
		{
			name: "cac-2022 CIIO first transfer", preset: PresetCAC2022, entity: ciio, obs: counts{nonSensitive: 1}.obs(),
			decision: Block, required: SecurityAssessment, rules: map[string]Level{"ciio": LevelBreached},
			reasons: []string{
				"ciio breached: critical information infrastructure operator transferred personal information of 1 person since 2025-01-01",
				"personal-any breached: 1 >= 1 since 2025-01-01",
			},
		},
		{
			name: "cac-2024 CIIO first transfer", preset: PresetCAC2024, entity: ciio, obs: counts{sensitive: 1}.obs(),
			decision: Block, required: SecurityAssessment, rules: map[string]Level{"ciio": LevelBreached, "sensitive-any": LevelBreached},
		},
		{
			// Breached from the start: a pipeline asking before the first
			// transfer hears block.
			name: "CIIO without transfers", preset: PresetCAC2024, entity: ciio, obs: counts{processing: 5000}.obs(),
			decision: Block, required: SecurityAssessment, rules: map[string]Level{"ciio": LevelBreached},
			reasons: []string{"ciio breached: a critical information infrastructure operator needs a security assessment before its first outbound transfer of personal information (PIPL Art. 40; 2024 Provisions Art. 7(1)); none since 2026-01-01"},
		},
		{
			name: "CIIO with an empty sketch whose upper bound is not 0", preset: PresetCAC2022, entity: ciio,
			obs:      withFigure(Observation{}, sketch.SincePrevJan1, sketch.Personal, 0, 3),
			decision: Block, required: SecurityAssessment, rules: map[string]Level{"ciio": LevelBreached, "personal-any": LevelOK},
			reasons: []string{"ciio breached: a critical information infrastructure operator needs a security assessment before its first outbound transfer of personal information (PIPL Art. 40; 2022 Measures Art. 4(2)); none since 2025-01-01"},
		},
		{
			name: "not a CIIO, one transfer, cac-2024", preset: PresetCAC2024, obs: counts{nonSensitive: 1}.obs(),
			decision: Allow, required: MechanismNone, rules: map[string]Level{"ciio": LevelOK}, reasons: []string{},
		},
		{
			name: "not a CIIO, one transfer, cac-2022", preset: PresetCAC2022, obs: counts{nonSensitive: 1}.obs(),
			decision: Block, required: StandardContract, rules: map[string]Level{"ciio": LevelOK, "personal-any": LevelBreached},
			reasons: []string{"personal-any breached: 1 >= 1 since 2025-01-01"},
		},
		{
			name: "CIIO covered by a security assessment", preset: PresetCAC2022,
			entity: Entity{ID: "grid-sh", CIIO: true, Approvals: saUntil2028.Approvals}, obs: counts{nonSensitive: 1}.obs(),
			decision: Allow, required: SecurityAssessment, covered: map[string]bool{"ciio": true, "personal-any": true},
		},
		{
			name: "CIIO without transfers covered by a security assessment", preset: PresetCAC2024,
			entity:   Entity{ID: "grid-sh", CIIO: true, Approvals: saUntil2028.Approvals},
			decision: Allow, required: SecurityAssessment, rules: map[string]Level{"ciio": LevelBreached}, covered: map[string]bool{"ciio": true},
		},
		{
			name: "cac-2022 one important-data event", preset: PresetCAC2022,
			obs:      withImportant(counts{nonSensitive: 3}.obs(), sketch.SincePrevJan1, sketch.CurrentYear),
			decision: Block, required: SecurityAssessment, rules: map[string]Level{"important-data": LevelBreached},
			reasons: []string{
				"important-data breached: important data transferred since 2025-01-01",
				"personal-any breached: 3 >= 1 since 2025-01-01",
			},
		},
		{
			name: "cac-2024 one important-data event", preset: PresetCAC2024,
			obs:      withImportant(counts{nonSensitive: 3}.obs(), sketch.SincePrevJan1, sketch.CurrentYear),
			decision: Block, required: SecurityAssessment, rules: map[string]Level{"important-data": LevelBreached},
			reasons: []string{"important-data breached: important data transferred since 2026-01-01"},
		},
		{
			name: "cac-2022 important data last year", preset: PresetCAC2022,
			obs:      withImportant(counts{}.obs(), sketch.SincePrevJan1),
			decision: Block, required: SecurityAssessment,
		},
		{
			name: "cac-2024 important data last year only", preset: PresetCAC2024,
			obs:      withImportant(counts{}.obs(), sketch.SincePrevJan1),
			decision: Allow, required: MechanismNone, rules: map[string]Level{"important-data": LevelOK},
		},
		{
			name: "important data covered", preset: PresetCAC2024, entity: saUntil2028,
			obs:      withImportant(counts{}.obs(), sketch.CurrentYear),
			decision: Allow, required: SecurityAssessment, covered: map[string]bool{"important-data": true},
			reasons: []string{"important-data breached: important data transferred since 2026-01-01, covered by CAC-2025-0042 (security_assessment)"},
		},
	})
}

func TestSensitiveOnlyCAC2024(t *testing.T) {
	scUntil2029 := Entity{ID: "acme-sh", Approvals: []Approval{{
		Mechanism: StandardContract, Status: Approved, Reference: "SC-2025-7",
		ValidFrom: day(2025, 1, 1), ValidUntil: day(2029, 1, 1), FiledOn: day(2025, 1, 10),
	}}}
	runCases(t, []evalCase{
		{
			name: "five sensitive people", preset: PresetCAC2024, obs: counts{sensitive: 5}.obs(),
			decision: Block, required: StandardContract,
			rules:   map[string]Level{"sensitive-any": LevelBreached, "personal-100k": LevelOK, "sensitive-10k": LevelOK},
			reasons: []string{"sensitive-any breached: 5 >= 1 since 2026-01-01"},
		},
		{
			name: "five sensitive people under a standard contract", preset: PresetCAC2024, entity: scUntil2029, obs: counts{sensitive: 5}.obs(),
			decision: Allow, required: StandardContract, covered: map[string]bool{"sensitive-any": true, "sensitive-10k": false},
			reasons: []string{"sensitive-any breached: 5 >= 1 since 2026-01-01, covered by SC-2025-7 (standard_contract)"},
		},
		{
			name: "five sensitive people under cac-2022", preset: PresetCAC2022, obs: counts{sensitive: 5}.obs(),
			decision: Block, required: StandardContract, rules: map[string]Level{"personal-any": LevelBreached, "sensitive-10k": LevelOK},
		},
	})

	// personal-100k counts non_sensitive only: 99,990 non-sensitive and
	// 20 sensitive people are 100,010 personal, but not 100,000 non-sensitive.
	st := Evaluate(settingsFor(t, PresetCAC2024), Entity{ID: "acme-sh"}, counts{nonSensitive: 99_990, sensitive: 20}.obs(), now)
	r := ruleOf(t, st, "personal-100k")
	if r.Counter != sketch.NonSensitive || r.Estimate != 99_990 || r.Level != LevelCritical {
		t.Errorf("personal-100k under cac-2024: %+v, want non_sensitive 99990 at critical", r)
	}
	if r := ruleOf(t, st, "sensitive-any"); r.Estimate != 20 || r.Ratio != 20 {
		t.Errorf("sensitive-any: %+v, want estimate 20, ratio 20", r)
	}
}

func TestExemptEvents(t *testing.T) {
	if p := mustPreset(t, PresetCAC2022); !p.IncludeExempt {
		t.Error("cac-2022 leaves exempt events out; want them counted")
	}
	if p := mustPreset(t, PresetCAC2024); p.IncludeExempt {
		t.Error("cac-2024 counts exempt events; want them left out")
	}

	// The store keeps one sketch per cell; the caller reads each counter as
	// the union of the cells the preset includes. Here every cell holds
	// other people, so the union is the sum.
	read := func(p Preset, cells map[sketch.Cell]uint64) Observation {
		var o Observation
		for _, w := range sketch.Windows {
			for _, c := range sketch.Counters {
				var n uint64
				for _, cell := range c.Cells(p.IncludeExempt) {
					n += cells[cell]
				}
				o = withFigure(o, w, c, n, n)
			}
		}
		return o
	}
	exemptHR := sketch.CellOf(event.KindTransfer, false, true)       // e.g. exemption "hr"
	exemptSensitive := sketch.CellOf(event.KindTransfer, true, true) // e.g. exemption "contract"
	plain := sketch.CellOf(event.KindTransfer, false, false)

	tests := []struct {
		name     string
		preset   string
		cells    map[sketch.Cell]uint64
		decision Decision
		rule     string
		level    Level
	}{
		{"cac-2022 one exempt event of 100,000 people", PresetCAC2022, map[sketch.Cell]uint64{exemptHR: 100_000}, Block, "personal-100k", LevelBreached},
		{"cac-2024 one exempt event of 100,000 people", PresetCAC2024, map[sketch.Cell]uint64{exemptHR: 100_000}, Allow, "personal-100k", LevelOK},
		{"cac-2022 exempt people tip 99,999 over", PresetCAC2022, map[sketch.Cell]uint64{plain: 99_999, exemptHR: 1}, Block, "personal-100k", LevelBreached},
		{"cac-2024 exempt people do not tip 99,999 over", PresetCAC2024, map[sketch.Cell]uint64{plain: 99_999, exemptHR: 1}, Warn, "personal-100k", LevelCritical},
		{"cac-2024 an exempt sensitive event", PresetCAC2024, map[sketch.Cell]uint64{exemptSensitive: 3}, Allow, "sensitive-any", LevelOK},
		{"cac-2022 an exempt sensitive event", PresetCAC2022, map[sketch.Cell]uint64{exemptSensitive: 10_000}, Block, "sensitive-10k", LevelBreached},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := settingsFor(t, tt.preset)
			st := Evaluate(s, Entity{ID: "acme-sh"}, read(s.Preset, tt.cells), now)
			if st.Decision != tt.decision {
				t.Errorf("decision %s, want %s (%q)", st.Decision, tt.decision, st.Reasons)
			}
			if got := ruleOf(t, st, tt.rule).Level; got != tt.level {
				t.Errorf("%s at %s, want %s", tt.rule, got, tt.level)
			}
		})
	}
}

func TestApprovals(t *testing.T) {
	breach2022 := counts{nonSensitive: 120_000}.obs() // personal-100k breached under both presets
	with := func(as ...Approval) Entity { return Entity{ID: "acme-sh", Approvals: as} }
	valid := sa("CAC-2025-0042", day(2026, 6, 1), day(2028, 6, 1)) // two years: legal under both presets
	pending, rejected := valid, valid
	pending.Status, rejected.Status = Pending, Rejected
	expiring := sa("CAC-2025-0042", day(2025, 3, 1), day(2027, 3, 1)) // 96 days after 2026-11-25
	contract := Approval{Mechanism: StandardContract, Status: Approved, Reference: "SC-2025-7", ValidFrom: day(2025, 1, 1), ValidUntil: day(2029, 1, 1), FiledOn: day(2025, 1, 10)}
	cert := contract
	cert.Mechanism, cert.Reference, cert.ValidUntil, cert.FiledOn = Certification, "PIPC-88", day(2028, 1, 1), time.Time{}
	today := civil.DateOf(now)
	until := func(days int) time.Time { return today.AddDays(days).In(cst) }
	certUntil := func(days int) Approval {
		c := cert
		c.ValidFrom, c.ValidUntil = until(days).AddDate(-3, 0, 0), until(days)
		return c
	}

	renew := "approval CAC-2025-0042 (security_assessment) expires 2027-03-01, in 96 days: re-apply by 2026-11-30, in 5 days (60 working days before expiry; 2022 Measures Art. 14)"
	covered := "personal-100k breached: 120000 >= 100000 since 2025-01-01, covered by CAC-2025-0042 (security_assessment)"
	coveredAny := "personal-any breached: 120000 >= 1 since 2025-01-01, covered by CAC-2025-0042 (security_assessment)"
	runCases(t, []evalCase{
		{name: "no approval", preset: PresetCAC2022, obs: breach2022, decision: Block, required: SecurityAssessment},
		{
			name: "valid security assessment", preset: PresetCAC2022, entity: with(valid), obs: breach2022,
			decision: Allow, required: SecurityAssessment, covered: map[string]bool{"personal-100k": true, "personal-any": true},
			reasons: []string{covered, coveredAny},
		},
		{
			name: "pending covers nothing", preset: PresetCAC2022, entity: with(pending), obs: breach2022,
			decision: Block, required: SecurityAssessment, covered: map[string]bool{"personal-100k": false},
		},
		{name: "rejected covers nothing", preset: PresetCAC2022, entity: with(rejected), obs: breach2022, decision: Block, required: SecurityAssessment},
		{
			name: "expired yesterday", preset: PresetCAC2022, entity: with(sa("OLD", day(2024, 11, 24), until(-1))), obs: breach2022,
			decision: Block, required: SecurityAssessment,
		},
		{
			name: "valid_until is today: no longer valid", preset: PresetCAC2022, entity: with(sa("OLD", day(2024, 11, 25), until(0))), obs: breach2022,
			decision: Block, required: SecurityAssessment,
		},
		{
			name: "valid_from is tomorrow", preset: PresetCAC2022, entity: with(sa("NEW", until(1), day(2028, 11, 26))), obs: breach2022,
			decision: Block, required: SecurityAssessment,
		},
		{
			name: "valid_from is today", preset: PresetCAC2022, entity: with(sa("NEW", until(0), day(2028, 11, 25))), obs: breach2022,
			decision: Allow, required: SecurityAssessment,
		},
		{
			name: "standard contract does not cover a security assessment", preset: PresetCAC2022, entity: with(contract), obs: breach2022,
			decision: Block, required: SecurityAssessment, covered: map[string]bool{"personal-100k": false},
		},
		{
			name: "certification does not cover a security assessment", preset: PresetCAC2022, entity: with(cert), obs: breach2022,
			decision: Block, required: SecurityAssessment,
		},
		{
			name: "standard contract covers cac-2024 personal-100k", preset: PresetCAC2024, entity: with(contract), obs: breach2022,
			decision: Allow, required: StandardContract, covered: map[string]bool{"personal-100k": true, "personal-1m": false},
			reasons: []string{"personal-100k breached: 120000 >= 100000 since 2026-01-01, covered by SC-2025-7 (standard_contract)"},
		},
		{
			name: "certification covers cac-2024 personal-100k", preset: PresetCAC2024, entity: with(cert), obs: breach2022,
			decision: Allow, required: StandardContract,
		},
		{
			name: "standard contract does not cover cac-2024 personal-1m", preset: PresetCAC2024, entity: with(contract),
			obs: counts{nonSensitive: 1_000_000}.obs(), decision: Block, required: SecurityAssessment,
			covered: map[string]bool{"personal-100k": true, "personal-1m": false},
			reasons: []string{
				"personal-1m breached: 1000000 >= 1000000 since 2026-01-01",
				"personal-100k breached: 1000000 >= 100000 since 2026-01-01, covered by SC-2025-7 (standard_contract)",
			},
		},
		{
			name: "security assessment covers the weaker rules", preset: PresetCAC2024, entity: with(valid),
			obs: counts{nonSensitive: 1_000_000, sensitive: 20_000}.obs(), decision: Allow, required: SecurityAssessment,
			covered: map[string]bool{"personal-1m": true, "personal-100k": true, "sensitive-10k": true, "sensitive-any": true},
		},
		{
			name: "expiring within the renewal lead", preset: PresetCAC2022, entity: with(expiring), obs: breach2022,
			decision: Warn, required: SecurityAssessment,
			reasons: []string{renew, covered, coveredAny},
		},
		{
			name: "expiring on the last day of the lead", preset: PresetCAC2024, entity: with(certUntil(183)), obs: breach2022,
			decision: Warn, required: StandardContract,
			reasons: []string{
				"approval PIPC-88 (certification) expires 2027-05-27, in 183 days",
				"personal-100k breached: 120000 >= 100000 since 2026-01-01, covered by PIPC-88 (certification)",
			},
		},
		{
			name: "expiring the day after the lead", preset: PresetCAC2024, entity: with(certUntil(184)), obs: breach2022,
			decision: Allow, required: StandardContract,
		},
		{
			// Until 2027-06-30: re-application due 2027-03-31 (Qingming, Labour
			// Day and Dragon Boat between), 126 days after today.
			name: "re-application due on the last day of the lead", preset: PresetCAC2022, entity: with(sa("CAC-2025-0042", day(2025, 6, 30), day(2027, 6, 30))),
			obs: breach2022, decision: Warn, required: SecurityAssessment, leadDays: 126,
		},
		{
			name: "re-application due the day after the lead", preset: PresetCAC2022, entity: with(sa("CAC-2025-0042", day(2025, 6, 30), day(2027, 6, 30))),
			obs: breach2022, decision: Allow, required: SecurityAssessment, leadDays: 125,
		},
		{
			name: "expiring, an entity below every threshold", preset: PresetCAC2022, entity: with(expiring), obs: counts{nonSensitive: 10}.obs(),
			decision: Warn, required: StandardContract,
			reasons: []string{renew, "personal-any breached: 10 >= 1 since 2025-01-01, covered by CAC-2025-0042 (security_assessment)"},
		},
		{
			name: "expiring, renewed by an approved successor", preset: PresetCAC2022,
			entity: with(expiring, sa("CAC-2027-0007", day(2027, 2, 1), day(2029, 2, 1))), obs: breach2022,
			decision: Allow, required: SecurityAssessment,
		},
		{
			name: "expiring, successor still pending", preset: PresetCAC2022,
			entity: with(expiring, Approval{Mechanism: SecurityAssessment, Status: Pending, Reference: "CAC-2027-0007", ValidFrom: day(2027, 2, 1), ValidUntil: day(2030, 2, 1)}),
			obs:    breach2022, decision: Warn, required: SecurityAssessment,
		},
		{
			name: "expiring, successor leaves a gap", preset: PresetCAC2022,
			entity: with(expiring, sa("CAC-2027-0007", day(2027, 3, 2), day(2029, 3, 2))), obs: breach2022,
			decision: Warn, required: SecurityAssessment,
		},
		{
			name: "expiring, successor itself expiring", preset: PresetCAC2022,
			entity: with(expiring, sa("CAC-2027-0007", day(2027, 3, 1), day(2027, 4, 1))), obs: breach2022,
			decision: Warn, required: SecurityAssessment,
			reasons: []string{
				"approval CAC-2027-0007 (security_assessment) expires 2027-04-01, in 127 days: re-apply by 2026-12-30, in 35 days (60 working days before expiry; 2022 Measures Art. 14)",
				covered, coveredAny,
			},
		},
		{
			name: "expiring standard contract covers cac-2022 personal-any", preset: PresetCAC2022,
			entity: with(Approval{Mechanism: StandardContract, Status: Approved, Reference: "SC-1", ValidFrom: day(2025, 1, 1), ValidUntil: until(30), FiledOn: day(2025, 1, 15)}),
			obs:    counts{nonSensitive: 10}.obs(), decision: Warn, required: StandardContract,
			reasons: []string{
				"approval SC-1 (standard_contract) expires 2026-12-25, in 30 days",
				"personal-any breached: 10 >= 1 since 2025-01-01, covered by SC-1 (standard_contract)",
			},
		},
		{
			name: "expiring standard contract covers cac-2024 rules", preset: PresetCAC2024,
			entity: with(Approval{Mechanism: StandardContract, Status: Approved, Reference: "SC-1", ValidFrom: day(2025, 1, 1), ValidUntil: until(30), FiledOn: day(2025, 1, 15)}),
			obs:    counts{nonSensitive: 10}.obs(), decision: Warn, required: MechanismNone,
			reasons: []string{"approval SC-1 (standard_contract) expires 2026-12-25, in 30 days"},
		},
		{
			name: "valid_until as a UTC date", preset: PresetCAC2022,
			entity: with(sa("CAC-2025-0042", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC))),
			obs:    breach2022, decision: Warn, required: SecurityAssessment,
			reasons: []string{renew, covered, coveredAny},
		},
	})
}

func TestApprovalReports(t *testing.T) {
	e := Entity{ID: "acme-sh", Approvals: []Approval{
		sa("CAC-2025-0042", day(2025, 3, 1), day(2027, 3, 1)),
		{Mechanism: StandardContract, Status: Pending, Reference: "SC-9", ValidUntil: day(2026, 11, 1)},
		{Mechanism: SecurityAssessment, Status: Pending, Reference: "CAC-2026-R1"}, // no dates yet
	}}
	st := Evaluate(settingsFor(t, PresetCAC2022), e, Observation{}, now)
	date := func(d Date) *Date { return &d }
	days := func(n int) *int { return &n }
	want := []ApprovalReport{
		{Mechanism: SecurityAssessment, Status: Approved, Reference: "CAC-2025-0042", ValidUntil: date(civil.NewDate(2027, 3, 1)), DaysLeft: days(96), ReapplyBy: date(civil.NewDate(2026, 11, 30))},
		{Mechanism: StandardContract, Status: Pending, Reference: "SC-9", ValidUntil: date(civil.NewDate(2026, 11, 1)), DaysLeft: days(-24)},
		{Mechanism: SecurityAssessment, Status: Pending, Reference: "CAC-2026-R1"},
	}
	if !reflect.DeepEqual(st.Approvals, want) {
		t.Errorf("approvals\n got %+v\nwant %+v", st.Approvals, want)
	}
	if b, _ := json.Marshal(st.Approvals[2]); !strings.Contains(string(b), `"valid_until":null,"days_left":null`) {
		t.Errorf("an approval without dates = %s, want null valid_until and days_left", b)
	}
	// days_left counts days in the configured time zone: at 23:30 UTC on
	// 24 November it is already 25 November in Shanghai.
	st = Evaluate(settingsFor(t, PresetCAC2022), e, Observation{}, time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC))
	if got := *st.Approvals[0].DaysLeft; got != 96 {
		t.Errorf("days_left %d at 2026-11-25 07:30 in Shanghai, want 96", got)
	}
}

func TestYearRollover(t *testing.T) {
	// 120,000 people transferred in 2025, 300 since 1 January 2026.
	newYear := Observation{Figures: map[sketch.Window]map[sketch.Counter]sketch.Figure{
		sketch.SincePrevJan1: {sketch.Personal: {Estimate: 120_300, UpperBound: 120_300}, sketch.NonSensitive: {Estimate: 120_300, UpperBound: 120_300}},
		sketch.CurrentYear:   {sketch.Personal: {Estimate: 300, UpperBound: 300}, sketch.NonSensitive: {Estimate: 300, UpperBound: 300}},
	}}
	// The day before, the 2025 people were this year's.
	newYearsEve := Observation{Figures: map[sketch.Window]map[sketch.Counter]sketch.Figure{
		sketch.SincePrevJan1: {sketch.Personal: {Estimate: 120_000, UpperBound: 120_000}, sketch.NonSensitive: {Estimate: 120_000, UpperBound: 120_000}},
		sketch.CurrentYear:   {sketch.Personal: {Estimate: 120_000, UpperBound: 120_000}, sketch.NonSensitive: {Estimate: 120_000, UpperBound: 120_000}},
	}}
	// 17:00 UTC on 31 December is 01:00 on 1 January in Shanghai.
	justAfter := time.Date(2025, 12, 31, 17, 0, 0, 0, time.UTC)
	eve := time.Date(2025, 12, 31, 23, 0, 0, 0, cst)
	runCases(t, []evalCase{
		{
			name: "cac-2022 on 31 December", preset: PresetCAC2022, obs: newYearsEve, now: eve,
			decision: Block, required: SecurityAssessment,
			reasons: []string{
				"personal-100k breached: 120000 >= 100000 since 2024-01-01",
				"personal-any breached: 120000 >= 1 since 2024-01-01",
			},
		},
		{
			name: "cac-2024 on 31 December", preset: PresetCAC2024, obs: newYearsEve, now: eve,
			decision: Block, required: StandardContract,
			reasons: []string{"personal-100k breached: 120000 >= 100000 since 2025-01-01"},
		},
		{
			name: "cac-2022 on 1 January still counts last year", preset: PresetCAC2022, obs: newYear, now: justAfter,
			decision: Block, required: SecurityAssessment,
			reasons: []string{
				"personal-100k breached: 120300 >= 100000 since 2025-01-01",
				"personal-any breached: 120300 >= 1 since 2025-01-01",
			},
		},
		{
			name: "cac-2024 on 1 January starts again", preset: PresetCAC2024, obs: newYear, now: justAfter,
			decision: Allow, required: MechanismNone, rules: map[string]Level{"personal-100k": LevelOK}, reasons: []string{},
		},
	})

	st := Evaluate(settingsFor(t, PresetCAC2024), Entity{ID: "acme-sh"}, newYear, justAfter)
	if got := st.UpdatedAt.Format(time.RFC3339); got != "2026-01-01T01:00:00+08:00" {
		t.Errorf("updated_at %s, want 2026-01-01T01:00:00+08:00", got)
	}
	starts := map[sketch.Window]Date{}
	for _, c := range st.Counters {
		starts[c.Window] = c.WindowStart
	}
	if starts[sketch.CurrentYear] != (civil.NewDate(2026, 1, 1)) || starts[sketch.SincePrevJan1] != (civil.NewDate(2025, 1, 1)) {
		t.Errorf("window starts %v, want current_year 2026-01-01, since_prev_jan1 2025-01-01", starts)
	}
}

func TestLevels(t *testing.T) {
	nonSensitive := func(est, ub uint64) Observation {
		return withFigure(Observation{}, sketch.CurrentYear, sketch.NonSensitive, est, ub)
	}
	runCases(t, []evalCase{
		{name: "69,999", preset: PresetCAC2024, obs: nonSensitive(69_999, 69_999), decision: Allow, required: MechanismNone, rules: map[string]Level{"personal-100k": LevelOK}, reasons: []string{}},
		{
			name: "70,000 is notice", preset: PresetCAC2024, obs: nonSensitive(70_000, 70_000), decision: Allow, required: MechanismNone,
			rules: map[string]Level{"personal-100k": LevelNotice}, reasons: []string{"personal-100k at notice: 70000 of 100000 (70.0%) since 2026-01-01"},
		},
		{name: "84,999 is notice", preset: PresetCAC2024, obs: nonSensitive(84_999, 84_999), decision: Allow, required: MechanismNone, rules: map[string]Level{"personal-100k": LevelNotice}},
		{
			name: "85,000 is warning", preset: PresetCAC2024, obs: nonSensitive(85_000, 85_000), decision: Warn, required: MechanismNone,
			rules: map[string]Level{"personal-100k": LevelWarning}, reasons: []string{"personal-100k at warning: 85000 of 100000 (85.0%) since 2026-01-01"},
		},
		{name: "94,999 is warning", preset: PresetCAC2024, obs: nonSensitive(94_999, 94_999), decision: Warn, required: MechanismNone, rules: map[string]Level{"personal-100k": LevelWarning}},
		{name: "95,000 is critical", preset: PresetCAC2024, obs: nonSensitive(95_000, 95_000), decision: Warn, required: MechanismNone, rules: map[string]Level{"personal-100k": LevelCritical}},
		{
			name: "upper bound at notice", preset: PresetCAC2024, obs: nonSensitive(69_000, 70_500), decision: Allow, required: MechanismNone,
			rules:   map[string]Level{"personal-100k": LevelNotice},
			reasons: []string{"personal-100k at notice: 70500 of 100000 (70.5%) since 2026-01-01 (upper bound; estimate 69000)"},
		},
		{name: "point below notice", preset: PresetCAC2024, obs: nonSensitive(69_000, 70_500), usePoint: true, decision: Allow, required: MechanismNone, rules: map[string]Level{"personal-100k": LevelOK}},
		{name: "upper bound at warning", preset: PresetCAC2024, obs: nonSensitive(84_000, 86_000), decision: Warn, required: MechanismNone, rules: map[string]Level{"personal-100k": LevelWarning}},
		{name: "point at notice", preset: PresetCAC2024, obs: nonSensitive(84_000, 86_000), usePoint: true, decision: Allow, required: MechanismNone, rules: map[string]Level{"personal-100k": LevelNotice}},
		{name: "upper bound at critical", preset: PresetCAC2024, obs: nonSensitive(94_000, 96_000), decision: Warn, required: MechanismNone, rules: map[string]Level{"personal-100k": LevelCritical}},
		{name: "point at warning", preset: PresetCAC2024, obs: nonSensitive(94_000, 96_000), usePoint: true, decision: Warn, required: MechanismNone, rules: map[string]Level{"personal-100k": LevelWarning}},
		{
			name: "upper bound breached", preset: PresetCAC2024, obs: nonSensitive(98_000, 100_400), decision: Block, required: StandardContract,
			rules:   map[string]Level{"personal-100k": LevelBreached},
			reasons: []string{"personal-100k breached: 100400 >= 100000 since 2026-01-01 (upper bound; estimate 98000)"},
		},
		{
			name: "point critical", preset: PresetCAC2024, obs: nonSensitive(98_000, 100_400), usePoint: true, decision: Warn, required: MechanismNone,
			rules: map[string]Level{"personal-100k": LevelCritical}, reasons: []string{"personal-100k at critical: 98000 of 100000 (98.0%) since 2026-01-01"},
		},
		{name: "custom notice", preset: PresetCAC2024, obs: nonSensitive(50_000, 50_000), levels: Levels{0.5, 0.6, 0.9}, decision: Allow, required: MechanismNone, rules: map[string]Level{"personal-100k": LevelNotice}},
		{name: "custom warning", preset: PresetCAC2024, obs: nonSensitive(89_999, 89_999), levels: Levels{0.5, 0.6, 0.9}, decision: Warn, required: MechanismNone, rules: map[string]Level{"personal-100k": LevelWarning}},
		{name: "custom critical", preset: PresetCAC2024, obs: nonSensitive(90_000, 90_000), levels: Levels{0.5, 0.6, 0.9}, decision: Warn, required: MechanismNone, rules: map[string]Level{"personal-100k": LevelCritical}},
		{
			name: "covered warning is information", preset: PresetCAC2024, obs: nonSensitive(90_000, 90_000), decision: Allow, required: MechanismNone,
			entity:  Entity{Approvals: []Approval{sa("CAC-2025-0042", day(2026, 6, 1), day(2028, 6, 1))}},
			reasons: []string{"personal-100k at warning: 90000 of 100000 (90.0%) since 2026-01-01, covered by CAC-2025-0042 (security_assessment)"},
		},
	})
}

func TestLevelsOf(t *testing.T) {
	l := DefaultLevels()
	tests := []struct {
		figure, threshold uint64
		want              Level
	}{
		{0, 1, LevelOK}, {1, 1, LevelBreached}, {7, 1, LevelBreached},
		{0, 0, LevelBreached}, {1, 0, LevelBreached},
		{6_999, 10_000, LevelOK}, {7_000, 10_000, LevelNotice}, {8_500, 10_000, LevelWarning},
		{9_500, 10_000, LevelCritical}, {9_999, 10_000, LevelCritical}, {10_000, 10_000, LevelBreached},
		{699_999, 1_000_000, LevelOK}, {700_000, 1_000_000, LevelNotice}, {850_000, 1_000_000, LevelWarning},
		{950_000, 1_000_000, LevelCritical}, {1_000_000, 1_000_000, LevelBreached},
	}
	for _, tt := range tests {
		if got := l.Of(tt.figure, tt.threshold); got != tt.want {
			t.Errorf("Of(%d, %d) = %s, want %s", tt.figure, tt.threshold, got, tt.want)
		}
	}
	if got := (Levels{}).Of(7_000, 10_000); got != LevelNotice {
		t.Errorf("zero Levels: %s, want the defaults' notice", got)
	}
	for l, v := range map[Level]int{LevelOK: 0, LevelNotice: 1, LevelWarning: 2, LevelCritical: 3, LevelBreached: 4, "bogus": -1} {
		if l.Value() != v {
			t.Errorf("%s.Value() = %d, want %d", l, l.Value(), v)
		}
	}
}

func TestRatio(t *testing.T) {
	st := Evaluate(Settings{Preset: mustPreset(t, PresetCAC2022), UsePoint: true, Location: cst}, Entity{ID: "acme-sh"},
		withFigure(Observation{}, sketch.SincePrevJan1, sketch.Personal, 100_412, 102_852), now)
	if r := ruleOf(t, st, "personal-100k"); r.Ratio != 1.004 || r.Estimate != 100_412 || r.UpperBound != 102_852 {
		t.Errorf("personal-100k: %+v, want ratio 1.004", r)
	}
	for _, tt := range []struct {
		figure, threshold uint64
		want              float64
	}{{99_999, 100_000, 0.999}, {100_000, 100_000, 1}, {0, 10, 0}, {5, 1, 5}, {1 << 62, 3, float64(1<<62) / 3}} {
		if got := ratio(tt.figure, tt.threshold); got != tt.want {
			t.Errorf("ratio(%d, %d) = %v, want %v", tt.figure, tt.threshold, got, tt.want)
		}
	}
	ciio := ruleOf(t, Evaluate(settingsFor(t, PresetCAC2022), Entity{ID: "x"}, counts{nonSensitive: 500}.obs(), now), "ciio")
	if ciio.Ratio != 0 || ciio.Estimate != 500 {
		t.Errorf("ciio rule of an entity that is no CIIO: %+v, want ratio 0, estimate 500", ciio)
	}
}

func TestRequiredMechanism(t *testing.T) {
	runCases(t, []evalCase{
		{name: "nothing breached", preset: PresetCAC2024, obs: counts{nonSensitive: 99_000}.obs(), decision: Warn, required: MechanismNone},
		{name: "standard contract", preset: PresetCAC2024, obs: counts{nonSensitive: 150_000}.obs(), decision: Block, required: StandardContract},
		{name: "strongest of several", preset: PresetCAC2024, obs: counts{nonSensitive: 1_200_000, sensitive: 3}.obs(), decision: Block, required: SecurityAssessment},
		{
			name: "breached rules count even when covered", preset: PresetCAC2022, obs: counts{nonSensitive: 150_000}.obs(),
			entity:   Entity{Approvals: []Approval{sa("CAC-2025-0042", day(2026, 6, 1), day(2028, 6, 1))}},
			decision: Allow, required: SecurityAssessment,
		},
	})
}

func TestForecastDecision(t *testing.T) {
	// cac-2024, 31 May 2026: 400 new non-sensitive people a day since
	// 1 January, 80,000 today: personal-100k is crossed on 20 July.
	at := time.Date(2026, 5, 31, 12, 0, 0, 0, cst)
	obs := counts{nonSensitive: 80_000}.obs()
	obs.Series = map[sketch.Window]map[sketch.Counter][]float64{
		sketch.CurrentYear: {sketch.NonSensitive: series(151, func(i int) float64 { return 20_000 + 400*float64(i) })},
	}
	contract := Entity{ID: "acme-sh", Approvals: []Approval{{Mechanism: StandardContract, Status: Approved, Reference: "SC-1", ValidFrom: day(2025, 1, 1), ValidUntil: day(2029, 1, 1), FiledOn: day(2025, 1, 15)}}}
	const (
		forecast = "personal-100k forecast to cross 100000 on 2026-07-20 (50 days)"
		notice   = "personal-100k at notice: 80000 of 100000 (80.0%) since 2026-01-01"
	)
	tests := []struct {
		name     string
		entity   Entity
		lead     int
		decision Decision
		reasons  []string
	}{
		{"within the lead", Entity{ID: "acme-sh"}, 183, Warn, []string{forecast, notice}},
		{"on the last day of the lead", Entity{ID: "acme-sh"}, 50, Warn, []string{forecast, notice}},
		{"beyond the lead", Entity{ID: "acme-sh"}, 49, Allow, []string{notice}},
		{"covered", contract, 183, Allow, []string{notice + ", covered by SC-1 (standard_contract)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := settingsFor(t, PresetCAC2024)
			s.ForecastLeadDays = tt.lead
			st := Evaluate(s, tt.entity, obs, at)
			if st.Decision != tt.decision || !slices.Equal(st.Reasons, tt.reasons) {
				t.Errorf("%s %q, want %s %q", st.Decision, st.Reasons, tt.decision, tt.reasons)
			}
			r := ruleOf(t, st, "personal-100k")
			if r.ForecastCrossing == nil || *r.ForecastCrossing != (civil.NewDate(2026, 7, 20)) || r.ForecastDays != 50 {
				t.Errorf("forecast_crossing %v in %d days, want 2026-07-20 in 50", r.ForecastCrossing, r.ForecastDays)
			}
			for _, id := range []string{"ciio", "important-data", "personal-1m", "sensitive-10k", "sensitive-any"} {
				if r := ruleOf(t, st, id); r.ForecastCrossing != nil {
					t.Errorf("rule %s forecast to cross on %s", id, r.ForecastCrossing)
				}
			}
		})
	}
	// The upper bound held is 4,000 higher: the crossing comes 10 days sooner.
	ub := withFigure(obs, sketch.CurrentYear, sketch.NonSensitive, 80_000, 84_000)
	st := Evaluate(settingsFor(t, PresetCAC2024), Entity{ID: "acme-sh"}, ub, at)
	if r := ruleOf(t, st, "personal-100k"); r.ForecastDays != 40 {
		t.Errorf("forecast from the upper bound in %d days, want 40", r.ForecastDays)
	}
}

func TestReasonOrder(t *testing.T) {
	// Block first, then warnings (critical before warning, renewals, then
	// forecasts), then information.
	s := settingsFor(t, PresetCAC2024)
	e := Entity{ID: "acme-sh", Approvals: []Approval{{
		Mechanism: Certification, Status: Approved, Reference: "PIPC-88", ValidFrom: day(2025, 1, 1), ValidUntil: day(2027, 1, 5),
	}}}
	obs := counts{nonSensitive: 96_000, sensitive: 8_600}.obs()
	obs = withImportant(obs, sketch.CurrentYear)
	st := Evaluate(s, e, obs, now)
	want := []string{
		"important-data breached: important data transferred since 2026-01-01",
		"sensitive-10k at warning: 8600 of 10000 (86.0%) since 2026-01-01",
		"approval PIPC-88 (certification) expires 2027-01-05, in 41 days",
		"personal-100k at critical: 96000 of 100000 (96.0%) since 2026-01-01, covered by PIPC-88 (certification)",
		"sensitive-any breached: 8600 >= 1 since 2026-01-01, covered by PIPC-88 (certification)",
	}
	if st.Decision != Block || !slices.Equal(st.Reasons, want) {
		t.Errorf("%s\n got %q\nwant %q", st.Decision, st.Reasons, want)
	}
	for _, r := range st.Reasons {
		if strings.Contains(r, "\n") {
			t.Errorf("reason spans lines: %q", r)
		}
	}
}

// TestEntityWithoutData: an entity with nothing stored and no registry
// entry evaluates to allow with every counter and rule reported.
func TestEntityWithoutData(t *testing.T) {
	st := Evaluate(settingsFor(t, PresetCAC2022), Entity{ID: "never-seen"}, Observation{}, now)
	if st.Decision != Allow || st.RequiredMechanism != MechanismNone || st.Reasons == nil || len(st.Reasons) != 0 {
		t.Errorf("entity without data: %s %s %q, want allow none []", st.Decision, st.RequiredMechanism, st.Reasons)
	}
	if st.Approvals == nil || len(st.Counters) != len(sketch.Counters)*len(sketch.Windows) || len(st.Rules) != 6 {
		t.Errorf("unknown entity: %d counters, %d rules, approvals %v", len(st.Counters), len(st.Rules), st.Approvals)
	}
	// No location: UTC.
	st = Evaluate(Settings{Preset: mustPreset(t, PresetCAC2024)}, Entity{ID: "x"}, Observation{}, time.Date(2025, 12, 31, 17, 0, 0, 0, time.UTC))
	if st.Counters[0].WindowStart != (civil.NewDate(2025, 1, 1)) || st.UpdatedAt.Location() != time.UTC {
		t.Errorf("nil location: window start %s, updated_at %s", st.Counters[0].WindowStart, st.UpdatedAt)
	}
}

func TestPresets(t *testing.T) {
	type row struct {
		id        string
		counter   sketch.Counter
		window    sketch.Window
		threshold uint64
		mechanism Mechanism
		ciio      bool
		important bool
		advisory  bool
	}
	p22, p24 := sketch.SincePrevJan1, sketch.CurrentYear
	want := map[string][]row{
		PresetCAC2022: {
			{"ciio", sketch.Personal, p22, 0, SecurityAssessment, true, false, false},
			{"important-data", ImportantDataCounter, p22, 1, SecurityAssessment, false, true, false},
			{"processed-1m", sketch.Processed, p22, 1_000_000, SecurityAssessment, false, false, false},
			{"personal-100k", sketch.Personal, p22, 100_000, SecurityAssessment, false, false, false},
			{"sensitive-10k", sketch.Sensitive, p22, 10_000, SecurityAssessment, false, false, false},
			{"personal-any", sketch.Personal, p22, 1, StandardContract, false, false, false},
		},
		PresetCAC2024: {
			{"ciio", sketch.Personal, p24, 0, SecurityAssessment, true, false, false},
			{"important-data", ImportantDataCounter, p24, 1, SecurityAssessment, false, true, false},
			{"personal-1m", sketch.NonSensitive, p24, 1_000_000, SecurityAssessment, false, false, false},
			{"personal-100k", sketch.NonSensitive, p24, 100_000, StandardContract, false, false, false},
			{"sensitive-10k", sketch.Sensitive, p24, 10_000, SecurityAssessment, false, false, false},
			{"sensitive-any", sketch.Sensitive, p24, 1, StandardContract, false, false, false},
			{"hr-exemption", HRExemptCounter, p24, 0, MechanismNone, false, false, true},
		},
	}
	for _, name := range PresetNames() {
		p := mustPreset(t, name)
		var got []row
		for _, r := range p.Rules {
			got = append(got, row{r.ID, r.Counter, r.Window, r.Threshold, r.Mechanism, r.CIIOOnly, r.ImportantData, r.Advisory})
			if !strings.Contains(r.Basis, "Art") {
				t.Errorf("preset %s rule %s cites no article: %q", name, r.ID, r.Basis)
			}
		}
		if p.Name != name || !slices.Equal(got, want[name]) {
			t.Errorf("preset %s:\n got %v\nwant %v", name, got, want[name])
		}
		if err := (Settings{Preset: p, Location: cst}).Validate(); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
		p.Rules[1].Threshold = 42 // a copy: the next call is unchanged
		if mustPreset(t, name).Rules[1].Threshold != 1 {
			t.Errorf("preset %s shares its rules between calls", name)
		}
	}
	if p := mustPreset(t, PresetCAC2022); !p.Rules[2].NeedsTransfer || !p.Rules[2].DeclaredFloor {
		t.Errorf("processed-1m: %+v, want NeedsTransfer and DeclaredFloor", p.Rules[2])
	}
	if _, err := PresetByName("cac-2023"); !errorsIs(err, ErrUnknownPreset) {
		t.Errorf("unknown preset: %v, want ErrUnknownPreset", err)
	}
	if DefaultPreset != PresetCAC2024 {
		t.Errorf("DefaultPreset = %s, want cac-2024, the law in force since 2024-03-22", DefaultPreset)
	}
}

func TestDescribe(t *testing.T) {
	for name, want := range map[string][]string{
		PresetCAC2022: {
			"policy cac-2022: Measures for Security Assessment of Outbound Data Transfers (2022)",
			"personal-any    personal >= 1 since 1 January of last year -> standard_contract (PIPL Art. 38; Standard Contract Measures Art. 4)",
			"ciio            a critical information infrastructure operator, from its first transfer -> security_assessment",
			"processed-1m    processed >= 1000000 since 1 January of last year, with personal >= 1 (at least processed_subjects)",
		},
		PresetCAC2024: {
			"policy cac-2024: Provisions on Promoting and Regulating Cross-Border Data Flows (2024, in force since 2024-03-22)",
			"exempt transfers (Arts. 3-6) left out where the entity may rely on them",
			"hr-exemption    people of hr-exempt transfers this year >= the entity's employees -> warn (advisory) (2024 Provisions Art. 5(2))",
			"personal-100k   non_sensitive >= 100000 this year -> standard_contract (2024 Provisions Art. 8)",
		},
	} {
		got := mustPreset(t, name).Describe()
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s.Describe() lacks %q:\n%s", name, w, got)
			}
		}
	}
}

func TestMechanisms(t *testing.T) {
	tests := []struct {
		have, required Mechanism
		want           bool
	}{
		{SecurityAssessment, SecurityAssessment, true},
		{SecurityAssessment, StandardContract, true},
		{StandardContract, StandardContract, true},
		{Certification, StandardContract, true},
		{StandardContract, Certification, true},
		{StandardContract, SecurityAssessment, false},
		{Certification, SecurityAssessment, false},
		{MechanismNone, MechanismNone, false},
		{"bogus", StandardContract, false},
	}
	for _, tt := range tests {
		if got := tt.have.Satisfies(tt.required); got != tt.want {
			t.Errorf("%s satisfies %s: %v, want %v", tt.have, tt.required, got, tt.want)
		}
	}
	if StandardContract.Strength() != Certification.Strength() || Certification.Strength() >= SecurityAssessment.Strength() {
		t.Error("want standard_contract = certification < security_assessment")
	}
}
