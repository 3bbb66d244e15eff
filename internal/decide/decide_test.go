package decide_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/decide"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store/memstore"
	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
	"github.com/transferwatch/transferwatch/pkg/event"
)

const decisions = "transfer-decisions"

// settings returns the settings of a preset. The tests of the decision
// mechanics (changes, outbox, versions, announcements) drive entities
// through allow, warn and block with sensitive people under cac-2022's
// sensitive-10k; "cac-2022-mechanics" is cac-2022 without personal-any,
// which would block every entity from its first person (the law's own
// tests are in internal/policy).
func settings(t testing.TB, preset string) policy.Settings {
	t.Helper()
	mechanics := preset == "cac-2022-mechanics"
	if mechanics {
		preset = "cac-2022"
	}
	p, err := policy.PresetByName(preset)
	if err != nil {
		t.Fatal(err)
	}
	if mechanics {
		p.Rules = slices.DeleteFunc(slices.Clone(p.Rules), func(r policy.Rule) bool { return r.ID == "personal-any" })
	}
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return policy.Settings{Preset: p, RenewalLeadDays: 183, ForecastLeadDays: 183, Location: loc}
}

// subjects returns n distinct, uniformly spread hashes (splitmix64 of the
// numbers from, from+1, …), as SipHash would give.
func subjects(from, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		z := uint64(from+i+1) * 0x9e3779b97f4a7c15
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		out[i] = z ^ z>>31
	}
	return out
}

func writer(c *kafkatest.Cluster) *kafka.Writer {
	return decide.NewWriter(kafka.TCP(c.Addr()), decisions, nil)
}

func topic(c *kafkatest.Cluster) *decide.TopicReader {
	return decide.NewTopicReader(kafka.TCP(c.Addr()), decisions, nil)
}

func figure(s policy.Status, k sketch.Counter, w sketch.Window) uint64 {
	for _, c := range s.Counters {
		if c.Counter == k && c.Window == w {
			return c.Estimate
		}
	}
	return 0
}

