package dlq

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
)

const (
	events = "outbound-transfers"
	dead   = "outbound-transfers.dlq"
	group  = "transferwatch-dlq-replay"
	// secret is a raw subject identifier: it must appear in no report or error.
	secret = "secret-subject-0042"
)

var testNow = time.Date(2026, 11, 25, 4, 0, 0, 0, time.UTC)

// deadLetter is a dead letter as the service writes it: the original key, value and headers,
// and the tw-* headers.
func deadLetter(key, value string, sourceTopic string, offset int, extra ...kafka.Header) kafka.Message {
	h := append([]kafka.Header{{Key: "trace-id", Value: []byte(fmt.Sprint("t", offset))}}, extra...)
	h = append(h,
		kafka.Header{Key: HeaderError, Value: []byte("records: must be a non-negative integer, got 5.0")},
		kafka.Header{Key: HeaderSourceTopic, Value: []byte(sourceTopic)},
		kafka.Header{Key: HeaderSourcePart, Value: []byte("0")},
		kafka.Header{Key: HeaderSourceOffset, Value: []byte(fmt.Sprint(offset))},
	)
	return kafka.Message{Key: []byte(key), Value: []byte(value), Headers: h}
}

func validEvent(entity string, n int) string {
	return fmt.Sprintf(`{"occurred_at":"2026-11-25T10:00:00+08:00","entity":%q,"recipient":"r","subjects":["%s-%d"],"records":5.0}`, entity, secret, n)
}

// count returns how many records topic holds (the sum of its high watermarks).
func count(t *testing.T, c *kafkatest.Cluster, topic string) int {
	t.Helper()
	cl := &kafka.Client{Addr: kafka.TCP(c.Addr()), Transport: c.Transport()}
	parts, err := partitions(context.Background(), cl, topic)
	if err != nil {
		t.Fatal(err)
	}
	_, last, err := watermarks(context.Background(), cl, topic, parts)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range last {
		n += int(v)
	}
	return n
}

func options(c *kafkatest.Cluster) Options {
	return Options{
		Brokers: []string{c.Addr()}, Dialer: c.Dialer(), Transport: c.Transport(),
		DeadLetterTopic: dead, EventsTopic: events, Group: group,
		Idle: 2 * time.Second, Batch: 3,
		Now: func() time.Time { return testNow },
	}
}

