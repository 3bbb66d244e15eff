package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// DefaultTopic is the decisions topic of transferwatch's default
// configuration.
const DefaultTopic = "transfer-decisions"

const (
	requestTimeout   = 10 * time.Second // per broker or API request, beyond the long poll
	minBackoff       = 100 * time.Millisecond
	maxBackoff       = 5 * time.Second
	maxFetchBytes    = 1 << 20
	defaultDiscovery = 10 * time.Second
)

// TopicOptions configure a gate that follows the decisions topic.
type TopicOptions struct {
	// Brokers are the bootstrap addresses, host:port.
	Brokers []string
	// Topic is the decisions topic; default DefaultTopic.
	Topic string
	// Transport carries TLS and SASL settings; nil connects in plain TCP.
	// The gate closes the idle connections of a transport it made itself.
	Transport *kafka.Transport
	// MaxStaleness is how old the cache may grow before the gate fails
	// closed; default DefaultMaxStaleness. Idle fetches long-poll for a
	// tenth of it, at most a second.
	MaxStaleness time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives broker failures and undecodable records; default
	// discards.
	Logger *slog.Logger
}

// NewFromTopic returns a gate that follows the decisions topic once Run
// starts.
func NewFromTopic(o TopicOptions) (*Gate, error) {
	f, err := newFollower(o)
	if err != nil {
		return nil, err
	}
	return f.g, nil
}

func newFollower(o TopicOptions) (*follower, error) {
	c, err := newCommon(o.MaxStaleness, o.Now, o.Logger)
	if err != nil {
		return nil, err
	}
	if len(o.Brokers) == 0 {
		return nil, errorf("Brokers is empty")
	}
	if o.Topic == "" {
		o.Topic = DefaultTopic
	}
	tr, own := o.Transport, false
	if tr == nil {
		tr = &kafka.Transport{
			DialTimeout:    requestTimeout,
			ClientID:       "transferwatch-gate",
			MetadataTopics: []string{o.Topic},
		}
		own = true
	}
	g := newGate(c, true)
	f := &follower{
		g:         g,
		topic:     o.Topic,
		client:    &kafka.Client{Addr: kafka.TCP(o.Brokers...), Transport: tr},
		fetchWait: min(max(c.maxStale/10, 20*time.Millisecond), time.Second),
		discovery: defaultDiscovery,
		parts:     make(map[int]*partition),
	}
	if own {
		f.closeIdle = tr.CloseIdleConnections
	}
	g.loop = f.run
	return f, nil
}

// follower reads every partition of the decisions topic into the gate.
//
// Each partition has its own goroutine that fetches from the partition's
// first offset on. A partition is caught up as of the time a fetch was sent
// once the gate holds every record below the high watermark that fetch
// reported: everything published before that time is then in the cache.
// The cache is complete as of the earliest such time over the partitions
// the topic has, which the follower rereads every discovery interval.
type follower struct {
	g         *Gate
	topic     string
	client    *kafka.Client
	closeIdle func()
	fetchWait time.Duration
	discovery time.Duration

	parts map[int]*partition // under g.publishMu
}

// partition is the state of one partition's goroutine.
type partition struct {
	id       int
	cancel   context.CancelFunc
	caughtUp time.Time // under g.publishMu; zero: never
}

// checkpoint is a fetch whose high watermark the follower has not yet
// reached.
type checkpoint struct {
	sent time.Time
	hwm  int64
}

func (f *follower) run(ctx context.Context) error {
	if f.closeIdle != nil {
		defer f.closeIdle()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	wait := minBackoff
	failing := false
	for {
		ids, err := f.partitions(ctx)
		next := f.discovery
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			f.logFailure(&failing, "read topic metadata", err)
			next, wait = wait, backoff(wait, maxBackoff)
		default:
			f.logRecovery(&failing, "read topic metadata")
			wait = minBackoff
			f.reconcile(ctx, &wg, ids)
		}
		if !sleep(ctx, next) {
			return nil
		}
	}
}

