package decide_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/decide"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
	"github.com/transferwatch/transferwatch/internal/testutil/poll"
	"github.com/transferwatch/transferwatch/internal/testutil/redistest"
	"github.com/transferwatch/transferwatch/pkg/decision"
)

// TestVerdictFailsClosed walks the decision answer through every state in
// which the decider does not know: before the first round, stale figures,
// the store's integrity in doubt, the store unreachable; and back.
func TestVerdictFailsClosed(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	ctx := context.Background()
	st := redisClient(t, rds)
	addSensitive(t, st, "acme-sh", 0, 10_400)
	clk := &clock{t: day}
	var integrity atomic.Pointer[error]
	d := newInstance(t, c, st, clk, decide.Options{
		Entities:     []policy.Entity{{ID: "acme-sh", Name: "Acme"}, {ID: "quiet-co"}},
		MaxStaleness: 2 * time.Minute,
		PingInterval: 20 * time.Millisecond,
		StoreOK: func() error {
			if err := integrity.Load(); err != nil {
				return *err
			}
			return nil
		},
	})
	verdict := func(id string, want error) decision.Verdict {
		t.Helper()
		v, err := d.Verdict(id, clk.Now())
		if !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Fatalf("Verdict(%s) = %+v, %v; want error %v", id, v, err, want)
		}
		return v
	}

	// Before the first evaluation: not ready, configured or not.
	for _, id := range []string{"acme-sh", "quiet-co", "nobody"} {
		verdict(id, decide.ErrNotReady)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	v := verdict("acme-sh", nil)
	if v.Decision != policy.Block || v.Version != 1 || v.DecidedAt == nil || !v.DecidedAt.Equal(day) || !v.AsOf.Equal(day) {
		t.Fatalf("verdict %+v, want block v1 decided and as of %s", v, day)
	}
	if v := verdict("quiet-co", nil); v.Decision != policy.Allow || v.Version != 1 {
		t.Errorf("configured entity without data: %+v, want allow v1", v)
	}
	v = verdict("nobody", nil)
	if v.Decision != policy.Allow || v.Version != 0 || v.DecidedAt != nil || !v.AsOf.Equal(day) {
		t.Errorf("unknown entity: %+v, want allow, no version, as of the round", v)
	}

	// The figures age: stale past MaxStaleness, fresh again after a round.
	clk.Advance(2*time.Minute + time.Second)
	verdict("acme-sh", decide.ErrStale)
	verdict("nobody", decide.ErrStale)
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if v := verdict("acme-sh", nil); !v.AsOf.Equal(clk.Now()) || !v.DecidedAt.Equal(day) || v.Version != 1 {
		t.Errorf("after a new round: %+v, want as of now, still decided at %s", v, day)
	}

	// The store's integrity in doubt: no answer, and rounds record nothing.
	doubt := errors.New("the consumer group committed past what the store holds")
	integrity.Store(&doubt)
	v2, err := d.Verdict("acme-sh", clk.Now())
	if !errors.Is(err, decide.ErrStoreIntegrity) || !errors.Is(err, doubt) {
		t.Fatalf("Verdict with the store in doubt = %+v, %v", v2, err)
	}
	if err := d.Evaluate(ctx, []string{"acme-sh"}); !errors.Is(err, decide.ErrStoreIntegrity) {
		t.Errorf("Evaluate with the store in doubt = %v, want ErrStoreIntegrity", err)
	}
	integrity.Store(nil)
	verdict("acme-sh", nil)

	// The store unreachable: the pings notice within moments.
	d.run(t)
	rds.Stop()
	poll.Until(t, 10*time.Second, "the decision to fail with the store down", func() bool {
		_, err := d.Verdict("acme-sh", clk.Now())
		return errors.Is(err, decide.ErrStoreUnavailable)
	})
	verdict("nobody", decide.ErrStoreUnavailable)
	rds.Start()
	poll.Until(t, 20*time.Second, "the decision to answer with the store back", func() bool {
		_, err := d.Verdict("acme-sh", clk.Now())
		return err == nil
	})
}

// TestStatusOfConfiguredEntity: a configured entity has a status from the
// start, marked as not evaluated, and a real one after the first round.
func TestStatusOfConfiguredEntity(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	d := newInstance(t, c, redisClient(t, rds), nil, decide.Options{
		Entities: []policy.Entity{{ID: "acme-sh", Name: "Acme", CIIO: true}},
	})
	s, ok := d.Status("acme-sh")
	if !ok || s.Entity != "acme-sh" || s.Name != "Acme" || !s.CIIO || s.Policy != "cac-2022" || s.Decision != "" || !s.UpdatedAt.IsZero() {
		t.Fatalf("status before the first round = %+v, %t; want a stub", s, ok)
	}
	if all := d.Statuses(); len(all) != 1 || all[0].Entity != "acme-sh" {
		t.Fatalf("statuses before the first round = %+v", all)
	}
	if _, ok := d.Status("nobody"); ok {
		t.Error("an entity neither configured nor seen has a status")
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A CIIO without a security assessment: block from the start.
	if s, ok := d.Status("acme-sh"); !ok || s.Decision != policy.Block || !s.UpdatedAt.Equal(day) || len(s.Rules) == 0 {
		t.Fatalf("status after the first round = %+v, want evaluated", s)
	}
}

// TestVerdictOfEntityFailingEvaluation: an entity the store lists but
// whose sketches cannot be read has no answer, where an unknown entity is
// allowed; the other entities answer.
func TestVerdictOfEntityFailingEvaluation(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	ctx := context.Background()
	st := redisClient(t, rds)
	addSensitive(t, st, "acme-sh", 0, 10_400)
	addSensitive(t, st, "broken-co", 0, 10)
	raw := rawRedis(t, rds)
	if err := raw.HSet(ctx, "tw:{broken-co}:y2026", "s0", "not a sketch").Err(); err != nil {
		t.Fatal(err)
	}
	d := newInstance(t, c, st, nil, decide.Options{})
	if err := d.Start(ctx); err == nil || !strings.Contains(err.Error(), "broken-co") {
		t.Fatalf("Start = %v, want the failure of broken-co", err)
	}
	if v, err := d.Verdict("broken-co", day); !errors.Is(err, decide.ErrNotReady) {
		t.Errorf("Verdict(broken-co) = %+v, %v; want ErrNotReady", v, err)
	}
	if v, err := d.Verdict("acme-sh", day); err != nil || v.Decision != policy.Block {
		t.Errorf("Verdict(acme-sh) = %+v, %v; want block", v, err)
	}
	if v, err := d.Verdict("nobody", day); err != nil || v.Decision != policy.Allow {
		t.Errorf("Verdict(nobody) = %+v, %v; want allow", v, err)
	}
}
