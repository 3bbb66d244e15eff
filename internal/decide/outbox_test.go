package decide_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/transferwatch/transferwatch/internal/decide"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/store"
	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
	"github.com/transferwatch/transferwatch/internal/testutil/poll"
	"github.com/transferwatch/transferwatch/internal/testutil/redistest"
)

func pending(t *testing.T, st decide.Store, entity string) store.Decision {
	t.Helper()
	d, err := st.Decision(context.Background(), entity)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSurvivorPublishesChangeOfCrashedInstance stops instance A between
// recording a change and publishing it; instance B, on the same Redis and
// topic and never restarted, publishes the change in its next periodic
// round.
func TestSurvivorPublishesChangeOfCrashedInstance(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	ctx := context.Background()
	addSensitive(t, redisClient(t, rds), "acme-sh", 0, 10_400) // block

	swapped := make(chan string, 1)
	release := make(chan struct{})
	a := newInstance(t, c, redisClient(t, rds), nil, decide.WithHooks(decide.Options{},
		func(entity string) {
			swapped <- entity
			<-release // A is dead to the world from here on
		}, nil))
	if err := a.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	aDone := make(chan struct{})
	var aErr error
	go func() {
		defer close(aDone)
		aErr = a.Evaluate(ctx, []string{"acme-sh"})
	}()
	var once sync.Once
	resume := func() error {
		once.Do(func() { close(release) })
		<-aDone
		return aErr
	}
	t.Cleanup(func() { _ = resume() })
	select {
	case <-swapped:
	case <-aDone:
		t.Fatalf("A's evaluation ended without recording a change: %v", aErr)
	case <-time.After(30 * time.Second):
		t.Fatal("A recorded no change")
	}

	st := redisClient(t, rds)
	if rec := pending(t, st, "acme-sh"); rec.Version != 1 || rec.Decision != "block" || rec.Pending != 1 {
		t.Fatalf("after A's swap the store holds %+v, want v1 block with 1 message pending", rec)
	}
	if got := published(t, c); len(got) != 0 {
		t.Fatalf("A published %v before its hook returned", got)
	}

	b := newInstance(t, c, redisClient(t, rds), nil, decide.Options{Refresh: 50 * time.Millisecond})
	if err := b.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	b.run(t)
	poll.Until(t, 20*time.Second, "B to publish A's change", func() bool { return pending(t, st, "acme-sh").Pending == 0 })
	got := published(t, c)
	if len(got) != 1 || got[0].Decision != policy.Block || got[0].Version != 1 || got[0].Previous != "" {
		t.Fatalf("topic holds %+v, want A's change: block v1", got)
	}
	if n := b.counter(t, "transferwatch_decision_changes_total"); n != 0 {
		t.Errorf("B counted %v changes; it recorded none", n)
	}
	if n := a.counter(t, "transferwatch_decision_changes_total"); n != 1 {
		t.Errorf("A counted %v changes, want 1", n)
	}

	// A comes back to life: the change is not published twice.
	if err := resume(); err != nil {
		t.Fatalf("A's evaluation after it resumed: %v", err)
	}
	if got := published(t, c); len(got) != 1 {
		t.Fatalf("topic holds %d records after A resumed, want 1: %+v", len(got), got)
	}
}

// TestAnnouncementNeverFollowsNewerChange: A's start-up announcement of
// allow v1 has taken the entity's lease when B records block v2. B cannot
// publish then; A writes its announcement and, once it lets the lease go,
// publishes v2 after it. The topic's last record is v2 (without the lease
// it was allow v1, written after block v2).
func TestAnnouncementNeverFollowsNewerChange(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	ctx := context.Background()
	addSensitive(t, redisClient(t, rds), "acme-sh", 0, 1_000) // allow
	b := newInstance(t, c, redisClient(t, rds), nil, decide.Options{})
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}

	var once sync.Once
	var bErr error
	a := newInstance(t, c, redisClient(t, rds), nil, decide.WithHooks(decide.Options{}, nil,
		func(entities []string) {
			once.Do(func() {
				if !slices.Contains(entities, "acme-sh") {
					bErr = fmt.Errorf("A announces %v without acme-sh", entities)
					return
				}
				// While A holds the lease: the entity breaches, and B,
				// evaluating after its flush, records the change.
				addSensitive(t, redisClient(t, rds), "acme-sh", 1_000, 10_400)
				bErr = b.Evaluate(ctx, []string{"acme-sh"})
			})
		}))
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if bErr != nil {
		t.Fatalf("B: %v", bErr)
	}
	if n := b.counter(t, "transferwatch_decision_changes_total"); n != 2 {
		t.Fatalf("B recorded %v changes, want 2 (allow v1, block v2)", n)
	}
	got := published(t, c)
	if vs := versions(got, "acme-sh"); !slices.Equal(vs, []int64{1, 1, 2}) {
		t.Fatalf("versions on the topic %v, want [1 1 2]: B's allow v1, A's announcement of it, then block v2", vs)
	}
	if l := last(t, got, "acme-sh"); l.Decision != policy.Block || l.Previous != policy.Allow {
		t.Errorf("last record %+v, want block after allow", l)
	}
	if rec := pending(t, redisClient(t, rds), "acme-sh"); rec.Pending != 0 || rec.Version != 2 {
		t.Errorf("store after the race: %+v", rec)
	}
}