// TestReplay: a dry run sends and commits nothing; a replay sends the dead letters that are
// valid now back to the events topic with their key, value and own headers (the tw-* ones
// replaced by tw-replayed-from), leaves the invalid, truncated and foreign ones, commits, and
// a second replay finds nothing new; --from-beginning looks at them all again. No report
// holds a subject identifier.
func TestReplay(t *testing.T) {
	c := kafkatest.New(t, 2, events, dead)
	var msgs []kafka.Message
	valid := map[string]string{} // value → key
	for i := range 7 {
		key := fmt.Sprintf("entity-%d", i%3)
		v := validEvent(key, i)
		valid[v] = key
		msgs = append(msgs, deadLetter(key, v, events, i))
	}
	msgs = append(msgs,
		deadLetter("entity-0", `{"occurred_at":"2026-11-25T10:00:00Z","entity":"entity-0","recipient":"r","subjects":["`+secret+`",""]}`, events, 20),
		deadLetter("entity-1", `{"occurred_at":"yesterday","entity":"entity-1","recipient":"r","subjects":["`+secret+`"]}`, events, 21),
		deadLetter("entity-2", `not json `+secret, events, 22),
		deadLetter("entity-0", validEvent("entity-0", 99), "another-topic", 23),
		deadLetter("entity-1", validEvent("entity-1", 98)[:40], events, 24, kafka.Header{Key: HeaderValueTruncated, Value: []byte("2000000")}),
	)
	c.Produce(dead, msgs...)
	ctx := context.Background()

	// Dry run.
	o := options(c)
	o.DryRun = true
	rep, err := Replay(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Read != len(msgs) || rep.Sent != 7 || rep.Skipped() != 5 {
		t.Errorf("dry run: read %d, sent %d, skipped %d; want %d, 7, 5", rep.Read, rep.Sent, rep.Skipped(), len(msgs))
	}
	if n := count(t, c, events); n != 0 {
		t.Errorf("dry run sent %d events", n)
	}
	for p, off := range c.Committed(group, dead) {
		if off >= 0 {
			t.Errorf("dry run committed partition %d at %d", p, off)
		}
	}

	// Replay.
	rep, err = Replay(ctx, options(c))
	if err != nil {
		t.Fatal(err)
	}
	wantInvalid := map[string]int{"subjects": 1, "occurred_at": 1, "event": 1}
	if rep.Read != len(msgs) || rep.Sent != 7 || !maps.Equal(rep.Invalid, wantInvalid) || rep.OtherTopic != 1 || rep.Truncated != 1 {
		t.Errorf("replay: %+v; want 12 read, 7 sent, invalid %v, 1 of another topic, 1 truncated", rep, wantInvalid)
	}
	if s := fmt.Sprintf("%+v", rep); strings.Contains(s, secret) || strings.Contains(s, "entity-") {
		t.Errorf("the report holds a key or an identifier: %s", s)
	}
	if n := count(t, c, events); n != 7 {
		t.Fatalf("%d events sent, want 7", n)
	}
	got := c.ReadAll(events, 7, 30*time.Second)
	if len(got) != 7 {
		t.Fatalf("read %d events back", len(got))
	}
	seen := map[string]bool{}
	for _, m := range got {
		key, ok := valid[string(m.Value)]
		if !ok || string(m.Key) != key {
			t.Errorf("sent %q with key %q: not one of the valid dead letters", m.Value, m.Key)
			continue
		}
		seen[string(m.Value)] = true
		var names []string
		from := ""
		for _, h := range m.Headers {
			names = append(names, h.Key)
			if h.Key == HeaderReplayedFrom {
				from = string(h.Value)
			}
		}
		if !slices.Equal(names, []string{"trace-id", HeaderReplayedFrom}) || !strings.HasPrefix(from, dead+"/") {
			t.Errorf("headers %v (from %q), want the producer's trace-id and tw-replayed-from", names, from)
		}
	}
	if len(seen) != 7 {
		t.Errorf("%d distinct events sent back, want 7", len(seen))
	}
	total := int64(0)
	for _, off := range c.Committed(group, dead) {
		total += off
	}
	if total != int64(len(msgs)) {
		t.Errorf("the group committed %d dead letters, want all %d", total, len(msgs))
	}

	// Again: nothing new.
	rep, err = Replay(ctx, options(c))
	if err != nil || rep.Read != 0 || rep.Sent != 0 {
		t.Errorf("second replay: %+v, %v; want nothing read", rep, err)
	}
	if n := count(t, c, events); n != 7 {
		t.Errorf("second replay sent more: %d events", n)
	}

	// A new dead letter, and --max 1 of what is left after it.
	c.Produce(dead, deadLetter("entity-2", validEvent("entity-2", 50), events, 30), deadLetter("entity-2", validEvent("entity-2", 51), events, 31))
	o = options(c)
	o.Max = 1
	rep, err = Replay(ctx, o)
	if err != nil || rep.Read != 1 || rep.Sent != 1 || !rep.Limited {
		t.Errorf("--max 1: %+v, %v; want 1 read and sent, limited", rep, err)
	}
	rep, err = Replay(ctx, options(c))
	if err != nil || rep.Read != 1 || rep.Sent != 1 || rep.Limited {
		t.Errorf("after --max 1: %+v, %v; want the other one", rep, err)
	}

	// From the beginning: every dead letter again.
	o = options(c)
	o.FromBeginning, o.DryRun = true, true
	rep, err = Replay(ctx, o)
	if err != nil || rep.Read != len(msgs)+2 || rep.Sent != 9 {
		t.Errorf("--from-beginning: %+v, %v; want %d read, 9 valid", rep, err, len(msgs)+2)
	}
}

// TestReplayNoTopic: a dead-letter topic that does not exist is an error naming it.
func TestReplayNoTopic(t *testing.T) {
	c := kafkatest.New(t, 1, events)
	o := options(c)
	o.DeadLetterTopic = "no-such-topic"
	if _, err := Replay(context.Background(), o); err == nil || !strings.Contains(err.Error(), "no-such-topic") {
		t.Errorf("Replay = %v, want an error about no-such-topic", err)
	}
}