// partitions returns the partition ids of the topic.
func (f *follower) partitions(ctx context.Context) ([]int, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := f.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{f.topic}})
	if err != nil {
		return nil, err
	}
	for _, t := range resp.Topics {
		if t.Name != f.topic {
			continue
		}
		if t.Error != nil {
			return nil, t.Error
		}
		if len(t.Partitions) == 0 {
			return nil, errors.New("topic has no partitions")
		}
		ids := make([]int, len(t.Partitions))
		for i, p := range t.Partitions {
			ids[i] = p.ID
		}
		return ids, nil
	}
	return nil, kafka.UnknownTopicOrPartition
}

// reconcile starts a goroutine for each new partition and stops those of
// partitions the topic no longer has (it was deleted and made again).
func (f *follower) reconcile(ctx context.Context, wg *sync.WaitGroup, ids []int) {
	want := make(map[int]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	f.g.update(func(map[string]Answer) (map[string]Answer, time.Time) {
		for id, p := range f.parts {
			if !want[id] {
				f.g.log.Info("decisions partition gone", "topic", f.topic, "partition", id)
				p.cancel()
				delete(f.parts, id)
			}
		}
		for _, id := range ids {
			if _, ok := f.parts[id]; ok {
				continue
			}
			pctx, cancel := context.WithCancel(ctx)
			p := &partition{id: id, cancel: cancel}
			f.parts[id] = p
			wg.Go(func() { f.follow(pctx, p) })
		}
		return nil, f.asOfLocked()
	})
}

// asOfLocked returns the earliest caught-up time of the partitions, zero
// when one has never caught up.
func (f *follower) asOfLocked() time.Time {
	var asOf time.Time
	for _, p := range f.parts {
		if p.caughtUp.IsZero() {
			return time.Time{}
		}
		if asOf.IsZero() || p.caughtUp.Before(asOf) {
			asOf = p.caughtUp
		}
	}
	return asOf
}

// follow fetches one partition until ctx ends.
func (f *follower) follow(ctx context.Context, p *partition) {
	offset := int64(-1) // not yet known
	hwm := int64(-1)    // last known high watermark
	progressed := true  // the last fetch moved the offset
	var pending *checkpoint
	wait := minBackoff
	failing := false
	fail := func(what string, err error) bool {
		if ctx.Err() != nil {
			return false
		}
		f.logFailure(&failing, what, err, "partition", p.id)
		ok := sleep(ctx, wait)
		wait = backoff(wait, maxBackoff)
		return ok
	}
	for ctx.Err() == nil {
		if offset < 0 {
			o, err := f.firstOffset(ctx, p.id)
			if err != nil {
				if !fail("list first offset", err) {
					return
				}
				continue
			}
			offset = o
		}
		// Long-poll only at the end (or when a fetch brought nothing); until
		// then the broker answers at once, so that a gate syncs without
		// waiting out an idle fetch.
		minBytes := int64(0)
		if hwm >= 0 && (offset >= hwm || !progressed) {
			minBytes = 1
		}
		sent := f.g.now()
		h, next, answers, err := f.fetch(ctx, p.id, offset, minBytes)
		if errors.Is(err, kafka.OffsetOutOfRange) {
			// Retention removed the records, or the partition was truncated:
			// read it again from its start (versions make this harmless).
			offset = -1
		}
		if err != nil && (offset < 0 || next == offset) {
			if !fail("fetch", err) {
				return
			}
			continue
		}
		progressed = next > offset
		offset = next
		hwm = h
		pending = f.apply(p, answers, offset, checkpoint{sent: sent, hwm: h}, pending, err == nil)
		if err != nil {
			if !fail("read records", err) {
				return
			}
			continue
		}
		f.logRecovery(&failing, "fetch", "partition", p.id)
		wait = minBackoff
	}
}

// fetch fetches the partition from offset and returns the high watermark,
// the offset after the records read, and the decisions they carry.
func (f *follower) fetch(ctx context.Context, id int, offset, minBytes int64) (hwm, next int64, answers []Answer, err error) {
	ctx, cancel := context.WithTimeout(ctx, f.fetchWait+requestTimeout)
	defer cancel()
	resp, err := f.client.Fetch(ctx, &kafka.FetchRequest{
		Topic: f.topic, Partition: id, Offset: offset,
		MinBytes: minBytes, MaxBytes: maxFetchBytes, MaxWait: f.fetchWait,
	})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return 0, offset, nil, err
	}
	next = offset
	for {
		r, err := resp.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			return resp.HighWatermark, next, answers, nil
		}
		if err != nil {
			return resp.HighWatermark, next, answers, err
		}
		key, value := readBytes(r.Key), readBytes(r.Value)
		if r.Offset < next {
			continue // a batch may start before the offset asked for
		}
		next = r.Offset + 1
		if value == nil {
			f.g.log.Debug("tombstone on the decisions topic ignored",
				"topic", f.topic, "partition", id, "offset", r.Offset, "key", string(key))
			continue
		}
		a, err := decodeSignal(key, value)
		if err != nil {
			f.g.log.Warn("undecodable record on the decisions topic skipped",
				"topic", f.topic, "partition", id, "offset", r.Offset, "err", err)
			continue
		}
		answers = append(answers, a)
	}
}

