package dossier_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/buildinfo"
	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/dossier"
	"github.com/transferwatch/transferwatch/internal/i18n"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store"
	"github.com/transferwatch/transferwatch/internal/store/memstore"
	"github.com/transferwatch/transferwatch/internal/store/storetest"
	"github.com/transferwatch/transferwatch/pkg/event"
)

func shanghai(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func date(t *testing.T, s string) policy.Date {
	t.Helper()
	d, err := civil.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fill merges perDay new non-sensitive people a day into entity's year, on
// days 0..lastDay, and one flow holding them all.
func fill(t *testing.T, st store.Store, entity string, year, lastDay, perDay int) {
	t.Helper()
	b := sketch.Batch{}
	cell := sketch.CellOf(event.KindTransfer, false, false)
	n := 0
	for day := 0; day <= lastDay; day++ {
		hashes := make([]uint64, perDay)
		for i := range hashes {
			hashes[i] = storetest.Hash(n)
			n++
		}
		b.Add(entity, year, day, cell, false, hashes)
		at := time.Date(year, 1, 1+day, 12, 0, 0, 0, time.UTC).Unix()
		b.AddFlow(entity, year, sketch.FlowKey{Recipient: "acme-inc-us", Destination: "US", Category: sketch.CategoryPersonal}, uint64(day), at, "crm-sync", hashes)
	}
	if err := st.Merge(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func settings(t *testing.T, preset string) policy.Settings {
	t.Helper()
	p, err := policy.PresetByName(preset)
	if err != nil {
		t.Fatal(err)
	}
	return policy.Settings{Preset: p, RenewalLeadDays: 183, ForecastLeadDays: 183, Location: shanghai(t)}
}

func TestBuildSeriesForecastAndStartBy(t *testing.T) {
	loc := shanghai(t)
	now := time.Date(2026, 7, 1, 10, 0, 0, 0, loc) // day 181 of 2026
	st := memstore.New()
	fill(t, st, "acme-sh", 2026, 181, 400)
	b := dossier.New(st, dossier.Options{
		Settings: settings(t, policy.PresetCAC2024), Fingerprint: "abc",
		Build: buildinfo.Info{Version: "v9", Revision: "r", GoVersion: "go"},
		Now:   func() time.Time { return now },
	})
	d, err := b.Build(t.Context(), "acme-sh")
	if err != nil {
		t.Fatal(err)
	}
	if d.Today != date(t, "2026-07-01") || d.Entity.Configured || d.Config.Fingerprint != "abc" || d.Build.Version != "v9" {
		t.Fatalf("header: today %s configured %v fingerprint %q build %+v", d.Today, d.Entity.Configured, d.Config.Fingerprint, d.Build)
	}

	// The series of non_sensitive since 1 January: a point a day up to
	// today, the rules personal-100k and personal-1m, a forecast to 31 December.
	i := slices.IndexFunc(d.Series, func(s dossier.Series) bool {
		return s.Counter == sketch.NonSensitive && s.Window == sketch.CurrentYear
	})
	if i < 0 {
		t.Fatalf("no non_sensitive series in %d series", len(d.Series))
	}
	s := d.Series[i]
	if len(s.Points) != 182 || s.Points[0].Date != date(t, "2026-01-01") || s.Points[181].Date != d.Today {
		t.Fatalf("points: %d from %v to %v, want 182 from 2026-01-01 to today", len(s.Points), s.Points[0].Date, s.Points[len(s.Points)-1].Date)
	}
	if got := s.Points[181].People; got < 72800*97/100 || got > 72800*103/100 {
		t.Errorf("today's point %d, want about 72800", got)
	}
	var rules []string
	for _, th := range s.Thresholds {
		rules = append(rules, th.Rule)
	}
	if !slices.Equal(rules, []string{"personal-1m", "personal-100k"}) {
		t.Errorf("thresholds %v", rules)
	}
	if s.Growth == nil || s.Growth.RatePerDay < 380 || s.Growth.RatePerDay > 420 {
		t.Fatalf("growth %+v, want about 400 a day", s.Growth)
	}
	if f := s.Forecast; len(f) != 184 || f[0].People != s.Held || f[len(f)-1].Date != date(t, "2026-12-31") {
		t.Fatalf("forecast: %d points, first %+v, last %+v", len(f), f[0], f[len(f)-1])
	}
	rep := d.Status.Rules[slices.IndexFunc(d.Status.Rules, func(r policy.RuleReport) bool { return r.ID == "personal-100k" })]
	if rep.ForecastCrossing == nil {
		t.Fatal("personal-100k: no forecast crossing")
	}
	// The forecast line crosses the threshold on the policy's crossing day.
	for _, p := range s.Forecast {
		if p.People >= 100000 {
			if p.Date != *rep.ForecastCrossing {
				t.Errorf("forecast line crosses 100000 on %s, the policy on %s", p.Date, rep.ForecastCrossing)
			}
			break
		}
	}

	// Start-by: crossing minus 18 and minus 6 months; both past, so late.
	if len(d.StartBy) != 1 {
		t.Fatalf("start-by %+v", d.StartBy)
	}
	sb := d.StartBy[0]
	c := *rep.ForecastCrossing
	if sb.Rule != "personal-100k" || sb.Crossing != c || sb.Mechanism != policy.StandardContract ||
		sb.Earliest != dossier.AddMonths(c, -18) || sb.Latest != dossier.AddMonths(c, -6) || sb.State != dossier.StartLate {
		t.Errorf("start-by %+v (crossing %s)", sb, c)
	}
	// The plan: a standard contract, from today.
	if len(d.Plans) != 1 || d.Plans[0].Mechanism != policy.StandardContract || d.Plans[0].Start != d.Today ||
		d.Plans[0].StartBasis != dossier.BasisNow || d.Plans[0].Deadline == nil || *d.Plans[0].Deadline != sb.Latest {
		t.Errorf("plans %+v", d.Plans)
	}
	// Flows and counters are the status's.
	if len(d.Flows) != 1 || d.Flows[0].Recipient != "acme-inc-us" || d.Flows[0].Estimate == 0 {
		t.Errorf("flows %+v", d.Flows)
	}
	if d.History == nil || len(d.History) != 0 {
		t.Errorf("history %v, want empty", d.History)
	}
	if _, err := json.Marshal(d); err != nil {
		t.Fatal(err)
	}
}

func TestAddMonths(t *testing.T) {
	for _, c := range []struct {
		from   string
		months int
		want   string
	}{
		{"2027-09-04", -18, "2026-03-04"},
		{"2027-09-04", -6, "2027-03-04"},
		{"2026-08-31", -6, "2026-02-28"},
		{"2028-08-31", -6, "2028-02-29"},
		{"2027-03-31", -18, "2025-09-30"},
		{"2026-01-15", 12, "2027-01-15"},
	} {
		if got := dossier.AddMonths(date(t, c.from), c.months); got != date(t, c.want) {
			t.Errorf("AddMonths(%s, %d) = %s, want %s", c.from, c.months, got, c.want)
		}
	}
}

func TestStartByStates(t *testing.T) {
	today := date(t, "2026-07-01")
	cross := func(s string) policy.Status {
		c := date(t, s)
		return policy.Status{Rules: []policy.RuleReport{
			{ID: "personal-100k", Threshold: 100000, Mechanism: policy.StandardContract, ForecastCrossing: &c},
			{ID: "covered", Mechanism: policy.SecurityAssessment, ForecastCrossing: &c, Covered: true},
			{ID: "advisory", Mechanism: policy.MechanismNone, ForecastCrossing: &c},
		}}
	}
	for _, c := range []struct{ crossing, state, earliest, latest string }{
		{"2028-02-01", dossier.StartAhead, "2026-08-01", "2027-08-01"},
		{"2028-01-01", dossier.StartOpen, "2026-07-01", "2027-07-01"},
		{"2027-01-01", dossier.StartOpen, "2025-07-01", "2026-07-01"},
		{"2026-12-31", dossier.StartLate, "2025-06-30", "2026-06-30"},
	} {
		got := dossier.StartByDates(cross(c.crossing), today)
		if len(got) != 1 || got[0].State != c.state || got[0].Earliest != date(t, c.earliest) || got[0].Latest != date(t, c.latest) {
			t.Errorf("crossing %s: %+v, want %s from %s to %s", c.crossing, got, c.state, c.earliest, c.latest)
		}
	}
}

func TestPlansSecurityAssessmentAndRenewal(t *testing.T) {
	today := date(t, "2026-07-01")
	until := date(t, "2027-03-01")
	by, _ := policy.ReapplyBy(until)
	c := date(t, "2028-06-15")
	st := policy.Status{
		Rules: []policy.RuleReport{
			{ID: "sensitive-10k", Mechanism: policy.SecurityAssessment, ForecastCrossing: &c},
			{ID: "sensitive-any", Mechanism: policy.StandardContract, Level: policy.LevelBreached},
		},
		Approvals: []policy.ApprovalReport{{Mechanism: policy.SecurityAssessment, Status: policy.Approved, Reference: "CAC-1", ValidUntil: &until, ReapplyBy: &by}},
	}
	plans := dossier.NewPlans(policy.PresetCAC2024, st, dossier.StartByDates(st, today), today)
	if len(plans) != 3 {
		t.Fatalf("plans %+v", plans)
	}
	sa, sc, rn := plans[0], plans[1], plans[2]
	// The security assessment starts at the earliest start-by date.
	if sa.Mechanism != policy.SecurityAssessment || sa.Start != date(t, "2026-12-15") || sa.StartBasis != dossier.BasisStartBy {
		t.Errorf("security assessment plan %+v", sa)
	}
	keys := []string{}
	for _, s := range sa.Steps {
		keys = append(keys, s.Key)
	}
	if !slices.Equal(keys, []string{"preparation", "provincial_review", "national_assessment", "decision"}) {
		t.Errorf("steps %v", keys)
	}
	// 6 to 18 months in all.
	if d := sa.DecidedEarliest.DaysSince(sa.Start); d != 180 {
		t.Errorf("shortest application %d days, want 180", d)
	}
	if d := sa.DecidedLatest.DaysSince(sa.Start); d != 540 {
		t.Errorf("longest application %d days, want 540", d)
	}
	if sa.ValidityYears != 3 || sa.ValidityBasis != "2024 Provisions Art. 9" || sa.ReapplyBy == nil {
		t.Errorf("validity %d %q reapply %v", sa.ValidityYears, sa.ValidityBasis, sa.ReapplyBy)
	}
	// The standard contract is needed now, before the security assessment starts.
	if sc.Mechanism != policy.StandardContract || sc.Start != today || sc.StartBasis != dossier.BasisNow || !slices.Equal(sc.Rules, []string{"sensitive-any"}) {
		t.Errorf("standard contract plan %+v", sc)
	}
	// The renewal of CAC-1: 18 months before expiry has passed, start today; due by its re-application deadline.
	if rn.Kind != dossier.KindRenewal || rn.Renews != "CAC-1" || rn.Start != today || rn.Deadline == nil || *rn.Deadline != by {
		t.Errorf("renewal plan %+v", rn)
	}
}

func TestChecklistLabels(t *testing.T) {
	cat := i18n.New()
	items := dossier.Checklist()
	if len(items) != 12 {
		t.Fatalf("%d items, want the seed's 12", len(items))
	}
	filled := map[string]bool{}
	for _, it := range items {
		for _, l := range i18n.Langs() {
			if txt := cat.T(l, "checklist."+it.Key); txt == "" || strings.HasPrefix(txt, "⟦") {
				t.Errorf("checklist.%s has no %s label", it.Key, l)
			}
		}
		switch it.Supplier {
		case dossier.SupplierTransferwatch:
			if len(it.Fills) == 0 || it.Section == "" {
				t.Errorf("%s: filled in by transferwatch but fills nothing", it.Key)
			}
		case dossier.SupplierCompany:
			if len(it.Fills) != 0 {
				t.Errorf("%s: supplied by the company but fills %v", it.Key, it.Fills)
			}
		default:
			t.Errorf("%s: supplier %q", it.Key, it.Supplier)
		}
		for _, f := range it.Fills {
			filled[f] = true
			if _, ok := cat.Lookup("fill." + f); !ok {
				t.Errorf("fill.%s has no label", f)
			}
		}
	}
	for _, f := range []string{dossier.FillVolumes, dossier.FillCategories, dossier.FillRecipients, dossier.FillFlowDiagram, dossier.FillCountingMethod} {
		if !filled[f] {
			t.Errorf("no document takes transferwatch's %s", f)
		}
	}
	if zh := cat.T(i18n.ZH, "checklist.pipia"); zh != "个人信息保护影响评估报告" {
		t.Errorf("pipia in Chinese: %q", zh)
	}
}

func TestBuildUnknownAndConfigured(t *testing.T) {
	loc := shanghai(t)
	now := time.Date(2026, 7, 1, 10, 0, 0, 0, loc)
	st := memstore.New()
	from := time.Date(2025, 3, 1, 0, 0, 0, 0, loc)
	b := dossier.New(st, dossier.Options{
		Settings: settings(t, policy.PresetCAC2024),
		Entities: []policy.Entity{{ID: "globex", Name: "Globex", Approvals: []policy.Approval{{
			Mechanism: policy.SecurityAssessment, Status: policy.Approved, Reference: "CAC-2025-0042",
			ValidFrom: from, ValidUntil: from.AddDate(2, 0, 0),
		}}}},
		Now: func() time.Time { return now },
	})
	if _, err := b.Build(t.Context(), "nobody"); !errors.Is(err, dossier.ErrUnknownEntity) {
		t.Fatalf("unknown entity: %v", err)
	}
	d, err := b.Build(t.Context(), "globex")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Entity.Configured || len(d.History) != 0 || d.Recorded.Version != 0 {
		t.Errorf("configured entity never decided: %+v %v %+v", d.Entity, d.History, d.Recorded)
	}
	var kinds []string
	for _, e := range d.Timeline {
		kinds = append(kinds, e.Kind+" "+e.Date.String())
	}
	want := []string{"valid_from 2025-03-01", "today 2026-07-01", "reapply_by 2026-11-30", "valid_until 2027-03-01"}
	if !slices.Equal(kinds, want) {
		t.Errorf("timeline %v, want %v", kinds, want)
	}
	if len(d.Plans) != 1 || d.Plans[0].Kind != dossier.KindRenewal {
		t.Errorf("plans %+v, want the renewal of CAC-2025-0042", d.Plans)
	}
}

func TestHistoryFromStore(t *testing.T) {
	st := memstore.New()
	prev := store.Decision{}
	for v, dec := range []policy.Decision{policy.Allow, policy.Warn, policy.Block} {
		s := policy.Status{Entity: "acme-sh", Decision: dec, Reasons: []string{"r"}, Rules: []policy.RuleReport{{ID: "personal-100k", Estimate: uint64(v), Level: policy.LevelOK}}}
		msg, _ := json.Marshal(s.Change(policy.Decision(prev.Decision), int64(v+1)))
		next := store.Decision{Version: int64(v + 1), Decision: string(dec)}
		if ok, err := st.SwapDecision(t.Context(), "acme-sh", prev, next, msg); !ok || err != nil {
			t.Fatal(ok, err)
		}
		prev = next
	}
	h, err := dossier.History(t.Context(), st, "acme-sh", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Version != 3 || h[0].Decision != policy.Block || h[0].Previous != policy.Warn || h[1].Version != 2 ||
		len(h[0].Rules) != 1 || h[0].Rules[0].Estimate != 2 {
		t.Errorf("history %+v", h)
	}
}

// TestSeriesSincePrevJan1: under cac-2022 the rules hold counts since 1
// January of last year; the series starts then, and personal since 1
// January of this year is drawn too.
func TestSeriesSincePrevJan1(t *testing.T) {
	loc := shanghai(t)
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, loc) // day 59 of 2026
	st := memstore.New()
	fill(t, st, "acme-sh", 2025, 364, 10)
	b := dossier.New(st, dossier.Options{Settings: settings(t, policy.PresetCAC2022), Now: func() time.Time { return now }})
	d, err := b.Build(t.Context(), "acme-sh")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range d.Series {
		got = append(got, string(s.Counter)+"/"+string(s.Window)+" "+s.Start.String())
		if s.Window == sketch.SincePrevJan1 && s.Counter == sketch.Personal {
			if n := len(s.Points); n != 365+60 {
				t.Errorf("personal since_prev_jan1: %d points, want %d", n, 365+60)
			}
			if last := s.Points[len(s.Points)-1]; last.Date != d.Today || last.People < 3500 {
				t.Errorf("last point %+v", last)
			}
		}
	}
	want := []string{"processed/since_prev_jan1 2025-01-01", "personal/since_prev_jan1 2025-01-01",
		"sensitive/since_prev_jan1 2025-01-01", "personal/current_year 2026-01-01"}
	if !slices.Equal(got, want) {
		t.Errorf("series %v, want %v", got, want)
	}
	// A settings without a location is read as UTC, not a panic.
	if s := dossier.NewSeries(policy.Settings{Preset: settings(t, policy.PresetCAC2022).Preset}, d.Status, policy.Observation{}, d.Today); len(s) != 4 {
		t.Errorf("%d series without a location", len(s))
	}
}

func TestDeadlines(t *testing.T) {
	today := date(t, "2026-07-01")
	c, until, by, past := date(t, "2027-09-04"), date(t, "2027-03-01"), date(t, "2026-11-30"), date(t, "2026-05-01")
	st := policy.Status{
		UpdatedAt: today.In(time.UTC),
		Rules:     []policy.RuleReport{{ID: "personal-100k", Mechanism: policy.StandardContract, ForecastCrossing: &c}},
		Approvals: []policy.ApprovalReport{
			{Mechanism: policy.SecurityAssessment, Status: policy.Approved, Reference: "CAC-1", ValidUntil: &until, ReapplyBy: &by},
			{Mechanism: policy.StandardContract, Status: policy.Approved, Reference: "SC-old", ValidUntil: &past},
		},
	}
	var got []string
	for _, e := range dossier.Deadlines(st, today) {
		got = append(got, e.Date.String()+" "+e.Kind)
	}
	want := []string{"2026-11-30 reapply_by", "2027-03-01 valid_until", "2027-03-04 start_by_latest", "2027-09-04 forecast_crossing"}
	if !slices.Equal(got, want) {
		t.Errorf("deadlines %v, want %v", got, want)
	}
}
