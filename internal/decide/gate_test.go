package decide_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/api"
	"github.com/transferwatch/transferwatch/internal/decide"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store/memstore"
	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
	"github.com/transferwatch/transferwatch/pkg/event"
	"github.com/transferwatch/transferwatch/pkg/gate"
)

// TestGateReadsRealOutput: package gate, which the pipelines embed, reads
// what the real decider publishes on the decisions topic (CONTRACT §5) and
// what the real API handler serves (CONTRACT §6), with no hand-written JSON
// in between, and answers as the decider decided. Both sides use the types
// of package decision; this test holds them to it across the boundary.
//
// Under cac-2024 the three entities are blocked (10,400 people's sensitive
// personal information), warned (90,000 people's, of 100,000) and allowed
// (1,000 people's); under
// cac-2022 personal-any blocks them all, and an entity never seen is
// blocked too, which the gate infers from the preset of the decisions.
func TestGateReadsRealOutput(t *testing.T) {
	for _, preset := range []string{"cac-2024", "cac-2022"} {
		t.Run(preset, func(t *testing.T) { gateReadsRealOutput(t, preset) })
	}
}

func gateReadsRealOutput(t *testing.T, preset string) {
	c := kafkatest.New(t, 1, decisions)
	st := memstore.New()
	in := newInstance(t, c, st, nil, decide.Options{Settings: settings(t, preset)})
	addSensitive(t, st, "acme-sh", 0, 10_400)
	b := sketch.Batch{}
	plain := sketch.CellOf(event.KindTransfer, false, false)
	b.Add("beta-bj", 2026, 328, plain, false, subjects(0, 90_000))
	b.Add("gamma-gz", 2026, 328, plain, false, subjects(0, 1000))
	if err := st.Merge(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	seen := []string{"acme-sh", "beta-bj", "gamma-gz"}
	if err := in.Evaluate(ctx, seen); err != nil {
		t.Fatal(err)
	}
	sigs := published(t, c)
	for _, id := range seen {
		if last(t, sigs, id).Version < 1 {
			t.Fatalf("%s: no version on the topic", id)
		}
	}
	const unseen = "newco-sh" // neither configured nor seen: the preset decides

	// wantOf is what the decider itself says of the entity.
	wantOf := func(t *testing.T, id string) gate.Answer {
		t.Helper()
		v, err := in.Verdict(id, day)
		if err != nil {
			t.Fatalf("decider verdict of %s: %v", id, err)
		}
		a := gate.Answer{Entity: id, Decision: v.Decision, RequiredMechanism: v.RequiredMechanism, Reasons: v.Reasons}
		if s, ok := in.Status(id); ok {
			a.Policy = s.Policy
			if string(s.RequiredMechanism) != v.RequiredMechanism || !slices.Equal(s.Reasons, v.Reasons) {
				t.Fatalf("%s: status and verdict disagree: %+v, %+v", id, s, v)
			}
		}
		return a
	}
	want := map[string]gate.Decision{"acme-sh": gate.Block, "beta-bj": gate.Warn, "gamma-gz": gate.Allow, unseen: gate.Allow}
	if preset == "cac-2022" {
		want = map[string]gate.Decision{"acme-sh": gate.Block, "beta-bj": gate.Block, "gamma-gz": gate.Block, unseen: gate.Block}
	}
	for id, d := range want {
		if got := wantOf(t, id).Decision; got != d {
			t.Fatalf("%s decided %s under %s, want %s: the test's data is wrong", id, got, preset, d)
		}
	}

	// check compares the gate's answers with the decider's.
	check := func(t *testing.T, g *gate.Gate, mode string, policy, version bool) {
		t.Helper()
		for _, id := range append(slices.Clone(seen), unseen) {
			want := wantOf(t, id)
			a := g.Decision(id)
			if a.Err != nil {
				t.Errorf("%s: %s: %v", mode, id, a.Err)
				continue
			}
			if a.Decision != want.Decision || a.RequiredMechanism != want.RequiredMechanism {
				t.Errorf("%s: %s: gate says %s (%s), decider %s (%s)", mode, id,
					a.Decision, a.RequiredMechanism, want.Decision, want.RequiredMechanism)
			}
			if id == unseen {
				if a.Known {
					t.Errorf("%s: %s known to the gate", mode, id)
				}
				continue
			}
			if !a.Known || !slices.Equal(a.Reasons, want.Reasons) {
				t.Errorf("%s: %s: known %v, reasons %q, want %q", mode, id, a.Known, a.Reasons, want.Reasons)
			}
			if policy && a.Policy != want.Policy {
				t.Errorf("%s: %s: policy %q, want %q", mode, id, a.Policy, want.Policy)
			}
			if version && a.Version != last(t, sigs, id).Version {
				t.Errorf("%s: %s: version %d, topic %d", mode, id, a.Version, last(t, sigs, id).Version)
			}
		}
	}
	runGate := func(t *testing.T, g *gate.Gate, err error) *gate.Gate {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		gctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- g.Run(gctx) }()
		t.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("gate Run: %v", err)
			}
		})
		if err := g.Wait(ctx); err != nil {
			t.Fatalf("gate Wait: %v", err)
		}
		return g
	}

	t.Run("topic", func(t *testing.T) {
		g, err := gate.NewFromTopic(gate.TopicOptions{Brokers: []string{c.Addr()}, Topic: decisions})
		check(t, runGate(t, g, err), "topic", true, true)
	})

	srv := httptest.NewServer(api.Handler(api.Options{
		Statuses: in.Decider,
		Ready:    func(*http.Request) error { return nil },
		Gatherer: in.reg,
		Now:      func() time.Time { return day },
	}))
	t.Cleanup(srv.Close)
	t.Run("api decision endpoint", func(t *testing.T) {
		g, err := gate.NewFromAPI(gate.APIOptions{BaseURL: srv.URL, Entities: append(slices.Clone(seen), unseen)})
		g = runGate(t, g, err)
		// The gate asked for the unseen entity too; the endpoint's answer
		// is then the decision the gate holds for it.
		for _, id := range append(slices.Clone(seen), unseen) {
			a, want := g.Decision(id), wantOf(t, id)
			if a.Err != nil || !a.Known || a.Decision != want.Decision || a.RequiredMechanism != want.RequiredMechanism ||
				!slices.Equal(a.Reasons, want.Reasons) {
				t.Errorf("%s: gate %+v, decider %+v", id, a, want)
			}
		}
	})
	t.Run("api entity list", func(t *testing.T) {
		g, err := gate.NewFromAPI(gate.APIOptions{BaseURL: srv.URL})
		check(t, runGate(t, g, err), "api list", true, false)
	})
}
