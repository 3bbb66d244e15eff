package policy

import (
	"encoding/json"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/sketch"
)

// keys returns the sorted keys of a decoded JSON object.
func keys(t *testing.T, v any) []string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("not a JSON object: %#v", v)
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func sorted(ks ...string) []string { slices.Sort(ks); return ks }

func decode(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// contractStatus is the example of CONTRACT §6, evaluated.
func contractStatus(t *testing.T) Status {
	s := settingsFor(t, PresetCAC2022)
	s.UsePoint = true
	e := Entity{ID: "acme-sh", Name: "Acme (Shanghai) Co., Ltd.", Approvals: []Approval{
		{Mechanism: SecurityAssessment, Status: Pending, Reference: "CAC-2025-0042", ValidFrom: day(2025, 3, 1), ValidUntil: day(2027, 3, 1)},
	}}
	obs := withFigure(Observation{}, sketch.SincePrevJan1, sketch.Personal, 100_412, 102_852)
	obs = withFigure(obs, sketch.SincePrevJan1, sketch.Sensitive, 5_000, 5_120)
	obs.Series = map[sketch.Window]map[sketch.Counter][]float64{
		sketch.SincePrevJan1: {sketch.Sensitive: series(694, func(i int) float64 { return max(0, 5000+200*float64(i-693)) })},
	}
	return Evaluate(s, e, obs, now.Add(123*time.Millisecond))
}

func TestStatusJSON(t *testing.T) {
	m := decode(t, contractStatus(t))
	if got, want := keys(t, m), sorted("entity", "name", "ciio", "policy", "decision", "required_mechanism",
		"reasons", "counters", "rules", "approvals", "updated_at", "flows_total", "flows_outside_scope"); !slices.Equal(got, want) {
		t.Errorf("EntityStatus keys %v, want %v", got, want)
	}
	for k, want := range map[string]any{
		"entity": "acme-sh", "name": "Acme (Shanghai) Co., Ltd.", "ciio": false, "policy": "cac-2022",
		"decision": "block", "required_mechanism": "security_assessment",
		"updated_at": "2026-11-25T10:00:01+08:00",
	} {
		if m[k] != want {
			t.Errorf("%s = %#v, want %#v", k, m[k], want)
		}
	}
	if got := m["reasons"].([]any); len(got) == 0 || got[0] != "personal-100k breached: 100412 >= 100000 since 2025-01-01" {
		t.Errorf("reasons %q", got)
	}

	date := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	counters := m["counters"].([]any)
	if len(counters) != 8 {
		t.Errorf("%d counters, want 8 (4 counters × 2 windows)", len(counters))
	}
	var personal map[string]any
	for _, c := range counters {
		if got, want := keys(t, c), sorted("counter", "window", "window_start", "estimate", "upper_bound"); !slices.Equal(got, want) {
			t.Fatalf("counter keys %v, want %v", got, want)
		}
		c := c.(map[string]any)
		if !date.MatchString(c["window_start"].(string)) {
			t.Errorf("window_start %q", c["window_start"])
		}
		if c["counter"] == "personal" && c["window"] == "since_prev_jan1" {
			personal = c
		}
	}
	if personal["window_start"] != "2025-01-01" || personal["estimate"] != 100412.0 || personal["upper_bound"] != 102852.0 {
		t.Errorf("personal since_prev_jan1: %v", personal)
	}

	rules := map[string]map[string]any{}
	for _, r := range m["rules"].([]any) {
		if got, want := keys(t, r), sorted("id", "counter", "window", "threshold", "estimate", "upper_bound", "ratio",
			"level", "mechanism", "covered", "forecast_crossing"); !slices.Equal(got, want) {
			t.Fatalf("rule keys %v, want %v", got, want)
		}
		r := r.(map[string]any)
		rules[r["id"].(string)] = r
	}
	want := map[string]any{
		"id": "personal-100k", "counter": "personal", "window": "since_prev_jan1", "threshold": 100000.0,
		"estimate": 100412.0, "upper_bound": 102852.0, "ratio": 1.004, "level": "breached",
		"mechanism": "security_assessment", "covered": false, "forecast_crossing": nil,
	}
	for k, v := range want {
		if rules["personal-100k"][k] != v {
			t.Errorf("personal-100k %s = %#v, want %#v", k, rules["personal-100k"][k], v)
		}
	}
	if fc, ok := rules["sensitive-10k"]["forecast_crossing"].(string); !ok || !date.MatchString(fc) {
		t.Errorf("sensitive-10k forecast_crossing = %#v, want a date", rules["sensitive-10k"]["forecast_crossing"])
	}
	if rules["important-data"]["counter"] != "important_data" {
		t.Errorf("important-data counter = %#v", rules["important-data"]["counter"])
	}

	approvals := m["approvals"].([]any)
	if len(approvals) != 1 {
		t.Fatalf("%d approvals, want 1", len(approvals))
	}
	if got, want := keys(t, approvals[0]), sorted("mechanism", "status", "reference", "valid_until", "days_left", "filed_on", "filing_due", "reapply_by", "scope"); !slices.Equal(got, want) {
		t.Errorf("approval keys %v, want %v", got, want)
	}
	a := approvals[0].(map[string]any)
	if a["valid_until"] != "2027-03-01" || a["days_left"] != 96.0 || a["status"] != "pending" {
		t.Errorf("approval %v", a)
	}
}

func TestEmptyStatusJSON(t *testing.T) {
	b, err := json.Marshal(Evaluate(settingsFor(t, PresetCAC2024), Entity{ID: "x"}, Observation{}, now))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"reasons", "counters", "rules", "approvals"} {
		if _, ok := m[k].([]any); !ok {
			t.Errorf("%s = %#v, want an array (never null)", k, m[k])
		}
	}
}

