package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/transferwatch/transferwatch/internal/i18n"
	"github.com/transferwatch/transferwatch/internal/sketch"
)

func TestScopeContains(t *testing.T) {
	us := FlowKey{Recipient: "acme-inc-us", Destination: "US", Category: sketch.CategoryPersonal}
	sg := FlowKey{Recipient: "newco-sg", Destination: "SG", Category: sketch.CategoryPersonal}
	usSens := FlowKey{Recipient: "acme-inc-us", Destination: "US", Category: sketch.CategorySensitive}
	noDest := FlowKey{Recipient: "acme-inc-us", Category: sketch.CategoryPersonal}
	for _, tc := range []struct {
		name  string
		scope *Scope
		flow  FlowKey
		want  bool
	}{
		{"no scope covers every flow", nil, sg, true},
		{"empty scope: every list omitted", &Scope{}, sg, true},
		{"recipient listed", &Scope{Recipients: []string{"acme-inc-us"}}, us, true},
		{"recipient not listed", &Scope{Recipients: []string{"acme-inc-us"}}, sg, false},
		{"recipient exact, not a prefix", &Scope{Recipients: []string{"acme-inc"}}, us, false},
		{"destination listed", &Scope{Destinations: []string{"GB", "US"}}, us, true},
		{"destination not listed", &Scope{Destinations: []string{"GB", "US"}}, sg, false},
		{"no destination is not a listed one", &Scope{Destinations: []string{"US"}}, noDest, false},
		{"category listed", &Scope{Categories: []sketch.Category{sketch.CategoryPersonal, sketch.CategorySensitive}}, usSens, true},
		{"category not listed", &Scope{Categories: []sketch.Category{sketch.CategoryPersonal}}, usSens, false},
		{"all three listed", &Scope{Recipients: []string{"acme-inc-us"}, Destinations: []string{"US"},
			Categories: []sketch.Category{sketch.CategoryPersonal}}, us, true},
		{"one of three not listed", &Scope{Recipients: []string{"acme-inc-us"}, Destinations: []string{"GB"},
			Categories: []sketch.Category{sketch.CategoryPersonal}}, us, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.scope.Contains(tc.flow); got != tc.want {
				t.Errorf("Contains(%+v) = %v, want %v", tc.flow, got, tc.want)
			}
		})
	}
}

// flowFig returns a flow of people [from, to), with its sketch.
func flowFig(r, d string, c sketch.Category, from, to int) FlowFigure {
	k := sketch.FlowKey{Recipient: r, Destination: d, Category: c}
	y := &sketch.Year{}
	for i := from; i < to; i++ {
		y.AddFlow(k, uint64(i), now.Unix(), "crm", []uint64{sketch.EventHash("people", 0, int64(i))})
	}
	f := y.Flows[k]
	est := f.People.Estimate()
	return FlowFigure{FlowKey: FlowKey{r, d, c}, People: sketch.Figure{Estimate: est, UpperBound: sketch.FlowUpperBound(est)},
		Events: uint64(to - from), First: day(2026, 1, 5), Last: day(2026, 11, 20), Pipelines: []string{"crm"}, Sketch: f.People}
}

func withFlows(o Observation, fs ...FlowFigure) Observation {
	o.Flows = map[sketch.Window][]FlowFigure{}
	for _, w := range sketch.Windows {
		o.Flows[w] = fs
	}
	return o
}

func sc(ref string, mech Mechanism, scope *Scope) Approval {
	a := Approval{Mechanism: mech, Status: Approved, Reference: ref, ValidFrom: day(2025, 3, 1), ValidUntil: day(2028, 1, 1), Scope: scope}
	if mech == StandardContract {
		a.FiledOn = day(2025, 3, 5)
	}
	return a
}

func findRule(st Status, id string) (RuleReport, bool) {
	i := slices.IndexFunc(st.Rules, func(r RuleReport) bool { return r.ID == id })
	if i < 0 {
		return RuleReport{}, false
	}
	return st.Rules[i], true
}