// TestAnnouncementsRaceChanges: A re-announces every known entity as fast
// as it can while B records and publishes every entity's changes (allow,
// warn, block). Along the topic no entity's version ever goes down, and
// each one's last record is its highest version.
func TestAnnouncementsRaceChanges(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	ctx := context.Background()
	st := redisClient(t, rds)
	var entities []string
	for i := range 6 {
		e := fmt.Sprintf("entity-%d", i)
		entities = append(entities, e)
		addSensitive(t, st, e, 0, 1_000)
	}
	b := newInstance(t, c, redisClient(t, rds), nil, decide.Options{})
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	a := newInstance(t, c, redisClient(t, rds), nil, decide.Options{Refresh: time.Hour, Reannounce: 5 * time.Millisecond})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	aCtx, stopA := context.WithCancel(ctx)
	aDone := make(chan struct{})
	var aErr error
	go func() {
		defer close(aDone)
		aErr = a.Run(aCtx)
	}()
	t.Cleanup(func() { stopA(); <-aDone })

	from := 1_000
	for _, to := range []int{8_800, 10_400} {
		for _, e := range entities {
			addSensitive(t, st, e, from, to)
			if err := b.Evaluate(ctx, []string{e}); err != nil {
				t.Fatal(err)
			}
		}
		from = to
	}
	poll.Until(t, 30*time.Second, "every outbox drained", func() bool {
		for _, e := range entities {
			if pending(t, st, e).Pending > 0 {
				return false
			}
		}
		return true
	})
	// A round of re-announcements that started after the last change.
	drained := len(published(t, c))
	poll.Until(t, 30*time.Second, "re-announcements after the last change", func() bool {
		return len(published(t, c)) >= drained+2*len(entities)
	})
	stopA()
	<-aDone
	if aErr != nil {
		t.Fatal(aErr)
	}

	got := published(t, c)
	nonDecreasing(t, got)
	for _, e := range entities {
		vs := versions(got, e)
		for _, v := range []int64{1, 2, 3} {
			if !slices.Contains(vs, v) {
				t.Errorf("%s: version %d never published: %v", e, v, vs)
			}
		}
		if l := last(t, got, e); l.Version != 3 || l.Decision != policy.Block {
			t.Errorf("%s: last record %s v%d, want block v3", e, l.Decision, l.Version)
		}
	}
}

// TestFailedPublishRetriedFromStore: while the broker refuses writes the
// change stays in the store's outbox and the error metric moves; the next
// round publishes it from the store.
func TestFailedPublishRetriedFromStore(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	ctx := context.Background()
	st := redisClient(t, rds)
	d := newInstance(t, c, st, nil, decide.Options{})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}

	var refuse atomic.Bool
	refuse.Store(true)
	kc := c.Cluster
	kc.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if refuse.Load() {
			return nil, errors.New("test: produce refused"), true
		}
		return nil, nil, false
	})
	addSensitive(t, st, "acme-sh", 0, 10_400)
	err := d.Evaluate(ctx, []string{"acme-sh"})
	if err == nil || !strings.Contains(err.Error(), "kept in the store") {
		t.Fatalf("Evaluate with the broker refusing writes = %v, want a publish error", err)
	}
	if n := d.counter(t, "transferwatch_decision_publish_errors_total"); n != 1 {
		t.Errorf("publish_errors_total = %v, want 1", n)
	}
	if rec := pending(t, st, "acme-sh"); rec.Version != 1 || rec.Pending != 1 {
		t.Fatalf("store after the failed publish: %+v, want v1 with its message pending", rec)
	}
	if got := published(t, c); len(got) != 0 {
		t.Fatalf("topic holds %+v", got)
	}

	refuse.Store(false)
	if err := d.Evaluate(ctx, []string{"acme-sh"}); err != nil {
		t.Fatal(err)
	}
	got := published(t, c)
	if len(got) != 1 || got[0].Version != 1 || got[0].Decision != policy.Block {
		t.Fatalf("topic holds %+v, want block v1", got)
	}
	if rec := pending(t, st, "acme-sh"); rec.Pending != 0 {
		t.Errorf("outbox not drained: %+v", rec)
	}
	if n := d.counter(t, "transferwatch_decision_changes_total"); n != 1 {
		t.Errorf("changes_total = %v, want 1: the retry is no new change", n)
	}
}

// TestReannounce: Run publishes every entity's latest message again every
// Reannounce, unchanged.
func TestReannounce(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	st := redisClient(t, rds)
	addSensitive(t, st, "acme-sh", 0, 8_800) // warn
	d := newInstance(t, c, st, nil, decide.Options{Reannounce: 50 * time.Millisecond, Refresh: time.Hour})
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.run(t)
	poll.Until(t, 20*time.Second, "two re-announcements", func() bool { return len(published(t, c)) >= 3 })
	got := published(t, c)
	for i, s := range got {
		if s.Version != 1 || s.Decision != policy.Warn || s.Previous != "" || !s.DecidedAt.Equal(got[0].DecidedAt) {
			t.Errorf("record %d = %+v, want the change message warn v1 again", i, s)
		}
	}
}

// TestNudge: a nudge makes Run evaluate every known entity at once, not at
// the next refresh (an hour away here).
func TestNudge(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	st := redisClient(t, rds)
	addSensitive(t, st, "acme-sh", 0, 1_000) // allow
	d := newInstance(t, c, st, nil, decide.Options{Reannounce: time.Hour, Refresh: time.Hour})
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.run(t)
	if s, _ := d.Status("acme-sh"); s.Decision != policy.Allow {
		t.Fatalf("decision after start %s, want allow", s.Decision)
	}
	addSensitive(t, st, "acme-sh", 1_000, 10_400) // breached, seen only by a new round
	d.Nudge()
	poll.Until(t, 20*time.Second, "block after the nudge", func() bool {
		s, _ := d.Status("acme-sh")
		return s.Decision == policy.Block
	})
}
