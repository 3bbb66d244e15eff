package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
	"github.com/transferwatch/transferwatch/internal/testutil/poll"
)

// TestApplyCheckpoints walks a partition through fetches that stop short
// of the high watermark, as a fetch capped at maxFetchBytes does.
func TestApplyCheckpoints(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	g := newGate(common{maxStale: time.Hour, now: func() time.Time { return at(10) }, log: slog.New(slog.DiscardHandler)}, true)
	f := &follower{g: g, parts: map[int]*partition{}}
	p0, p1 := &partition{id: 0}, &partition{id: 1}
	f.parts[0], f.parts[1] = p0, p1

	var pending *checkpoint
	steps := []struct {
		sent     int
		hwm      int64
		offset   int64 // after the fetch
		complete bool
		caught0  time.Time
		pending  bool
	}{
		{sent: 1, hwm: 10, offset: 5, complete: true, pending: true},                   // behind: checkpoint (1, 10)
		{sent: 2, hwm: 12, offset: 10, complete: true, caught0: at(1), pending: true},  // reaches 10: caught up as of 1; checkpoint (2, 12)
		{sent: 3, hwm: 12, offset: 11, complete: false, caught0: at(1), pending: true}, // a read error sets no checkpoint
		{sent: 4, hwm: 12, offset: 12, complete: true, caught0: at(4)},                 // at the end
		{sent: 5, hwm: 12, offset: 12, complete: false, caught0: at(4)},                // failed read: no news
	}
	for i, s := range steps {
		pending = f.apply(p0, nil, s.offset, checkpoint{sent: at(s.sent), hwm: s.hwm}, pending, s.complete)
		if !p0.caughtUp.Equal(s.caught0) || (pending != nil) != s.pending {
			t.Fatalf("step %d: caughtUp %v pending %+v; want %v pending %v", i, p0.caughtUp, pending, s.caught0, s.pending)
		}
		if !g.asOf().IsZero() {
			t.Fatalf("step %d: as of %v while partition 1 never caught up", i, g.asOf())
		}
	}
	f.apply(p1, nil, 0, checkpoint{sent: at(7), hwm: 0}, nil, true)
	if !g.asOf().Equal(at(4)) {
		t.Errorf("as of %v, want the earliest partition's %v", g.asOf(), at(4))
	}
	// Synced, but with no decision at all the preset is unknown: an
	// entity never seen is not allowed.
	if a, ok := g.Allowed("x"); ok || !a.Fresh || !errors.Is(a.Err, ErrPresetUnknown) {
		t.Errorf("Allowed(x) = %v, %+v once every partition caught up; want fresh, ErrPresetUnknown", ok, a)
	}

	// A partition dropped meanwhile changes nothing.
	stale := &partition{id: 1}
	f.apply(stale, []Answer{{Entity: "x", Decision: Block, Known: true}}, 1, checkpoint{sent: at(9), hwm: 1}, nil, true)
	if a := g.Decision("x"); a.Known {
		t.Errorf("a dropped partition's record was applied: %+v", a)
	}
}

// TestTopicFollowsAddedPartitions: decisions published to partitions added
// after the gate started must reach it; missing them would let blocked
// entities through.
func TestTopicFollowsAddedPartitions(t *testing.T) {
	const topic = "transfer-decisions"
	c := kafkatest.New(t, 1, topic)
	tr := &kafka.Transport{MetadataTTL: 20 * time.Millisecond, MetadataTopics: []string{topic}}
	t.Cleanup(tr.CloseIdleConnections)
	f, err := newFollower(TopicOptions{Brokers: []string{c.Addr()}, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	f.discovery = 20 * time.Millisecond
	g := f.g
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := g.Wait(wctx); err != nil {
		t.Fatal(err)
	}

	// Transports of their own: a transport caches the layout it first saw.
	client := func() *kafka.Client {
		tr := &kafka.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		return &kafka.Client{Addr: kafka.TCP(c.Addr()), Transport: tr}
	}
	resp, err := client().CreatePartitions(wctx, &kafka.CreatePartitionsRequest{
		Topics: []kafka.TopicPartitionsConfig{{Name: topic, Count: 4}},
	})
	if err == nil {
		err = resp.Errors[topic]
	}
	if err != nil {
		t.Fatalf("create partitions: %v", err)
	}
	cl := client()
	for p := range 4 {
		value := fmt.Appendf(nil, `{"entity":"e%d","decision":"block","version":1}`, p)
		r, err := cl.Produce(wctx, &kafka.ProduceRequest{
			Topic: topic, Partition: p, RequiredAcks: kafka.RequireAll,
			Records: kafka.NewRecordReader(kafka.Record{Key: kafka.NewBytes(fmt.Append(nil, "e", p)), Value: kafka.NewBytes(value)}),
		})
		if err == nil {
			err = r.Error
		}
		if err != nil {
			t.Fatalf("produce to partition %d: %v", p, err)
		}
	}

	for i := range 4 {
		poll.Until(t, 20*time.Second, fmt.Sprintf("e%d blocked", i), func() bool {
			a, ok := g.Allowed(fmt.Sprint("e", i))
			return a.Decision == Block && !ok
		})
	}
}