// TestPresetSwitchNeedsNoReplay reads the same stored sketches under both
// presets: cac-2022 counts the exempt events, cac-2024 leaves them out,
// with no replay in between.
func TestPresetSwitchNeedsNoReplay(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	st := memstore.New()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	b := sketch.Batch{}
	plain := sketch.CellOf(event.KindTransfer, false, false)
	exempt := sketch.CellOf(event.KindTransfer, false, true)
	b.Add("acme-sh", 2026, 300, plain, false, subjects(0, 600))
	b.Add("acme-sh", 2026, 300, exempt, false, subjects(10_000, 400))
	b.Add("acme-sh", 2025, 100, exempt, true, subjects(20_000, 50)) // last year, exempt, important
	if err := st.Merge(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		preset        string
		personal      uint64 // current_year
		personalSince uint64 // since_prev_jan1
		decision      policy.Decision
	}{
		{"cac-2022", 1000, 1050, policy.Block}, // exempt important data last year counts
		// Exemptions left out: the entity has a free-trade zone, so its
		// exempt transfers may rest on the negative list. Last year's
		// exempt event carried important data and may have been transit
		// (which never exempts important data): the store cannot tell
		// exemptions apart, so that window counts every exempt transfer.
		// And the headcount is unknown: the exempt people may be hr-exempt
		// beyond the staff, which warns (advisory).
		{"cac-2024", 600, 1050, policy.Warn},
	}
	for _, tc := range cases {
		t.Run(tc.preset, func(t *testing.T) {
			w := writer(c)
			defer w.Close()
			d := decide.New(st, w, prometheus.NewRegistry(), decide.Options{
				Settings: settings(t, tc.preset), Now: func() time.Time { return now }, Topic: topic(c),
				Entities: []policy.Entity{{ID: "acme-sh", FTZ: "shanghai"}},
			})
			if err := d.Resync(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := d.Evaluate(context.Background(), []string{"acme-sh"}); err != nil {
				t.Fatal(err)
			}
			s, ok := d.Status("acme-sh")
			if !ok {
				t.Fatal("no status")
			}
			if got := figure(s, sketch.Personal, sketch.CurrentYear); got != tc.personal {
				t.Errorf("personal current_year = %d, want %d", got, tc.personal)
			}
			if got := figure(s, sketch.Personal, sketch.SincePrevJan1); got != tc.personalSince {
				t.Errorf("personal since_prev_jan1 = %d, want %d", got, tc.personalSince)
			}
			if s.Decision != tc.decision || s.Policy != tc.preset {
				t.Errorf("decision %s under %s, want %s: %v", s.Decision, s.Policy, tc.decision, s.Reasons)
			}
		})
	}
}

// TestChangePublishedOnce: two deciders (two instances) evaluate the same
// entity over the same store; each change reaches the topic once.
func TestChangePublishedOnce(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	st := memstore.New()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	var ds []*decide.Decider
	for _, reg := range regs {
		w := writer(c)
		t.Cleanup(func() { w.Close() })
		d := decide.New(st, w, reg, decide.Options{
			Settings: settings(t, "cac-2022-mechanics"), Now: func() time.Time { return now }, Topic: topic(c),
		})
		if err := d.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	sens := sketch.CellOf(event.KindTransfer, true, false)
	steps := []struct {
		n    int
		want policy.Decision
	}{{1000, policy.Allow}, {8800, policy.Warn}, {10_400, policy.Block}}
	from := 0
	for _, s := range steps {
		b := sketch.Batch{}
		b.Add("acme-sh", 2026, 328, sens, false, subjects(from, s.n-from))
		from = s.n
		if err := st.Merge(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if err := d.Evaluate(context.Background(), []string{"acme-sh"}); err != nil {
				t.Fatal(err)
			}
			if got, _ := d.Status("acme-sh"); got.Decision != s.want {
				t.Fatalf("after %d people: %s, want %s: %v", s.n, got.Decision, s.want, got.Reasons)
			}
		}
	}
	// Evaluate publishes before it returns, so the topic now holds every
	// message either instance published: a change published twice would
	// be a fourth message, one published by neither a missing one.
	sigs := published(t, c)
	if len(sigs) != 3 {
		t.Fatalf("%d messages on the topic, want 3: %+v", len(sigs), sigs)
	}
	for i, want := range []string{"allow", "warn", "block"} {
		if sig := sigs[i]; string(sig.Decision) != want || sig.Version != int64(i+1) {
			t.Errorf("message %d: %s v%d, want %s v%d", i, sig.Decision, sig.Version, want, i+1)
		}
	}
	// The history keeps each change once, newest first, with the figures
	// behind it; the topic carries only the message.
	hist, err := st.DecisionHistory(context.Background(), "acme-sh", 10)
	if err != nil || len(hist) != 3 {
		t.Fatalf("history = %d entries, %v; want 3", len(hist), err)
	}
	for i, want := range []struct {
		decision, previous string
		estimate           uint64
	}{{"block", "warn", 10_400}, {"warn", "allow", 8800}, {"allow", "", 1000}} {
		var ch policy.Change
		if err := json.Unmarshal(hist[i].Value, &ch); err != nil {
			t.Fatal(err)
		}
		j := slices.IndexFunc(ch.Rules, func(r policy.RuleFigure) bool { return r.ID == "sensitive-10k" })
		if string(ch.Decision) != want.decision || string(ch.Previous) != want.previous || ch.Version != int64(3-i) || j < 0 {
			t.Fatalf("history entry %d: %s after %q v%d, rules %+v", i, ch.Decision, ch.Previous, ch.Version, ch.Rules)
		}
		if got := ch.Rules[j].Estimate; got < want.estimate*98/100 || got > want.estimate*102/100 {
			t.Errorf("history entry %d: sensitive-10k estimate %d, want about %d", i, got, want.estimate)
		}
	}
	// What is published is the stored message, which carries no figures.
	latest, err := st.LatestMessage(context.Background(), "acme-sh")
	if err != nil || !strings.Contains(string(latest.Value), `"version":3`) {
		t.Fatalf("latest message = %s, %v; want version 3", latest.Value, err)
	}
	if strings.Contains(string(latest.Value), `"rules"`) {
		t.Errorf("the topic message carries the figures: %s", latest.Value)
	}
	// Each change is counted once, by the instance that published it: the
	// sum over both instances is 1 for each new decision.
	counted := map[string]float64{}
	for _, reg := range regs {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "transferwatch_decision_changes_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "decision" {
						counted[l.GetValue()] += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	if want := map[string]float64{"allow": 1, "warn": 1, "block": 1}; !maps.Equal(counted, want) {
		t.Errorf("changes counted across both instances = %v, want %v", counted, want)
	}
}

// TestStartAnnouncesEveryKnownEntity: at start-up each configured entity
// and each stored one gets its decision published, and the gauges are set.
func TestStartAnnouncesEveryKnownEntity(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	st := memstore.New()
	b := sketch.Batch{}
	b.Add("seen-only", 2026, 10, 0, false, subjects(0, 5))
	if err := st.Merge(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	w := writer(c)
	defer w.Close()
	reg := prometheus.NewRegistry()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	d := decide.New(st, w, reg, decide.Options{
		Settings: settings(t, "cac-2022"),
		Entities: []policy.Entity{{ID: "configured", Name: "Configured Co.", CIIO: true}},
		Now:      func() time.Time { return now },
		Topic:    topic(c),
	})
	if s, ok := d.Status("configured"); !ok || s.Name != "Configured Co." || s.Decision != "" || !s.UpdatedAt.IsZero() {
		t.Errorf("configured status before start = %+v, want a stub not evaluated yet", s)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	msgs := c.ReadAll(decisions, 2, 10*time.Second)
	got := map[string]bool{}
	for _, m := range msgs {
		got[string(m.Key)] = true
	}
	if len(msgs) != 2 || !got["configured"] || !got["seen-only"] {
		t.Errorf("start-up messages for %v, want configured and seen-only", got)
	}
	// A CIIO without a security assessment is block before its first
	// transfer (PIPL Art. 40).
	if s, ok := d.Status("configured"); !ok || s.Name != "Configured Co." || s.Decision != policy.Block {
		t.Errorf("configured status = %+v", s)
	}
	if ids := d.Statuses(); len(ids) != 2 || ids[0].Entity != "configured" {
		t.Errorf("statuses not sorted by id: %v", ids)
	}
	if n := testutil.CollectAndCount(reg, "transferwatch_entity_decision"); n != 6 {
		t.Errorf("entity_decision series = %d, want 3 decisions × 2 entities", n)
	}
}

// TestRoundInChunks: a round over more entities than one chunk evaluates
// and announces every one of them, and is complete (Verdict answers) only
// once the last chunk ran.
func TestRoundInChunks(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	st := memstore.New()
	const n = 150 // three chunks
	b := sketch.Batch{}
	for i := range n {
		b.Add("ent-"+strconv.Itoa(i), 2026, 10, 0, false, subjects(i, 3))
	}
	if err := st.Merge(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	w := writer(c)
	defer w.Close()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	d := decide.New(st, w, prometheus.NewRegistry(), decide.Options{
		Settings: settings(t, "cac-2022"),
		Now:      func() time.Time { return now },
		Topic:    topic(c),
	})
	if _, err := d.Verdict("ent-0", now); !errors.Is(err, decide.ErrNotReady) {
		t.Fatalf("Verdict before the first round = %v, want ErrNotReady", err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	msgs := c.ReadAll(decisions, n, 20*time.Second)
	got := map[string]bool{}
	for _, m := range msgs {
		got[string(m.Key)] = true
	}
	if len(got) != n {
		t.Fatalf("start-up messages for %d entities, want %d", len(got), n)
	}
	ss := d.Statuses()
	if len(ss) != n {
		t.Fatalf("%d statuses, want %d", len(ss), n)
	}
	for _, s := range ss {
		// No mechanism yet: a first transfer is block under cac-2022.
		if s.Decision != policy.Block {
			t.Fatalf("status of %s = %q, want block", s.Entity, s.Decision)
		}
	}
	if v, err := d.Verdict("ent-"+strconv.Itoa(n-1), now); err != nil || v.Decision != policy.Block {
		t.Fatalf("Verdict after the round = %+v, %v; want block", v, err)
	}
}

// TestEntityMetrics: the per-entity series are read from the cached
// statuses when scraped: a change of decision shows at the next scrape,
// one decision at 1 and the others at 0, and the series pass the linter.
func TestEntityMetrics(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	st := memstore.New()
	ctx := context.Background()
	b := sketch.Batch{}
	b.Add("acme", 2026, 10, 0, false, subjects(0, 3))
	if err := st.Merge(ctx, b); err != nil {
		t.Fatal(err)
	}
	w := writer(c)
	defer w.Close()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	d := decide.New(st, w, reg, decide.Options{
		Settings: settings(t, "cac-2022"),
		Now:      func() time.Time { return now },
		Topic:    topic(c),
	})
	if n := testutil.CollectAndCount(reg, "transferwatch_entity_decision"); n != 0 {
		t.Fatalf("%d decision series before any evaluation, want none", n)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	decisionSeries := func(want policy.Decision) {
		t.Helper()
		var text strings.Builder
		text.WriteString("# HELP transferwatch_entity_decision 1 for the entity's current decision (allow, warn, block), 0 for the others.\n# TYPE transferwatch_entity_decision gauge\n")
		for _, dec := range policy.Decisions() {
			v := 0
			if dec == want {
				v = 1
			}
			fmt.Fprintf(&text, "transferwatch_entity_decision{decision=%q,entity=\"acme\"} %d\n", dec, v)
		}
		if err := testutil.CollectAndCompare(reg, strings.NewReader(text.String()), "transferwatch_entity_decision"); err != nil {
			t.Error(err)
		}
	}
	first, _ := d.Status("acme")
	decisionSeries(first.Decision)
	if n := testutil.CollectAndCount(reg, "transferwatch_rule_level"); n != len(first.Rules) {
		t.Errorf("rule_level series = %d, want one per rule (%d)", n, len(first.Rules))
	}

	// Important data: a security assessment is required (2022 Measures
	// Art. 4(1)), and there is none.
	b = sketch.Batch{}
	b.Add("acme", 2026, 11, 0, true, subjects(100, 1))
	if err := st.Merge(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := d.Evaluate(ctx, []string{"acme"}); err != nil {
		t.Fatal(err)
	}
	if s, _ := d.Status("acme"); s.Decision != policy.Block {
		t.Fatalf("decision with important data = %s, want block", s.Decision)
	}
	decisionSeries(policy.Block)
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v, %v", problems, err)
	}
}