func TestScopeRule(t *testing.T) {
	s := settingsFor(t, PresetCAC2024)
	us := flowFig("acme-inc-us", "US", sketch.CategoryPersonal, 0, 150_000)
	gb := flowFig("acme-uk", "GB", sketch.CategoryPersonal, 150_000, 160_000)
	sg := flowFig("newco-sg", "SG", sketch.CategoryPersonal, 160_000, 180_000)
	usOnly := &Scope{Recipients: []string{"acme-inc-us"}, Destinations: []string{"US"}}
	gbOnly := &Scope{Destinations: []string{"GB"}}
	obs := counts{nonSensitive: 180_000}.obs()

	for _, tc := range []struct {
		name      string
		approvals []Approval
		flows     []FlowFigure
		decision  Decision
		outside   int
		reason    string
	}{
		{"no scope: every flow covered", []Approval{sc("CAC-2025-0042", SecurityAssessment, nil)},
			[]FlowFigure{us, sg}, Allow, 0, ""},
		{"a new recipient outside the scope blocks", []Approval{sc("CAC-2025-0042", SecurityAssessment, usOnly)},
			[]FlowFigure{us, sg}, Block, 1,
			"scope breached: transfer to newco-sg (SG), personal, " + i18n.Uint(sg.People.Estimate) + " people since 2026-01-01, is outside the scope of CAC-2025-0042"},
		{"two approvals together cover every flow",
			[]Approval{sc("CAC-2025-0042", SecurityAssessment, usOnly), sc("CAC-2025-0043", SecurityAssessment, gbOnly)},
			[]FlowFigure{us, gb}, Allow, 0, ""},
		{"two approvals, a third flow outside both",
			[]Approval{sc("CAC-2025-0042", SecurityAssessment, usOnly), sc("CAC-2025-0043", SecurityAssessment, gbOnly)},
			[]FlowFigure{us, gb, sg}, Block, 1, "is outside the scope of CAC-2025-0042 and CAC-2025-0043"},
		{"a pending approval's scope covers nothing",
			[]Approval{sc("CAC-2025-0042", SecurityAssessment, usOnly), {Mechanism: SecurityAssessment, Status: Pending, Reference: "CAC-2026-0001"}},
			[]FlowFigure{us, sg}, Block, 1, "is outside the scope of CAC-2025-0042"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Entity{ID: "acme-sh", Approvals: tc.approvals}
			st := Evaluate(s, e, withFlows(obs, tc.flows...), now)
			if st.Decision != tc.decision {
				t.Fatalf("decision %s, want %s; reasons %q", st.Decision, tc.decision, st.Reasons)
			}
			if st.FlowsOutsideScope != tc.outside || st.FlowsTotal != len(tc.flows) {
				t.Errorf("flows %d outside %d, want %d outside %d", st.FlowsTotal, st.FlowsOutsideScope, len(tc.flows), tc.outside)
			}
			if tc.reason != "" && !slices.ContainsFunc(st.Reasons, func(r string) bool { return strings.Contains(r, tc.reason) }) {
				t.Errorf("no reason with %q in %q", tc.reason, st.Reasons)
			}
			// personal-100k requires a standard contract; so does the
			// scope rule it makes breached.
			if tc.decision == Block && st.RequiredMechanism != StandardContract {
				t.Errorf("required %s, want standard_contract", st.RequiredMechanism)
			}
			r, ok := findRule(st, ScopeRuleID)
			if scoped := slices.ContainsFunc(tc.approvals, func(a Approval) bool { return a.Scope != nil }); ok != scoped {
				t.Fatalf("scope rule reported: %v, want %v", ok, scoped)
			}
			if ok && (r.Level == LevelBreached) != (tc.outside > 0) {
				t.Errorf("scope rule at %s with %d flows outside", r.Level, tc.outside)
			}
			for _, f := range st.Flows {
				if f.InsideScope == (f.Recipient == "newco-sg" && tc.outside > 0) {
					t.Errorf("flow %s inside_scope %v", f.Recipient, f.InsideScope)
				}
			}
		})
	}
}

// TestScopeOnlyWhereTheLawRequires: under cac-2024, 5,000 people need no
// mechanism, so a flow outside an approval's scope changes nothing.
func TestScopeOnlyWhereTheLawRequires(t *testing.T) {
	s := settingsFor(t, PresetCAC2024)
	e := Entity{ID: "acme-sh", Approvals: []Approval{sc("SC-2026-0007", StandardContract, &Scope{Recipients: []string{"acme-inc-us"}})}}
	obs := withFlows(counts{nonSensitive: 5000}.obs(),
		flowFig("acme-inc-us", "US", sketch.CategoryPersonal, 0, 4000), flowFig("newco-sg", "SG", sketch.CategoryPersonal, 4000, 5000))
	st := Evaluate(s, e, obs, now)
	if st.Decision != Allow || st.FlowsOutsideScope != 0 {
		t.Fatalf("decision %s, %d flows outside; reasons %q", st.Decision, st.FlowsOutsideScope, st.Reasons)
	}
}

