// Package dlq replays the dead-letter topic: once a producer is fixed (or transferwatch
// accepts what it once refused), the dead letters that are valid events now go back to the
// events topic, with their original key, value and headers, to be counted.
//
// The replay reads as a consumer group of its own, from the group's committed offsets (from
// the oldest dead letter the first time) up to the end of each partition as it was when the
// replay began, and commits what it handled, so that each dead letter is replayed once. It
// re-validates every value with event.Decode, exactly as the service does, and leaves the
// invalid ones where they are. Sending an event twice (a replay interrupted before its commit)
// changes no count: the sketches count distinct people.
//
// Dead letters hold raw subject identifiers (see docs/contract.md): nothing of a key or a value
// is ever logged or reported, only counts, offsets and the field at fault.
package dlq

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/pkg/event"
)

// Headers of the dead-letter contract, left out of a replayed event, and the one a replayed
// event carries instead.
const (
	HeaderError          = "tw-error"
	HeaderSourceTopic    = "tw-source-topic"
	HeaderSourcePart     = "tw-source-partition"
	HeaderSourceOffset   = "tw-source-offset"
	HeaderValueTruncated = "tw-value-truncated"
	// HeaderReplayedFrom says where a replayed event was read: "topic/partition/offset" of
	// the dead letter. An extension of the contract's headers.
	HeaderReplayedFrom = "tw-replayed-from"
)

// Options of a replay.
type Options struct {
	Brokers []string
	// Dialer reads the partitions (TLS, SASL); Transport carries the writer's and the admin
	// requests.
	Dialer    *kafka.Dialer
	Transport kafka.RoundTripper
	// DeadLetterTopic is read; EventsTopic receives the valid events. Dead letters whose
	// tw-source-topic names another topic are left alone.
	DeadLetterTopic, EventsTopic string
	// Group is the replay's own consumer group, whose offsets say what was replayed.
	Group string
	// DryRun reads and validates, and neither sends nor commits anything.
	DryRun bool
	// FromBeginning reads from the oldest dead letter Kafka holds, whatever the group
	// committed: to look again at dead letters left invalid by an earlier replay (after a
	// change of transferwatch that accepts them). Those sent before are sent again, which
	// changes no count.
	FromBeginning bool
	// Max stops after this many dead letters (0: no limit).
	Max int
	// Idle is how long a partition may give nothing before its end is taken as reached
	// (a transaction marker at the end of a log is no message). Default 5s.
	Idle time.Duration
	// Batch is how many events are sent, then committed, at once. Default 500.
	Batch int
	// Now is the clock of the validation (occurred_at at most 24 h ahead). Default time.Now.
	Now func() time.Time
}

// Report is what a replay did. It holds no key and no value.
type Report struct {
	// Partitions, by partition: the offsets read, [From, To).
	Partitions map[int]Range
	// Read counts the dead letters read; Sent those sent back (in a dry run: that would be).
	Read, Sent int
	// Invalid counts, by the field at fault (event.Error's Field), the dead letters still
	// invalid.
	Invalid map[string]int
	// OtherTopic counts dead letters of another source topic; Truncated those whose value was
	// cut to fit the dead-letter topic (not the event that was sent).
	OtherTopic, Truncated int
	// Limited is set when Max stopped the replay before the end.
	Limited bool
}

// Range is a range of offsets [From, To) of a partition.
type Range struct{ From, To int64 }

// Skipped returns how many dead letters were left where they are.
func (r Report) Skipped() int {
	n := r.OtherTopic + r.Truncated
	for _, c := range r.Invalid {
		n += c
	}
	return n
}