func TestSignalJSON(t *testing.T) {
	st := contractStatus(t)
	m := decode(t, st.Signal(Warn, 7))
	if got, want := keys(t, m), sorted("entity", "decision", "previous", "required_mechanism", "policy", "reasons",
		"decided_at", "version"); !slices.Equal(got, want) {
		t.Errorf("signal keys %v, want %v", got, want)
	}
	for k, want := range map[string]any{
		"entity": "acme-sh", "decision": "block", "previous": "warn", "required_mechanism": "security_assessment",
		"policy": "cac-2022", "decided_at": "2026-11-25T10:00:01+08:00", "version": 7.0,
	} {
		if m[k] != want {
			t.Errorf("%s = %#v, want %#v", k, m[k], want)
		}
	}
	if got := m["reasons"].([]any); len(got) != len(st.Reasons) {
		t.Errorf("reasons %v, want %q", got, st.Reasons)
	}

	sig := st.Signal(Allow, 1)
	sig.Reasons[0] = "changed"
	if st.Reasons[0] == "changed" {
		t.Error("the signal shares its reasons with the status")
	}
}

func TestVerdictJSON(t *testing.T) {
	st := contractStatus(t)
	m := decode(t, st.Verdict())
	if got, want := keys(t, m), sorted("entity", "decision", "required_mechanism", "reasons", "version", "decided_at", "as_of"); !slices.Equal(got, want) {
		t.Errorf("verdict keys %v, want %v", got, want)
	}
	if m["decision"] != "block" || m["required_mechanism"] != "security_assessment" {
		t.Errorf("verdict %v", m)
	}
	// An unknown entity gets allow, with an empty list of reasons.
	m = decode(t, Evaluate(settingsFor(t, PresetCAC2022), Entity{ID: "nobody"}, Observation{}, now).Verdict())
	if m["decision"] != "allow" || m["required_mechanism"] != "none" || len(m["reasons"].([]any)) != 0 {
		t.Errorf("unknown entity verdict %v", m)
	}
	if r := (Status{}).Verdict().Reasons; r == nil {
		t.Error("nil reasons in a verdict")
	}
}

func TestDate(t *testing.T) {
	d, err := civil.ParseDate("2027-03-01")
	if err != nil || d != (civil.NewDate(2027, 3, 1)) {
		t.Fatalf("ParseDate: %v %v", d, err)
	}
	if _, err := civil.ParseDate("2027-02-30"); err == nil {
		t.Error("ParseDate accepted 2027-02-30")
	}
	if got := d.DaysSince(civil.NewDate(2026, 11, 25)); got != 96 {
		t.Errorf("DaysSince = %d, want 96", got)
	}
	if got := (civil.NewDate(2024, 2, 28)).AddDays(2); got != (civil.NewDate(2024, 3, 1)) {
		t.Errorf("AddDays over a leap day = %s", got)
	}
	if got := civil.DateOf(time.Time{}).DaysSince(civil.NewDate(2026, 1, 1)); got >= 0 {
		t.Errorf("zero time is %d days after 2026", got)
	}
	b, _ := json.Marshal(d)
	var back Date
	if string(b) != `"2027-03-01"` || json.Unmarshal(b, &back) != nil || back != d {
		t.Errorf("JSON round trip: %s → %v", b, back)
	}
	if err := json.Unmarshal([]byte(`20270301`), &back); err == nil {
		t.Error("a number decoded as a date")
	}
	if !d.In(cst).Equal(day(2027, 3, 1)) {
		t.Errorf("In: %v", d.In(cst))
	}
}

func TestDecisions(t *testing.T) {
	if got := Decisions(); !slices.Equal(got, []Decision{Allow, Warn, Block}) {
		t.Errorf("Decisions() = %v", got)
	}
	if Decision("maybe").Valid() || !Block.Valid() {
		t.Error("Decision.Valid")
	}
	if Allow.AtLeast(Block) != Block || Block.AtLeast(Warn) != Block || Allow.AtLeast(Warn) != Warn {
		t.Error("Decision.AtLeast")
	}
}
