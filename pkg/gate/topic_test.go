package gate_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
	"github.com/transferwatch/transferwatch/pkg/gate"
)

const topic = "transfer-decisions"

// topicGate starts a cluster with the decisions topic, produces msgs, and
// returns a running gate on it with a fake clock.
func topicGate(t *testing.T, msgs ...kafka.Message) (*kafkatest.Cluster, *gate.Gate, *fakeClock) {
	t.Helper()
	c := kafkatest.New(t, 3, topic)
	if len(msgs) > 0 {
		c.Produce(topic, msgs...)
	}
	clock := newFakeClock()
	g, err := gate.NewFromTopic(gate.TopicOptions{
		Brokers: []string{c.Addr()}, MaxStaleness: 200 * time.Millisecond, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, g)
	wait(t, g)
	return c, g, clock
}

func TestTopicKeepsHighestVersion(t *testing.T) {
	_, g, _ := topicGate(t,
		signal(t, "acme-sh", gate.Allow, 1),
		signal(t, "acme-sh", gate.Block, 3, "personal-100k breached: 100412 >= 100000 since 2025-01-01"),
		signal(t, "acme-sh", gate.Warn, 2), // older, arrives late
		signal(t, "beta-bj", gate.Warn, 2),
		signal(t, "beta-bj", gate.Block, 1), // older, arrives late
		signal(t, "gamma-gz", gate.Block, 4),
		signal(t, "gamma-gz", gate.Allow, 5),
		signal(t, "delta-sz", "quarantine", 1), // a decision this client does not know
		kafka.Message{Key: []byte("acme-sh"), Value: []byte("{not json")},
		kafka.Message{Key: []byte("gamma-gz")}, // tombstone
	)
	check(t, g,
		want{entity: "acme-sh", decision: gate.Block, version: 3, known: true},
		want{entity: "beta-bj", decision: gate.Warn, allowed: true, version: 2, known: true},
		want{entity: "gamma-gz", decision: gate.Allow, allowed: true, version: 5, known: true},
		want{entity: "delta-sz", decision: "quarantine", version: 1, known: true},
		want{entity: "never-seen", decision: gate.Block}, // cac-2022: a first transfer needs a contract
	)
	a := g.Decision("acme-sh")
	if a.RequiredMechanism != "security_assessment" || a.Policy != "cac-2022" ||
		!slices.Equal(a.Reasons, []string{"personal-100k breached: 100412 >= 100000 since 2025-01-01"}) {
		t.Errorf("acme-sh answer = %+v", a)
	}
}

func TestTopicFollowsChanges(t *testing.T) {
	c, g, _ := topicGate(t, signal(t, "acme-sh", gate.Warn, 1))
	check(t, g, want{entity: "acme-sh", decision: gate.Warn, allowed: true, version: 1, known: true})

	c.Produce(topic, signal(t, "acme-sh", gate.Block, 2))
	eventually(t, "acme-sh is blocked", func() bool { return g.Decision("acme-sh").Decision == gate.Block })
	check(t, g, want{entity: "acme-sh", decision: gate.Block, version: 2, known: true})

	// A late retry of version 1 changes nothing; the announcement of
	// version 2 at a restart (same version, same key, so after it in the
	// partition) replaces the reasons.
	c.Produce(topic, signal(t, "acme-sh", gate.Warn, 1), signal(t, "acme-sh", gate.Block, 2, "restated"))
	eventually(t, "the restatement arrives", func() bool {
		return slices.Equal(g.Decision("acme-sh").Reasons, []string{"restated"})
	})
	check(t, g, want{entity: "acme-sh", decision: gate.Block, version: 2, known: true})
}

func TestTopicQuietTopicStaysFresh(t *testing.T) {
	_, g, clock := topicGate(t, signal(t, "acme-sh", gate.Allow, 1))
	check(t, g, want{entity: "acme-sh", decision: gate.Allow, allowed: true, version: 1, known: true})

	clock.Advance(time.Hour)
	// Nothing fetched since: stale, whatever the decision.
	check(t, g, want{entity: "acme-sh", decision: gate.Allow, err: gate.ErrStale, version: 1, known: true},
		want{entity: "never-seen", err: gate.ErrStale})
	// The next empty fetch answered by the broker makes it fresh again.
	eventually(t, "the gate is fresh again", func() bool { _, ok := g.Allowed("acme-sh"); return ok })
	if a := g.Decision("acme-sh"); a.AsOf.Before(clock.Now()) {
		t.Errorf("AsOf = %v, before the clock %v", a.AsOf, clock.Now())
	}
}

func TestTopicFailsClosedWhenBrokerGone(t *testing.T) {
	c, g, clock := topicGate(t, signal(t, "acme-sh", gate.Allow, 1), signal(t, "beta-bj", gate.Block, 1))
	check(t, g, want{entity: "acme-sh", decision: gate.Allow, allowed: true, version: 1, known: true})

	c.Close()
	// A request already queued may still be answered as the cluster shuts
	// down, so move the clock until the gate has gone stale; no fetch can
	// succeed from then on.
	eventually(t, "the gate goes stale", func() bool {
		clock.Advance(200*time.Millisecond + time.Nanosecond)
		return !g.Decision("acme-sh").Fresh
	})
	check(t, g,
		want{entity: "acme-sh", decision: gate.Allow, err: gate.ErrStale, version: 1, known: true},
		want{entity: "beta-bj", decision: gate.Block, err: gate.ErrStale, version: 1, known: true},
		want{entity: "never-seen", err: gate.ErrStale},
	)
	if a := g.Decision("acme-sh"); !a.AsOf.Before(clock.Now().Add(-200 * time.Millisecond)) {
		t.Errorf("answer after the broker went = %+v at %v", a, clock.Now())
	}
}

func TestTopicNeverSynced(t *testing.T) {
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	noTopic := kafkatest.New(t, 1, "some-other-topic")

	for _, tc := range []struct{ name, broker string }{
		{"no broker", deadAddr},
		{"no topic", noTopic.Addr()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := gate.NewFromTopic(gate.TopicOptions{Brokers: []string{tc.broker}, MaxStaleness: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			// Before Run.
			check(t, g, want{entity: "acme-sh", err: gate.ErrNotSynced})

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- g.Run(ctx) }()
			wctx, wcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer wcancel()
			if err := g.Wait(wctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Wait = %v, want the deadline", err)
			}
			check(t, g, want{entity: "acme-sh", err: gate.ErrNotSynced})

			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
			if err := g.Wait(context.Background()); !errors.Is(err, gate.ErrStopped) {
				t.Errorf("Wait after Run = %v, want ErrStopped", err)
			}
			if err := g.Run(context.Background()); !errors.Is(err, gate.ErrAlreadyRun) {
				t.Errorf("second Run = %v, want ErrAlreadyRun", err)
			}
		})
	}
}

func TestNewFromTopicRejectsBadOptions(t *testing.T) {
	for name, o := range map[string]gate.TopicOptions{
		"no brokers":         {},
		"negative staleness": {Brokers: []string{"localhost:9092"}, MaxStaleness: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := gate.NewFromTopic(o); !errors.Is(err, gate.ErrInvalidOptions) {
				t.Errorf("NewFromTopic = %v, want ErrInvalidOptions", err)
			}
		})
	}
}
