package ingest_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/ingest"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store/memstore"
	"github.com/transferwatch/transferwatch/internal/store/redisstore"
	"github.com/transferwatch/transferwatch/internal/subject"
	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
	"github.com/transferwatch/transferwatch/internal/testutil/poll"
	"github.com/transferwatch/transferwatch/internal/testutil/redistest"
	"github.com/transferwatch/transferwatch/internal/testutil/syncbuf"
)

const (
	in  = "events"
	dlq = "events.dlq"
)

// rig is an ingester on a kfake cluster with the in-process store.
type rig struct {
	c     *kafkatest.Cluster
	store *memstore.Store
	reg   *prometheus.Registry
	ing   *ingest.Ingester
	stop  context.CancelFunc
	done  chan error
}

func newRig(t *testing.T, flush time.Duration, now time.Time) *rig {
	return newRigWith(t, flush, now, ingest.Options{})
}

// newRigOne is a rig on a topic of one partition, flushing every 20ms.
func newRigOne(t *testing.T, now time.Time, o ingest.Options) *rig {
	return newRigOn(t, 1, 20*time.Millisecond, now, o)
}

// consumer returns a consumer of group "g" on topic in of c.
func consumer(t *testing.T, c *kafkatest.Cluster) *ingest.Consumer {
	t.Helper()
	cons, err := ingest.NewConsumer(ingest.ConsumerConfig{
		Brokers: []string{c.Addr()}, Topic: in, GroupID: "g", Transport: c.Transport(),
		SessionTimeout: 6 * time.Second, MaxWait: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cons.Close() })
	return cons
}

func newRigWith(t *testing.T, flush time.Duration, now time.Time, o ingest.Options) *rig {
	return newRigOn(t, 2, flush, now, o)
}

func newRigOn(t *testing.T, partitions int32, flush time.Duration, now time.Time, o ingest.Options) *rig {
	t.Helper()
	return newRigStore(t, partitions, flush, now, o, nil)
}

// newRigStore is newRigOn with the ingester's store wrapped by wrap (nil:
// the memstore itself), to inject faults between the ingester and it.
func newRigStore(t *testing.T, partitions int32, flush time.Duration, now time.Time, o ingest.Options, wrap func(*memstore.Store) ingest.Store) *rig {
	t.Helper()
	c := kafkatest.New(t, partitions, in)
	// The dead-letter topic refuses messages over 200 kB, as a topic left
	// at a small max.message.bytes would.
	cl := &kafka.Client{Addr: kafka.TCP(c.Addr())}
	resp, err := cl.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: dlq, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "200000"}},
	}}})
	if err != nil || resp.Errors[dlq] != nil {
		t.Fatalf("create %s: %v %v", dlq, err, resp)
	}
	r := &rig{c: c, store: memstore.New(), reg: prometheus.NewRegistry(), done: make(chan error, 1)}
	writer := &kafka.Writer{Addr: kafka.TCP(c.Addr()), Topic: dlq, BatchTimeout: time.Millisecond,
		BatchBytes: 16 << 20, RequiredAcks: kafka.RequireAll}
	t.Cleanup(func() { writer.Close() })
	loc, _ := time.LoadLocation("Asia/Shanghai")
	key, _ := subject.ParseKey("000102030405060708090a0b0c0d0e0f")
	o.Location, o.Hasher, o.FlushInterval = loc, subject.New(key), flush
	o.Now = func() time.Time { return now }
	if o.Logger == nil {
		logs := &syncbuf.Buffer{}
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("ingester log:\n%s", logs.String())
			}
		})
	}
	var st ingest.Store = r.store
	if wrap != nil {
		st = wrap(r.store)
	}
	r.ing = ingest.New(consumer(t, c), writer, st, r.reg, o)
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() { r.done <- r.ing.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func (r *rig) committed() int64 {
	sum := int64(0)
	for _, off := range r.c.Committed("g", in) {
		sum += max(off, 0)
	}
	return sum
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 90*time.Second, what, cond)
}

func ev(t *testing.T, entity string, at time.Time, subjects ...string) kafka.Message {
	t.Helper()
	v, err := json.Marshal(map[string]any{"occurred_at": at.Format(time.RFC3339), "entity": entity,
		"recipient": "r", "subjects": subjects})
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Message{Key: []byte(entity), Value: v}
}

