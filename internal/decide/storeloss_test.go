package decide_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/decide"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
	"github.com/transferwatch/transferwatch/internal/testutil/poll"
	"github.com/transferwatch/transferwatch/internal/testutil/redistest"
	"github.com/transferwatch/transferwatch/pkg/gate"
)

// follow starts a gate following the decisions topic of c.
func follow(t *testing.T, c *kafkatest.Cluster) *gate.Gate {
	t.Helper()
	g, err := gate.NewFromTopic(gate.TopicOptions{Brokers: []string{c.Addr()}, Topic: decisions, MaxStaleness: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := g.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	return g
}

// gateSays waits until the gate answers decision d at version v.
func gateSays(t *testing.T, g *gate.Gate, entity string, d gate.Decision, v int64) {
	t.Helper()
	poll.Until(t, 20*time.Second, "the gate to say "+string(d), func() bool {
		a := g.Decision(entity)
		return a.Err == nil && a.Decision == d && a.Version == v
	})
}

// TestVersionsSurviveStoreLoss publishes allow v1, warn v2, block v3, then
// empties Redis (as a restart without persistence does). The next change
// is v4, both from the instance that published v3 and from one started
// after the loss, and the gate follows it; had versions restarted at 1, the
// gate would ignore them as older and keep saying block.
func TestVersionsSurviveStoreLoss(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	raw := rawRedis(t, rds)
	ctx := context.Background()
	st := redisClient(t, rds)
	d1 := newInstance(t, c, st, nil, decide.Options{})
	if err := d1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	from := 0
	for _, to := range []int{1_000, 8_800, 10_400} {
		addSensitive(t, st, "acme-sh", from, to)
		from = to
		if err := d1.Evaluate(ctx, []string{"acme-sh"}); err != nil {
			t.Fatal(err)
		}
	}
	g := follow(t, c)
	gateSays(t, g, "acme-sh", gate.Block, 3)

	// The store is lost; the entity's data comes back smaller (a part of
	// the backlog, say): allow. The instance that published v3 goes on.
	if err := raw.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	addSensitive(t, st, "acme-sh", 0, 1_000)
	if err := d1.Evaluate(ctx, []string{"acme-sh"}); err != nil {
		t.Fatal(err)
	}
	l := last(t, published(t, c), "acme-sh")
	if l.Version != 4 || l.Decision != policy.Allow || l.Previous != policy.Block {
		t.Fatalf("after the loss the instance published %s v%d (previous %s), want allow v4 after block", l.Decision, l.Version, l.Previous)
	}
	gateSays(t, g, "acme-sh", gate.Allow, 4)

	// Lost again, and a new instance starts: it reads v4 from the topic.
	if err := raw.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	addSensitive(t, st, "acme-sh", 0, 10_400)
	d2 := newInstance(t, c, redisClient(t, rds), nil, decide.Options{})
	if err := d2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	got := published(t, c)
	l = last(t, got, "acme-sh")
	if l.Version != 5 || l.Decision != policy.Block || l.Previous != policy.Allow {
		t.Fatalf("the new instance published %s v%d (previous %s), want block v5 after allow", l.Decision, l.Version, l.Previous)
	}
	gateSays(t, g, "acme-sh", gate.Block, 5)
	nonDecreasing(t, got)
	if rec := pending(t, st, "acme-sh"); rec.Version != 5 || rec.Decision != "block" || rec.Pending != 0 {
		t.Errorf("store record %+v, want v5 block", rec)
	}
}

// TestStoreRestoredFromOlderBackup: a backup taken while v1 was recorded
// but not yet published is restored after v2 and v3 were published. The
// record is repaired from the topic without a new message, the stale
// pending v1 is dropped rather than published after v3, and the next
// change is v4.
func TestStoreRestoredFromOlderBackup(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	raw := rawRedis(t, rds)
	ctx := context.Background()
	st := redisClient(t, rds)
	addSensitive(t, st, "acme-sh", 0, 1_000)

	type backup struct {
		decision map[string]string
		outbox   []string
	}
	var b *backup
	d1 := newInstance(t, c, st, nil, decide.WithHooks(decide.Options{}, func(entity string) {
		if b != nil {
			return
		}
		b = &backup{}
		b.decision = raw.HGetAll(ctx, "tw:{acme-sh}:decision").Val()
		b.outbox = raw.LRange(ctx, "tw:{acme-sh}:outbox", 0, -1).Val()
	}, nil))
	if err := d1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if b == nil || b.decision["version"] != "1" || len(b.outbox) != 1 {
		t.Fatalf("backup %+v, want v1 with its message pending", b)
	}
	for _, to := range []int{8_800, 10_400} {
		addSensitive(t, st, "acme-sh", 1_000, to)
		if err := d1.Evaluate(ctx, []string{"acme-sh"}); err != nil {
			t.Fatal(err)
		}
	}

	// Restore the decision keys of the backup; the sketches are intact.
	pipe := raw.TxPipeline()
	pipe.Del(ctx, "tw:{acme-sh}:decision", "tw:{acme-sh}:outbox", "tw:{acme-sh}:history")
	pipe.HSet(ctx, "tw:{acme-sh}:decision", b.decision)
	pipe.RPush(ctx, "tw:{acme-sh}:outbox", b.outbox)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	before := len(published(t, c))
	d2 := newInstance(t, c, redisClient(t, rds), nil, decide.Options{})
	if err := d2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	got := published(t, c)
	nonDecreasing(t, got)
	if vs := versions(got, "acme-sh"); !slices.Equal(vs, []int64{1, 2, 3, 3}) {
		t.Fatalf("versions on the topic %v, want [1 2 3 3]: the changes, then the start-up announcement of v3", vs)
	}
	if len(got) != before+1 {
		t.Errorf("the restart published %d records, want the announcement only", len(got)-before)
	}
	rec := pending(t, st, "acme-sh")
	if rec.Version != 3 || rec.Decision != "block" || rec.Pending != 0 {
		t.Fatalf("store record after the restart %+v, want v3 block repaired, nothing pending", rec)
	}
	if n := d2.counter(t, "transferwatch_decision_changes_total"); n != 0 {
		t.Errorf("the repair counted %v changes", n)
	}
	if !strings.Contains(d2.logs.String(), "behind the decisions topic") {
		t.Errorf("no warning about the store being behind the topic in:\n%s", d2.logs.String())
	}
	hist, err := st.DecisionHistory(ctx, "acme-sh", 10)
	if err != nil || len(hist) == 0 || hist[0].Version != 3 {
		t.Errorf("history after the repair = %v, %v; want v3 first", hist, err)
	}
}

// TestStoreLossSeenByStaleFloor: instance A read the topic at v1; B then
// published v2 and v3; the store is lost. A, whose floor says 1, finds the
// record below it, reads the topic again and continues at v4, not v2.
func TestStoreLossSeenByStaleFloor(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	raw := rawRedis(t, rds)
	ctx := context.Background()
	st := redisClient(t, rds)
	addSensitive(t, st, "acme-sh", 0, 1_000)
	a := newInstance(t, c, redisClient(t, rds), nil, decide.Options{})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	b := newInstance(t, c, redisClient(t, rds), nil, decide.Options{})
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, to := range []int{8_800, 10_400} {
		addSensitive(t, st, "acme-sh", 1_000, to)
		if err := b.Evaluate(ctx, []string{"acme-sh"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	addSensitive(t, st, "acme-sh", 0, 8_800) // warn
	if err := a.Evaluate(ctx, []string{"acme-sh"}); err != nil {
		t.Fatal(err)
	}
	got := published(t, c)
	nonDecreasing(t, got)
	if l := last(t, got, "acme-sh"); l.Version != 4 || l.Decision != policy.Warn || l.Previous != policy.Block {
		t.Fatalf("A published %s v%d (previous %s), want warn v4 after block", l.Decision, l.Version, l.Previous)
	}
}