func TestScopeVolumeLevels(t *testing.T) {
	s := settingsFor(t, PresetCAC2024)
	s.UsePoint = true
	const people = 150_000
	us := flowFig("acme-inc-us", "US", sketch.CategoryPersonal, 0, people)
	est := float64(us.People.Estimate)
	for _, tc := range []struct {
		max      uint64
		level    Level
		decision Decision
	}{
		{uint64(est / 0.5), LevelOK, Allow},
		{uint64(est / 0.75), LevelNotice, Allow},
		{uint64(est / 0.9), LevelWarning, Warn},
		{uint64(est / 0.97), LevelCritical, Warn},
		{uint64(est), LevelBreached, Block}, // at max_subjects: breached (>=)
	} {
		t.Run(string(tc.level), func(t *testing.T) {
			e := Entity{ID: "acme-sh", Approvals: []Approval{sc("CAC-2025-0042", SecurityAssessment,
				&Scope{Recipients: []string{"acme-inc-us"}, MaxSubjects: tc.max})}}
			obs := withFlows(counts{nonSensitive: people}.obs(), us)
			st := Evaluate(s, e, obs, now)
			r, ok := findRule(st, ScopeVolumePrefix+"CAC-2025-0042")
			if !ok {
				t.Fatalf("no scope-volume rule in %+v", st.Rules)
			}
			if r.Level != tc.level || st.Decision != tc.decision {
				t.Fatalf("max %d: level %s decision %s, want %s %s; reasons %q", tc.max, r.Level, st.Decision, tc.level, tc.decision, st.Reasons)
			}
			if tc.level == LevelBreached && st.RequiredMechanism != SecurityAssessment {
				t.Errorf("required %s, want the approval's security_assessment", st.RequiredMechanism)
			}
		})
	}

	// Not needed (nothing breached): the volume is reported, never held.
	e := Entity{ID: "acme-sh", Approvals: []Approval{sc("CAC-2025-0042", SecurityAssessment,
		&Scope{MaxSubjects: 1000})}}
	st := Evaluate(s, e, withFlows(counts{nonSensitive: 5000}.obs(),
		flowFig("acme-inc-us", "US", sketch.CategoryPersonal, 0, 5000)), now)
	if r, _ := findRule(st, ScopeVolumePrefix+"CAC-2025-0042"); r.Level != LevelOK || st.Decision != Allow || r.Estimate == 0 {
		t.Fatalf("not needed: %+v, decision %s", r, st.Decision)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 20114: "20,114", 1234567: "1,234,567"} {
		if got := i18n.Uint(n); got != want {
			t.Errorf("i18n.Uint(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestFlowsPresetSwitch: the flows stored serve either preset, with no
// replay: cac-2024 leaves exempt transfers out, cac-2022 counts them, and
// exempt and non-exempt transfers of a flow are one flow.
func TestFlowsPresetSwitch(t *testing.T) {
	y := &sketch.Year{}
	at := now.Unix()
	us := sketch.FlowKey{Recipient: "acme-inc-us", Destination: "US"}
	usExempt := us
	usExempt.Exempt = true
	sgExempt := sketch.FlowKey{Recipient: "newco-sg", Destination: "SG", Exempt: true}
	for i := range 100 {
		y.AddFlow(us, uint64(i), at, "crm", []uint64{sketch.EventHash("p", 0, int64(i))})
		y.AddFlow(usExempt, uint64(1000+i), at, "hr", []uint64{sketch.EventHash("p", 0, int64(50+i))})
		y.AddFlow(sgExempt, uint64(2000+i), at, "hr", []uint64{sketch.EventHash("p", 1, int64(i))})
	}
	h := sketch.History{2026: y}
	// With a free-trade zone, cac-2024 honours every exemption (see
	// Counting.IncludeExempt: flows follow the counters' reading).
	e := Entity{ID: "acme-sh", FTZ: "shanghai-lingang"}
	for _, tc := range []struct {
		preset string
		flows  []string
		usPpl  uint64
	}{
		{PresetCAC2024, []string{"acme-inc-us"}, 100},
		{PresetCAC2022, []string{"acme-inc-us", "newco-sg"}, 150},
	} {
		obs := Observe(settingsFor(t, tc.preset), e, h, 2026, 328, nil)
		w := settingsFor(t, tc.preset).Preset.Rules[0].Window
		var got []string
		for _, f := range obs.Flows[w] {
			got = append(got, f.Recipient)
			if f.Recipient == "acme-inc-us" && (f.People.Estimate < tc.usPpl-2 || f.People.Estimate > tc.usPpl+2) {
				t.Errorf("%s: acme-inc-us has %d people, want %d", tc.preset, f.People.Estimate, tc.usPpl)
			}
		}
		if !slices.Equal(got, tc.flows) {
			t.Errorf("%s: flows %v, want %v", tc.preset, got, tc.flows)
		}
	}
}
