package decide_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/decide"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store/redisstore"
	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
	"github.com/transferwatch/transferwatch/internal/testutil/redistest"
	"github.com/transferwatch/transferwatch/internal/testutil/syncbuf"
	"github.com/transferwatch/transferwatch/pkg/decision"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// day is the fixed "now" of the decision tests: 25 November 2026, day 328.
var day = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// clock is a clock the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// redisClient returns a new client of the Redis server in, closed when the
// test ends: one per simulated instance.
func redisClient(t *testing.T, in *redistest.Instance) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(redisstore.Options{Addrs: []string{in.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawRedis returns a plain client, to lose or restore the store's keys.
func rawRedis(t *testing.T, in *redistest.Instance) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: in.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

// addSensitive merges the sensitive transfers of people [from, to) of
// entity on day into st: under cac-2022, 1,000 is allow, 8,800 warn and
// 10,400 block (sensitive-10k).
func addSensitive(t *testing.T, st interface {
	Merge(context.Context, sketch.Batch) error
}, entity string, from, to int) {
	t.Helper()
	b := sketch.Batch{}
	b.Add(entity, 2026, 328, sketch.CellOf(event.KindTransfer, true, false), false, subjects(from, to-from))
	if err := st.Merge(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// instance is one decider with its own writer, registry and log.
type instance struct {
	*decide.Decider
	reg  *prometheus.Registry
	logs *syncbuf.Buffer
}

// newInstance returns a decider of the decisions topic of c, evaluating
// under cac-2022 less personal-any (see settings) at the clock's time (day
// if clk is nil).
func newInstance(t *testing.T, c *kafkatest.Cluster, st decide.Store, clk *clock, o decide.Options) *instance {
	t.Helper()
	w := writer(c)
	t.Cleanup(func() { w.Close() })
	in := &instance{reg: prometheus.NewRegistry(), logs: &syncbuf.Buffer{}}
	if o.Settings.Preset.Name == "" {
		o.Settings = settings(t, "cac-2022-mechanics")
	}
	if o.Now == nil {
		o.Now = func() time.Time { return day }
		if clk != nil {
			o.Now = clk.Now
		}
	}
	if o.Topic == nil {
		o.Topic = topic(c)
	}
	o.Logger = slog.New(slog.NewJSONHandler(in.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	in.Decider = decide.New(st, w, in.reg, o)
	return in
}

// counter returns the value of a counter or gauge of the instance (summed
// over its series).
func (in *instance) counter(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := in.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

// run runs the instance's Run until the test ends.
func (in *instance) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := in.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// published returns every record of partition 0 of the decisions topic,
// in order, read up to the high watermark: exactly what the topic holds.
func published(t *testing.T, c *kafkatest.Cluster) []decision.Signal {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := c.Dialer().DialLeader(ctx, "tcp", c.Addr(), decisions, 0)
	if err != nil {
		t.Fatal(err)
	}
	hwm, err := conn.ReadLastOffset()
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	if hwm == 0 {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{c.Addr()}, Topic: decisions, Partition: 0, MaxWait: 50 * time.Millisecond,
	})
	defer r.Close()
	var out []decision.Signal
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read the decisions topic up to %d: %v", hwm, err)
		}
		var s decision.Signal
		if err := json.Unmarshal(m.Value, &s); err != nil {
			t.Fatalf("record %d: %v", m.Offset, err)
		}
		if string(m.Key) != s.Entity {
			t.Errorf("record %d: key %q, entity %q", m.Offset, m.Key, s.Entity)
		}
		out = append(out, s)
		if m.Offset >= hwm-1 {
			return out
		}
	}
}

// versions returns the entity's versions in topic order.
func versions(sigs []decision.Signal, entity string) []int64 {
	var vs []int64
	for _, s := range sigs {
		if s.Entity == entity {
			vs = append(vs, s.Version)
		}
	}
	return vs
}

// last returns the entity's last record.
func last(t *testing.T, sigs []decision.Signal, entity string) decision.Signal {
	t.Helper()
	for _, sig := range slices.Backward(sigs) {
		if sig.Entity == entity {
			return sig
		}
	}
	t.Fatalf("no record of %s on the topic", entity)
	return decision.Signal{}
}

// nonDecreasing fails the test unless every entity's versions never go
// down along the topic.
func nonDecreasing(t *testing.T, sigs []decision.Signal) {
	t.Helper()
	top := map[string]int64{}
	for i, s := range sigs {
		if s.Version < top[s.Entity] {
			t.Errorf("record %d: %s version %d after version %d", i, s.Entity, s.Version, top[s.Entity])
		}
		top[s.Entity] = max(top[s.Entity], s.Version)
	}
}