// TestOversizedDeadLetterIsTruncated: an invalid event too large for the
// dead-letter topic is sent with its value cut rather than blocking the
// partition forever.
func TestOversizedDeadLetterIsTruncated(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	r := newRig(t, 50*time.Millisecond, now)
	big := kafka.Message{Key: []byte("k"), Value: []byte(`{"pad":"` + strings.Repeat("x", 1_200_000) + `"}`)}
	r.c.Produce(in, big, ev(t, "acme-sh", now, "a", "b"))
	eventually(t, "both messages committed", func() bool { return r.committed() == 2 })
	got := r.c.ReadAll(dlq, 1, 10*time.Second)
	if len(got) != 1 {
		t.Fatalf("%d dead letters, want 1", len(got))
	}
	h := map[string]string{}
	for _, x := range got[0].Headers {
		h[x.Key] = string(x.Value)
	}
	if len(got[0].Value) != ingest.TruncatedSize || h["tw-value-truncated"] != strconv.Itoa(len(big.Value)) {
		t.Errorf("value %d bytes, tw-value-truncated %q", len(got[0].Value), h["tw-value-truncated"])
	}
	if !strings.HasPrefix(h["tw-error"], "event: larger than 1 MiB") {
		t.Errorf("tw-error = %q", h["tw-error"])
	}
	hist, err := r.store.History(context.Background(), "acme-sh", 2026)
	if err != nil || hist.Figure(sketch.Personal, sketch.CurrentYear, 2026, true).Estimate != 2 {
		t.Errorf("the valid event after it was not counted: %v", err)
	}
}

// TestShutdownFlushesAndCommits: with a flush interval far away, stopping
// the ingester still merges and commits everything it read.
func TestShutdownFlushesAndCommits(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	r := newRig(t, time.Hour, now)
	var msgs []kafka.Message
	for i := range 50 {
		msgs = append(msgs, ev(t, "acme-sh", now, "user-"+strconv.Itoa(i)))
	}
	r.c.Produce(in, msgs...)
	eventually(t, "all 50 read", func() bool {
		return testutil.ToFloat64(counter(t, r.reg, "transferwatch_events_total", "accepted")) == 50
	})
	if r.committed() != 0 {
		t.Fatal("committed before any flush")
	}
	r.stop()
	if err := <-r.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	r.done <- nil // for the cleanup
	if got := r.committed(); got != 50 {
		t.Errorf("committed %d, want 50", got)
	}
	hist, _ := r.store.History(context.Background(), "acme-sh", 2026)
	if got := hist.Figure(sketch.Personal, sketch.CurrentYear, 2026, true).Estimate; got != 50 {
		t.Errorf("estimate %d, want 50", got)
	}
	if err := r.ing.Ready(); err == nil {
		t.Error("ready after shutdown")
	}
}

// TestOldEventsAcceptedAndIgnored: an event older than both windows counts
// as accepted and touches no sketch; one from last year is kept.
func TestOldEventsAcceptedAndIgnored(t *testing.T) {
	now := time.Date(2026, 12, 31, 15, 0, 0, 0, time.UTC) // 23:00 on 31 December in Shanghai
	r := newRig(t, 50*time.Millisecond, now)
	r.c.Produce(in,
		ev(t, "old-co", now.AddDate(-2, 0, 0), "a"),
		ev(t, "last-co", now.AddDate(-1, 0, 0), "a"),
		ev(t, "new-year", time.Date(2026, 12, 31, 16, 30, 0, 0, time.UTC), "a"), // 2027 in Shanghai
	)
	eventually(t, "all committed", func() bool { return r.committed() == 3 })
	ids, _ := r.store.Entities(context.Background())
	if strings.Join(ids, ",") != "last-co,new-year" {
		t.Errorf("stored entities %v, want last-co and new-year", ids)
	}
	h, _ := r.store.History(context.Background(), "new-year", 2026, 2027)
	if h[2027] == nil || h[2026] != nil {
		t.Errorf("2026-12-31T16:30:00Z must be filed under 2027 in Asia/Shanghai")
	}
	if v := testutil.ToFloat64(counter(t, r.reg, "transferwatch_events_total", "accepted")); v != 3 {
		t.Errorf("accepted = %v, want 3", v)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name, result string) prometheus.Collector {
	t.Helper()
	return collectorFunc(func(ch chan<- prometheus.Metric) {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetValue() == result {
						ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, "", nil, nil), prometheus.CounterValue, m.GetCounter().GetValue())
					}
				}
			}
		}
	})
}

