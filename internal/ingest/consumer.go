package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/store"
)

// ConsumerConfig configures a Consumer.
type ConsumerConfig struct {
	Brokers []string
	Topic   string
	GroupID string
	// Dialer connects the group and the partition readers (TLS, SASL).
	Dialer *kafka.Dialer
	// Transport carries the requests of the admin client: committed
	// offsets, the oldest and newest offsets of partitions.
	Transport kafka.RoundTripper
	// SessionTimeout: a dead member's partitions move after about this
	// long. Default 10s.
	SessionTimeout time.Duration
	// MaxWait bounds how long a fetch waits for new messages. Default 250ms.
	MaxWait time.Duration
	Logger  *slog.Logger
}

// Consumer is the consumer-group side of an Ingester. It joins the group
// with kafka-go's ConsumerGroup and reads each partition of a generation
// with a reader of its own, so that the ingester sees every generation:
// which partitions it holds, from which committed offsets, and when the
// generation ends.
type Consumer struct {
	*Admin
	group *kafka.ConsumerGroup
}

// Admin reads the offsets of the topic and of the group without joining
// it: committed offsets, the oldest and newest offsets of partitions.
type Admin struct {
	cfg    ConsumerConfig
	client *kafka.Client
}

// NewAdmin returns an admin client of the topic and group of cfg.
func NewAdmin(cfg ConsumerConfig) *Admin {
	return &Admin{cfg: cfg, client: &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: cfg.Transport, Timeout: 10 * time.Second}}
}

// NewConsumer starts joining the group.
func NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 250 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	log := cfg.Logger
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:      cfg.GroupID,
		Brokers: cfg.Brokers,
		Dialer:  cfg.Dialer,
		Topics:  []string{cfg.Topic},
		// Notice a lost or restarted broker and rejoin within seconds.
		HeartbeatInterval: time.Second,
		SessionTimeout:    cfg.SessionTimeout,
		// Members of this group leave a generation within a flush.
		RebalanceTimeout: cfg.SessionTimeout,
		JoinGroupBackoff: time.Second,
		// Partitions added to the topic are picked up.
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 10 * time.Second,
		// A new group starts at the beginning: nothing is skipped.
		StartOffset: kafka.FirstOffset,
		ErrorLogger: kafka.LoggerFunc(func(f string, a ...any) { log.Warn("kafka consumer group: " + fmt.Sprintf(f, a...)) }),
		Timeout:     10 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("kafka consumer group: %w", err)
	}
	return &Consumer{Admin: NewAdmin(cfg), group: group}, nil
}

// Close leaves the group.
func (c *Consumer) Close() error { return c.group.Close() }

// generation is one generation of the group as this member holds it.
type generation struct {
	gen *kafka.Generation
	// ctx ends with the generation; end ends it early (the group then
	// joins the next one).
	ctx context.Context
	end func()
	// committed is, per partition assigned, the group's committed offset
	// (kafka.FirstOffset when none).
	committed map[int]int64
}

// next waits for the next generation.
func (c *Consumer) next(ctx context.Context) (*generation, error) {
	gen, err := c.group.Next(ctx)
	if err != nil {
		return nil, err
	}
	g := &generation{gen: gen, committed: make(map[int]int64)}
	for _, a := range gen.Assignments[c.cfg.Topic] {
		g.committed[a.ID] = a.Offset
	}
	// A function started on the generation gives its context; returning
	// from it ends the generation.
	started := make(chan context.Context, 1)
	stop := make(chan struct{})
	gen.Start(func(gctx context.Context) {
		started <- gctx
		select {
		case <-gctx.Done():
		case <-stop:
		}
	})
	g.ctx = <-started
	g.end = sync.OnceFunc(func() { close(stop) })
	return g, nil
}

// partitions returns the partitions of g, sorted.
func (g *generation) partitions() []int { return slices.Sorted(maps.Keys(g.committed)) }

// commit commits the next offsets of partitions of topic.
func (g *generation) commit(topic string, next map[int]int64) error {
	if len(next) == 0 {
		return nil
	}
	return g.gen.CommitOffsets(map[string]map[int]int64{topic: next})
}

// reader returns a reader of one partition, starting at offset.
func (c *Consumer) reader(partition int, offset int64) *kafka.Reader {
	log := c.cfg.Logger
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   c.cfg.Brokers,
		Topic:     c.cfg.Topic,
		Partition: partition,
		Dialer:    c.cfg.Dialer,
		MinBytes:  1,
		MaxBytes:  16 << 20,
		MaxWait:   c.cfg.MaxWait,
		// Events that retention deleted before they were read are an
		// error to report, not a gap to skip in silence.
		OffsetOutOfRangeError: true,
		QueueCapacity:         1000,
		ErrorLogger: kafka.LoggerFunc(func(f string, a ...any) {
			log.Warn("kafka reader: "+fmt.Sprintf(f, a...), "partition", partition)
		}),
	})
	if err := r.SetOffset(offset); err != nil {
		// Only a reader already in use refuses; this one is new.
		panic(err)
	}
	return r
}