// Replay replays the dead-letter topic once and returns what it did. On error the report says
// what was done before it; what was sent was committed, batch by batch.
func Replay(ctx context.Context, o Options) (Report, error) {
	if o.Idle <= 0 {
		o.Idle = 5 * time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	rep := Report{Partitions: map[int]Range{}, Invalid: map[string]int{}}
	client := &kafka.Client{Addr: kafka.TCP(o.Brokers...), Transport: o.Transport, Timeout: 10 * time.Second}

	parts, err := partitions(ctx, client, o.DeadLetterTopic)
	if err != nil {
		return rep, err
	}
	first, last, err := watermarks(ctx, client, o.DeadLetterTopic, parts)
	if err != nil {
		return rep, err
	}
	committed, err := committedOffsets(ctx, client, o.Group, o.DeadLetterTopic, parts)
	if err != nil {
		return rep, err
	}

	var w *kafka.Writer
	if !o.DryRun {
		w = &kafka.Writer{
			Addr:         kafka.TCP(o.Brokers...),
			Topic:        o.EventsTopic,
			Balancer:     &kafka.Murmur2Balancer{}, // the key's partition, as the Java client's default
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: 5 * time.Millisecond,
			BatchBytes:   16 << 20,
			Transport:    o.Transport,
		}
		defer w.Close()
	}

	for _, p := range parts {
		start, end := first[p], last[p]
		if c, ok := committed[p]; ok && c > start && !o.FromBeginning {
			start = c // replayed up to here already; Kafka deleted what lies before first
		}
		if start >= end {
			continue
		}
		if o.Max > 0 && rep.Read >= o.Max {
			rep.Limited = true
			break
		}
		next, err := replayPartition(ctx, o, client, w, p, start, end, &rep)
		if next > start {
			rep.Partitions[p] = Range{start, next}
		}
		if err != nil {
			return rep, fmt.Errorf("partition %d: %w", p, err)
		}
	}
	return rep, nil
}

// replayPartition replays [start, end) of partition p, or less when Max is reached or nothing
// comes for Idle; it returns the next offset to read.
func replayPartition(ctx context.Context, o Options, client *kafka.Client, w *kafka.Writer, p int, start, end int64, rep *Report) (int64, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   o.Brokers,
		Topic:     o.DeadLetterTopic,
		Partition: p,
		Dialer:    o.Dialer,
		MinBytes:  1,
		MaxBytes:  16 << 20,
		MaxWait:   250 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(start); err != nil {
		return start, err
	}
	next := start
	var batch []kafka.Message
	flush := func() error {
		if o.DryRun || next == start && len(batch) == 0 {
			batch = batch[:0]
			return nil
		}
		if len(batch) > 0 {
			if err := w.WriteMessages(ctx, batch...); err != nil {
				return fmt.Errorf("send to %s: %w", o.EventsTopic, err)
			}
		}
		batch = batch[:0]
		return commit(ctx, client, o.Group, o.DeadLetterTopic, p, next)
	}
	for next < end {
		if o.Max > 0 && rep.Read >= o.Max {
			rep.Limited = true
			break
		}
		fctx, cancel := context.WithTimeout(ctx, o.Idle)
		m, err := r.FetchMessage(fctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				break // nothing more to read below end
			}
			return next, errors.Join(err, flush())
		}
		next = m.Offset + 1
		if m.Offset >= end {
			next = m.Offset // past the end of the replay: left for the next one
			break
		}
		rep.Read++
		if msg, ok := classify(o, m, rep); ok {
			rep.Sent++
			batch = append(batch, msg)
		}
		if len(batch) >= o.Batch {
			if err := flush(); err != nil {
				return next, err
			}
		}
	}
	return next, flush()
}