// gauge returns the value of an unlabelled gauge.
func gauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	return collectorFunc(func(ch chan<- prometheus.Metric) {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == name {
				ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, "", nil, nil), prometheus.GaugeValue, mf.GetMetric()[0].GetGauge().GetValue())
			}
		}
	})
}

type collectorFunc func(chan<- prometheus.Metric)

func (f collectorFunc) Describe(chan<- *prometheus.Desc)    {}
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

// TestBackpressureDuringStoreOutage: with Redis down, the ingester reads no
// more than MaxPending subjects ahead of the store, commits nothing, and
// catches up once Redis is back, losing nothing.
func TestBackpressureDuringStoreOutage(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	c := kafkatest.New(t, 1, in, dlq)
	rds := redistest.Server(t, "--save", "3600 1")
	st, err := redisstore.New(redisstore.Options{Addrs: []string{rds.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	writer := &kafka.Writer{Addr: kafka.TCP(c.Addr()), Topic: dlq, BatchTimeout: time.Millisecond}
	defer writer.Close()
	reg := prometheus.NewRegistry()
	ing := ingest.New(consumer(t, c), writer, st, reg, ingest.Options{
		Location: time.UTC, FlushInterval: 20 * time.Millisecond, MaxPending: 100,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Now: func() time.Time { return now },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// Reading starts where the store and the group agree: with the store
	// up. Then the store goes away.
	eventually(t, "partitions read", func() bool { return ing.Ready() == nil })
	rds.Stop()

	var msgs []kafka.Message
	for i := range 1000 {
		msgs = append(msgs, ev(t, "acme-sh", now, "user-"+strconv.Itoa(i)))
	}
	c.Produce(in, msgs...)
	accepted := func() float64 { return testutil.ToFloat64(counter(t, reg, "transferwatch_events_total", "accepted")) }
	errors := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "transferwatch_flush_errors_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0
	}
	// Bound: one batch being retried and one filling, of 100 subjects each
	// (plus the event that crossed the line).
	eventually(t, "fetching to stop at the bound", func() bool { return accepted() >= 100 && errors() >= 5 })
	held := accepted()
	eventually(t, "many more failed flushes", func() bool { return errors() >= 20 })
	if got := accepted(); got > 201 {
		t.Errorf("read %v events ahead of a store that is down (%v earlier); bound is 2×100", got, held)
	}
	if ing.Ready() == nil {
		t.Error("ready while flushes fail")
	}
	if got := sumCommitted(c); got != 0 {
		t.Errorf("committed %d while the store was down", got)
	}
	rds.Start()
	eventually(t, "all committed after the outage", func() bool { return sumCommitted(c) == 1000 })
	hist, err := st.History(context.Background(), "acme-sh", 2026)
	if err != nil {
		t.Fatal(err)
	}
	want := sketch.Batch{}
	key, _ := subject.ParseKey("00000000000000000000000000000000")
	for i := range 1000 {
		want.Add("acme-sh", 2026, 328, 0, false, []uint64{subject.New(key).Sum("user-" + strconv.Itoa(i))})
	}
	wantEst := sketch.History{2026: want[sketch.Key{Entity: "acme-sh", Year: 2026}]}.Figure(sketch.Personal, sketch.CurrentYear, 2026, true)
	if got := hist.Figure(sketch.Personal, sketch.CurrentYear, 2026, true); got != wantEst {
		t.Errorf("after the outage: %+v, want %+v", got, wantEst)
	}
}

func sumCommitted(c *kafkatest.Cluster) int64 {
	sum := int64(0)
	for _, off := range c.Committed("g", in) {
		sum += max(off, 0)
	}
	return sum
}
