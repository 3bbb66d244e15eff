package decide

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// Topic is the decisions topic read back: the durable record of every
// version published, which outlives a lost store.
type Topic interface {
	// Latest returns, for every entity on the topic, the record with the
	// highest version, read from the start of each partition up to the high
	// watermark it had when the read began.
	Latest(ctx context.Context) (map[string]Record, error)
	// CleanupPolicy returns the topic's cleanup.policy.
	CleanupPolicy(ctx context.Context) (string, error)
}

// Record is one entity's decision as the decisions topic carries it.
type Record struct {
	Version   int64
	Decision  string
	DecidedAt time.Time
	// Value is the message as published.
	Value []byte
}

// recordOf decodes a decisions-topic message; the entity is the value's,
// or the key's when the value names none.
func recordOf(key, value []byte) (string, Record, error) {
	var s struct {
		Entity    string    `json:"entity"`
		Decision  string    `json:"decision"`
		DecidedAt time.Time `json:"decided_at"`
		Version   int64     `json:"version"`
	}
	if err := json.Unmarshal(value, &s); err != nil {
		return "", Record{}, err
	}
	if s.Entity == "" {
		s.Entity = string(key)
	}
	if s.Entity == "" {
		return "", Record{}, errors.New("no entity")
	}
	// A version below 1 was never published: such a message cannot be a
	// floor (a version of a decision, CONTRACT §5, starts at 1).
	if s.Version < 1 {
		return "", Record{}, fmt.Errorf("entity %q: version %d is not a published version", s.Entity, s.Version)
	}
	return s.Entity, Record{Version: s.Version, Decision: s.Decision, DecidedAt: s.DecidedAt, Value: value}, nil
}

// TopicReader reads the decisions topic with plain requests to the
// partition leaders: no consumer group, nothing committed.
type TopicReader struct {
	client *kafka.Client
	topic  string
}

var _ Topic = (*TopicReader)(nil)

// topicRequestTimeout bounds each request of a TopicReader.
const topicRequestTimeout = 10 * time.Second

// NewTopicReader returns a reader of topic at the brokers addr through tr
// (nil: plain TCP).
func NewTopicReader(addr net.Addr, topic string, tr *kafka.Transport) *TopicReader {
	c := &kafka.Client{Addr: addr, Timeout: topicRequestTimeout}
	if tr != nil {
		c.Transport = tr
	}
	return &TopicReader{client: c, topic: topic}
}

// CleanupPolicy implements Topic.
func (r *TopicReader) CleanupPolicy(ctx context.Context) (string, error) {
	resp, err := r.client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic,
			ResourceName: r.topic,
			ConfigNames:  []string{"cleanup.policy"},
		}},
	})
	if err != nil {
		return "", err
	}
	for _, res := range resp.Resources {
		if res.ResourceName != r.topic {
			continue
		}
		if res.Error != nil {
			return "", res.Error
		}
		for _, e := range res.ConfigEntries {
			if e.ConfigName == "cleanup.policy" {
				return strings.TrimSpace(e.ConfigValue), nil
			}
		}
	}
	return "", fmt.Errorf("the broker did not describe cleanup.policy of %s", r.topic)
}

// Latest implements Topic. The partitions are read in parallel.
func (r *TopicReader) Latest(ctx context.Context) (map[string]Record, error) {
	ids, err := r.partitions(ctx)
	if err != nil {
		return nil, err
	}
	first, err := r.offsets(ctx, ids, kafka.FirstOffsetOf)
	if err != nil {
		return nil, err
	}
	last, err := r.offsets(ctx, ids, kafka.LastOffsetOf)
	if err != nil {
		return nil, err
	}
	var (
		mu   sync.Mutex
		out  = make(map[string]Record)
		errs = make([]error, len(ids))
		wg   sync.WaitGroup
	)
	for i, id := range ids {
		wg.Go(func() {
			errs[i] = r.readPartition(ctx, id, first[id], last[id], func(entity string, rec Record) {
				mu.Lock()
				defer mu.Unlock()
				if cur, ok := out[entity]; !ok || rec.Version >= cur.Version {
					out[entity] = rec
				}
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// partitions returns the partition ids of the topic.
func (r *TopicReader) partitions(ctx context.Context) ([]int, error) {
	resp, err := r.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{r.topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", r.topic, err)
	}
	for _, t := range resp.Topics {
		if t.Name != r.topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of %s: %w", r.topic, t.Error)
		}
		ids := make([]int, len(t.Partitions))
		for i, p := range t.Partitions {
			ids[i] = p.ID
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("topic %s has no partitions", r.topic)
		}
		return ids, nil
	}
	return nil, fmt.Errorf("metadata of %s: %w", r.topic, kafka.UnknownTopicOrPartition)
}

// offsets returns the first or the last offset (the high watermark) of each
// partition.
func (r *TopicReader) offsets(ctx context.Context, ids []int, of func(int) kafka.OffsetRequest) (map[int]int64, error) {
	reqs := make([]kafka.OffsetRequest, len(ids))
	for i, id := range ids {
		reqs[i] = of(id)
	}
	resp, err := r.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{r.topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("offsets of %s: %w", r.topic, err)
	}
	out := make(map[int]int64, len(ids))
	for _, p := range resp.Topics[r.topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("offsets of %s[%d]: %w", r.topic, p.Partition, p.Error)
		}
		if reqs[0].Timestamp == kafka.FirstOffset {
			out[p.Partition] = p.FirstOffset
		} else {
			out[p.Partition] = p.LastOffset
		}
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			return nil, fmt.Errorf("offsets of %s: no answer for partition %d", r.topic, id)
		}
	}
	return out, nil
}

// readPartition reads partition id from offset from up to hwm and passes
// each decodable record to found. Records it cannot decode are skipped: the
// topic is written by transferwatch, and a stray record must not stop a
// start.
func (r *TopicReader) readPartition(ctx context.Context, id int, from, hwm int64, found func(string, Record)) error {
	for offset := from; offset < hwm; {
		resp, err := r.client.Fetch(ctx, &kafka.FetchRequest{
			Topic: r.topic, Partition: id, Offset: offset,
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 100 * time.Millisecond,
		})
		if err == nil {
			err = resp.Error
		}
		if err != nil {
			return fmt.Errorf("fetch %s[%d] at %d: %w", r.topic, id, offset, err)
		}
		read := false
		for {
			rec, err := resp.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("read %s[%d] at %d: %w", r.topic, id, offset, err)
			}
			key, value := readBytes(rec.Key), readBytes(rec.Value)
			if rec.Offset < offset {
				continue // a batch may start before the offset asked for
			}
			offset, read = rec.Offset+1, true
			if value == nil {
				continue // a tombstone
			}
			if entity, d, err := recordOf(key, value); err == nil {
				found(entity, d)
			}
		}
		if !read {
			// Nothing readable below the high watermark: the rest are
			// control records or were compacted away.
			return nil
		}
	}
	return nil
}

// readBytes reads and closes b; nil stays nil.
func readBytes(b protocol.Bytes) []byte {
	if b == nil {
		return nil
	}
	defer b.Close()
	out := make([]byte, b.Len())
	n, _ := io.ReadFull(b, out)
	return out[:n]
}