// apply puts the answers into the cache, keeping the highest version of
// each entity, and moves the partition's caught-up time: to cp.sent when
// the follower is at cp's high watermark, else to that of the pending
// checkpoint once reached. It returns the checkpoint still pending. An
// incomplete read (complete false) sets no checkpoint of its own.
func (f *follower) apply(p *partition, answers []Answer, offset int64, cp checkpoint, pending *checkpoint, complete bool) *checkpoint {
	f.g.update(func(cur map[string]Answer) (map[string]Answer, time.Time) {
		if f.parts[p.id] != p {
			return nil, f.asOfLocked() // the partition was dropped meanwhile
		}
		var next map[string]Answer
		for _, a := range answers {
			m := cur
			if next != nil {
				m = next
			}
			if old, ok := m[a.Entity]; ok && a.Version < old.Version {
				continue // an older decision arriving late
			}
			if next == nil {
				next = cloneWith(cur, len(answers))
			}
			next[a.Entity] = a
		}

		var caught time.Time
		if pending != nil && offset >= pending.hwm {
			caught, pending = pending.sent, nil
		}
		if complete {
			if offset >= cp.hwm {
				caught, pending = cp.sent, nil
			} else if pending == nil {
				pending = &cp
			}
		}
		if caught.After(p.caughtUp) {
			p.caughtUp = caught
		}
		return next, f.asOfLocked()
	})
	return pending
}

// firstOffset returns the first offset of the partition.
func (f *follower) firstOffset(ctx context.Context, id int) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := f.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{f.topic: {kafka.FirstOffsetOf(id)}},
	})
	if err != nil {
		return 0, err
	}
	for _, po := range resp.Topics[f.topic] {
		if po.Partition == id {
			if po.Error != nil {
				return 0, po.Error
			}
			return po.FirstOffset, nil
		}
	}
	return 0, fmt.Errorf("no offsets for partition %d", id)
}

// logFailure logs the first failure of a series as a warning, the rest at
// debug level.
func (f *follower) logFailure(failing *bool, what string, err error, attrs ...any) {
	level := slog.LevelDebug
	if !*failing {
		level = slog.LevelWarn
		*failing = true
	}
	f.g.log.Log(context.Background(), level, "decisions topic: "+what+" failed; retrying",
		append([]any{"topic", f.topic, "err", err}, attrs...)...)
}

// logRecovery logs the end of a series of failures.
func (f *follower) logRecovery(failing *bool, what string, attrs ...any) {
	if *failing {
		*failing = false
		f.g.log.Info("decisions topic: "+what+" works again", append([]any{"topic", f.topic}, attrs...)...)
	}
}

// readBytes reads and closes b; nil (no key, a tombstone) stays nil.
func readBytes(b protocol.Bytes) []byte {
	if b == nil {
		return nil
	}
	defer b.Close()
	out := make([]byte, b.Len())
	n, _ := io.ReadFull(b, out)
	return out[:n]
}
