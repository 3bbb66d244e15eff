package gate_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/testutil/poll"
	"github.com/transferwatch/transferwatch/pkg/decision"
	"github.com/transferwatch/transferwatch/pkg/gate"
)

// fakeClock is a clock the test moves by hand, so that staleness needs no
// sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// signal is a decisions-topic record as transferwatch publishes it
// (CONTRACT §5).
func signal(t testing.TB, entity string, d gate.Decision, version int64, reasons ...string) kafka.Message {
	t.Helper()
	mech := "none"
	if d == gate.Block {
		mech = "security_assessment"
	}
	if reasons == nil {
		reasons = []string{}
	}
	v, err := json.Marshal(decision.Signal{
		Entity: entity, Decision: d, Previous: gate.Allow, RequiredMechanism: mech,
		Policy: "cac-2022", Reasons: reasons,
		DecidedAt: time.Date(2026, 11, 25, 10, 0, 1, 0, time.FixedZone("CST", 8*3600)),
		Version:   version,
	})
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Message{Key: []byte(entity), Value: v}
}

// run runs g until the test ends and checks that Run returns nil.
func run(t *testing.T, g *gate.Gate) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// wait waits for g's first sync.
func wait(t *testing.T, g *gate.Gate) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := g.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

// eventually polls cond until it holds or 20s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 20*time.Second, what, cond)
}

// want checks one entity's answer.
type want struct {
	entity   string
	decision gate.Decision
	allowed  bool
	err      error
	version  int64
	known    bool
}

func check(t *testing.T, g *gate.Gate, cases ...want) {
	t.Helper()
	for _, w := range cases {
		a, ok := g.Allowed(w.entity)
		if ok != w.allowed || a.Decision != w.decision || !errors.Is(a.Err, w.err) ||
			a.Version != w.version || a.Known != w.known || a.Entity != w.entity {
			t.Errorf("Allowed(%q) = %v, {Decision:%q Err:%v Version:%d Known:%v Fresh:%v}; want %v, {Decision:%q Err:%v Version:%d Known:%v}",
				w.entity, ok, a.Decision, a.Err, a.Version, a.Known, a.Fresh, w.allowed, w.decision, w.err, w.version, w.known)
		}
		if (a.Err == nil) != a.Fresh && !errors.Is(a.Err, gate.ErrNotFollowed) {
			t.Errorf("Allowed(%q): Fresh %v with Err %v", w.entity, a.Fresh, a.Err)
		}
	}
}