// classify validates the dead letter m, counts it, and returns the event to send back when it
// is valid now.
func classify(o Options, m kafka.Message, rep *Report) (kafka.Message, bool) {
	var headers []kafka.Header
	other, truncated := false, false
	for _, h := range m.Headers {
		switch h.Key {
		case HeaderSourceTopic:
			other = string(h.Value) != o.EventsTopic
		case HeaderValueTruncated:
			truncated = true
		case HeaderError, HeaderSourcePart, HeaderSourceOffset, HeaderReplayedFrom:
		default:
			headers = append(headers, h) // the producer's own
		}
	}
	switch {
	case other:
		rep.OtherTopic++
		return kafka.Message{}, false
	case truncated:
		rep.Truncated++
		return kafka.Message{}, false
	}
	if _, err := event.Decode(m.Value, o.Now()); err != nil {
		field := "event"
		if e, ok := errors.AsType[*event.Error](err); ok {
			field, _, _ = strings.Cut(e.Field, "[") // subjects[3]: subjects
		}
		rep.Invalid[field]++
		return kafka.Message{}, false
	}
	headers = append(headers, kafka.Header{Key: HeaderReplayedFrom,
		Value: []byte(m.Topic + "/" + strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10))})
	return kafka.Message{Key: m.Key, Value: m.Value, Headers: headers}, true
}

// partitions returns the partitions of topic, sorted.
func partitions(ctx context.Context, c *kafka.Client, topic string) ([]int, error) {
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	var parts []int
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("metadata of %s: no partitions (does the topic exist?)", topic)
	}
	slices.Sort(parts)
	return parts, nil
}

// watermarks returns the oldest offset and the high watermark of each partition.
func watermarks(ctx context.Context, c *kafka.Client, topic string, parts []int) (first, last map[int]int64, err error) {
	var reqs []kafka.OffsetRequest
	for _, p := range parts {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, nil, fmt.Errorf("offsets of %s: %w", topic, err)
	}
	first, last = map[int]int64{}, map[int]int64{}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, nil, fmt.Errorf("offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		if po.FirstOffset >= 0 {
			first[po.Partition] = po.FirstOffset
		}
		if po.LastOffset >= 0 {
			last[po.Partition] = po.LastOffset
		}
	}
	for _, p := range parts {
		_, ok1 := first[p]
		_, ok2 := last[p]
		if !ok1 || !ok2 {
			return nil, nil, fmt.Errorf("offsets of %s/%d: no answer", topic, p)
		}
	}
	return first, last, nil
}

// committedOffsets returns the group's committed offsets of the topic's partitions (absent:
// none).
func committedOffsets(ctx context.Context, c *kafka.Client, group, topic string, parts []int) (map[int]int64, error) {
	resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err == nil {
		err = resp.Error
	}
	if errors.Is(err, kafka.GroupIdNotFound) {
		return map[int]int64{}, nil // never committed
	}
	if err != nil {
		return nil, fmt.Errorf("offsets of group %s: %w", group, err)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("offset of group %s on %s/%d: %w", group, topic, p.Partition, p.Error)
		}
		if p.CommittedOffset >= 0 {
			out[p.Partition] = p.CommittedOffset
		}
	}
	return out, nil
}

// commit commits next for partition p as a group without members (generation -1), as a
// standalone consumer does.
func commit(ctx context.Context, c *kafka.Client, group, topic string, p int, next int64) error {
	resp, err := c.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID:      group,
		GenerationID: -1,
		Topics:       map[string][]kafka.OffsetCommit{topic: {{Partition: p, Offset: next}}},
	})
	if err != nil {
		return fmt.Errorf("commit %s/%d for group %s: %w", topic, p, group, err)
	}
	for _, ps := range resp.Topics {
		for _, pr := range ps {
			if pr.Error != nil {
				return fmt.Errorf("commit %s/%d for group %s: %w", topic, pr.Partition, group, pr.Error)
			}
		}
	}
	return nil
}

// Fields returns the fields of r.Invalid, sorted by count then name.
func (r Report) Fields() []string {
	fields := slices.Collect(maps.Keys(r.Invalid))
	slices.SortFunc(fields, func(a, b string) int {
		if d := r.Invalid[b] - r.Invalid[a]; d != 0 {
			return d
		}
		if a < b {
			return -1
		}
		return 1
	})
	return fields
}