// watermarks returns the oldest offset Kafka still holds (first) or the
// high watermark (last) of each partition.
func (c *Admin) watermarks(ctx context.Context, partitions []int, first bool) (map[int]int64, error) {
	reqs := make([]kafka.OffsetRequest, len(partitions))
	for i, p := range partitions {
		if first {
			reqs[i] = kafka.FirstOffsetOf(p)
		} else {
			reqs[i] = kafka.LastOffsetOf(p)
		}
	}
	resp, err := c.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{c.cfg.Topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", c.cfg.Topic, err)
	}
	out := make(map[int]int64, len(partitions))
	var errs []error
	for _, po := range resp.Topics[c.cfg.Topic] {
		if po.Error != nil {
			errs = append(errs, fmt.Errorf("partition %d: %w", po.Partition, po.Error))
			continue
		}
		if first {
			out[po.Partition] = po.FirstOffset
		} else {
			out[po.Partition] = po.LastOffset
		}
	}
	for _, p := range partitions {
		if _, ok := out[p]; !ok && len(errs) == 0 {
			errs = append(errs, fmt.Errorf("partition %d: no answer", p))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("list offsets of %s: %w", c.cfg.Topic, errors.Join(errs...))
	}
	return out, nil
}

// Committed returns the group's committed offset of every partition of the
// topic (partitions without a commit are absent).
func (c *Admin) Committed(ctx context.Context) (map[int]int64, error) {
	parts, err := c.partitions(ctx)
	if err != nil {
		return nil, err
	}
	return c.committed(ctx, parts)
}

// committed returns the group's committed offsets of parts (partitions
// without a commit are absent).
func (c *Admin) committed(ctx context.Context, parts []int) (map[int]int64, error) {
	resp, err := c.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: c.cfg.GroupID, Topics: map[string][]int{c.cfg.Topic: parts}})
	if err == nil {
		err = resp.Error
	}
	if errors.Is(err, kafka.GroupIdNotFound) {
		// A group that never committed, as some brokers answer for it.
		return map[int]int64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", c.cfg.GroupID, err)
	}
	out := make(map[int]int64)
	for _, p := range resp.Topics[c.cfg.Topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("committed offset of %s/%d: %w", c.cfg.Topic, p.Partition, p.Error)
		}
		if p.CommittedOffset >= 0 {
			out[p.Partition] = p.CommittedOffset
		}
	}
	return out, nil
}

// partitions returns the partitions of the topic, sorted.
func (c *Admin) partitions(ctx context.Context) ([]int, error) {
	md, err := c.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{c.cfg.Topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", c.cfg.Topic, err)
	}
	var parts []int
	for _, t := range md.Topics {
		if t.Name != c.cfg.Topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of %s: %w", c.cfg.Topic, t.Error)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("metadata of %s: no partitions (does the topic exist?)", c.cfg.Topic)
	}
	slices.Sort(parts)
	return parts, nil
}

// PartitionAudit is what the group, the store and Kafka hold of one
// partition of the topic.
type PartitionAudit struct {
	Partition int
	// Committed is the group's offset (negative: none), Stored the store's
	// (store.NoOffset: none); Oldest and Newest bound what Kafka holds.
	Committed, Stored, Oldest, Newest int64
	// Lost is set when events are counted nowhere: the store lacks them
	// and Kafka no longer has them.
	Lost *LostError
}

// Behind reports whether the store holds less than the group committed.
func (a PartitionAudit) Behind() bool { return a.Committed >= 0 && a.Stored < a.Committed }

// Audit compares, partition by partition, what the group committed, what
// the store's figures cover and what Kafka still holds.
func (c *Admin) Audit(ctx context.Context, st OffsetReader) ([]PartitionAudit, error) {
	parts, err := c.partitions(ctx)
	if err != nil {
		return nil, err
	}
	committed, err := c.committed(ctx, parts)
	if err != nil {
		return nil, err
	}
	stored, err := st.Offsets(ctx, c.cfg.GroupID, c.cfg.Topic)
	if err != nil {
		return nil, fmt.Errorf("read the store's offsets: %w", err)
	}
	oldest, err := c.watermarks(ctx, parts, true)
	if err != nil {
		return nil, err
	}
	newest, err := c.watermarks(ctx, parts, false)
	if err != nil {
		return nil, err
	}
	out := make([]PartitionAudit, 0, len(parts))
	for _, p := range parts {
		a := PartitionAudit{Partition: p, Committed: -1, Stored: store.NoOffset, Oldest: oldest[p], Newest: newest[p]}
		if off, ok := committed[p]; ok {
			a.Committed = off
		}
		if off, ok := stored[p]; ok {
			a.Stored = off
		}
		_, err := StartOffset(p, a.Committed, a.Stored, func() (int64, error) { return a.Oldest, nil })
		errors.As(err, &a.Lost)
		out = append(out, a)
	}
	return out, nil
}
