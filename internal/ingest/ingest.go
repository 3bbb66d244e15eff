// Package ingest consumes transfer events from Kafka and turns them into
// sketch updates in the store.
//
// One fetch loop decodes, validates and hashes each event and adds it to an
// in-memory batch; one flush loop merges the batch into the store every
// flush interval, writes the invalid events to the dead-letter topic, and
// only then commits the offsets of every message the flush holds. Inserting
// a subject twice leaves a sketch unchanged, so the at-least-once delivery
// this gives (a crash after the merge and before the commit replays those
// messages) still yields exactly-once counts.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/subject"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// Source is a consumer-group reader: *kafka.Reader.
type Source interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
}

// DeadLetters receives invalid events: *kafka.Writer on the dead-letter topic.
type DeadLetters interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Store receives the aggregated sketches.
type Store interface {
	Merge(ctx context.Context, b sketch.Batch) error
}

var (
	_ Source      = (*kafka.Reader)(nil)
	_ DeadLetters = (*kafka.Writer)(nil)
)

// Options tune an Ingester. Zero values take the defaults shown.
type Options struct {
	Location      *time.Location // calendar of event days; default Asia/Shanghai must be passed by the caller
	Hasher        subject.Hasher
	FlushInterval time.Duration // default 1s
	// MaxPending is how many subject occurrences may wait in memory for a
	// flush before fetching pauses (backpressure during a store outage).
	// A batch whose flush is being retried is held besides, so memory holds
	// at most about twice this many.
	MaxPending int // default 2,000,000
	// ShutdownTimeout bounds the last flush and commit on shutdown.
	ShutdownTimeout time.Duration // default 10s
	MinBackoff      time.Duration // first retry delay after a failed flush; default 100ms
	MaxBackoff      time.Duration // default 10s
	// OnFlush is called after flushes that reached the store, with the
	// entities they touched; the policy layer re-evaluates them. It runs
	// beside the flush loop, one call at a time, so that a slow evaluation
	// never holds up flushes and commits: the entities of the flushes that
	// land during a call come together in the next one. Run returns after
	// the last call.
	OnFlush func(ctx context.Context, entities []string)
	Now     func() time.Time
	Logger  *slog.Logger
}

func (o *Options) defaults() {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 2_000_000
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Ingester is the consumer and the flusher of one instance.
type Ingester struct {
	src   Source
	dlq   DeadLetters
	store Store
	opts  Options
	m     *metrics

	mu      sync.Mutex
	cond    *sync.Cond // signalled when a flush drained the pending work
	cur     *pending   // filled by the fetch loop
	running bool
	flushOK bool
	lastErr error
	// dense holds the cells dense in the store: new batches start them
	// dense (sketch.Batch.AddDense).
	dense sketch.Dense
	// notified holds the entities flushed since OnFlush was last called;
	// notifyWake wakes the loop that calls it.
	notified   map[string]struct{}
	notifyWake chan struct{}
	kick       chan struct{} // asks the flush loop for an early flush
}

// pending is the work between two commits: the sketches to merge, the dead
// letters to write and the last message of each partition to commit. The
// three travel together so that a commit never covers work not yet done.
type pending struct {
	batch    sketch.Batch
	merged   bool // batch reached the store; a retry only writes and commits
	dead     []kafka.Message
	last     map[int]kafka.Message // by partition
	subjects int
}

func newPending() *pending {
	return &pending{batch: make(sketch.Batch), last: make(map[int]kafka.Message)}
}

// idle reports whether p holds no work.
func (p *pending) idle() bool { return len(p.last) == 0 && len(p.batch) == 0 && len(p.dead) == 0 }

// New returns an ingester reading src and merging into st.
func New(src Source, dlq DeadLetters, st Store, reg prometheus.Registerer, opts Options) *Ingester {
	opts.defaults()
	in := &Ingester{
		src: src, dlq: dlq, store: st, opts: opts,
		m:     newMetrics(reg),
		cur:   newPending(),
		dense: make(sketch.Dense),
		kick:  make(chan struct{}, 1),

		notified:   make(map[string]struct{}),
		notifyWake: make(chan struct{}, 1),
	}
	in.cond = sync.NewCond(&in.mu)
	return in
}

// Ready returns nil while the fetch loop runs and the last flush succeeded.
func (in *Ingester) Ready() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	switch {
	case !in.running:
		return errors.New("consumer not running")
	case !in.flushOK:
		return fmt.Errorf("flush failing: %w", in.lastErr)
	}
	return nil
}

// Run consumes until ctx ends, then flushes and commits what it holds within
// the shutdown timeout. It returns nil on a clean shutdown.
func (in *Ingester) Run(ctx context.Context) error {
	in.mu.Lock()
	in.running, in.flushOK = true, true
	in.mu.Unlock()

	fetchCtx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	fetchDone := make(chan error, 1)
	go func() { fetchDone <- in.fetchLoop(fetchCtx) }()

	notifyCtx, stopNotify := context.WithCancel(context.WithoutCancel(ctx))
	defer stopNotify()
	flushesDone, notifyDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(notifyDone)
		in.notifyLoop(notifyCtx, flushesDone)
	}()

	var fetchErr error
	retry := newPending() // work whose flush failed, retried first
	backoff := time.Duration(0)
	timer := time.NewTimer(in.opts.FlushInterval)
	defer timer.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case fetchErr = <-fetchDone:
			fetchDone = nil
			break loop
		case <-timer.C:
		case <-in.kick:
		}
		if err := in.flush(ctx, retry); err != nil {
			backoff = min(max(2*backoff, in.opts.MinBackoff), in.opts.MaxBackoff)
			in.opts.Logger.Warn("flush failed; retrying", "err", err, "backoff", backoff)
		} else {
			backoff = 0
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(backoff, in.opts.FlushInterval))
	}

	// Shutdown: stop fetching (waking the fetch loop if backpressure holds
	// it), wait for it, then flush what is held.
	stopFetch()
	in.mu.Lock()
	in.running = false
	in.cond.Broadcast()
	in.mu.Unlock()
	if fetchDone != nil {
		fetchErr = <-fetchDone
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.opts.ShutdownTimeout)
	defer cancel()
	var flushErr error
	for {
		flushErr = in.flush(sctx, retry)
		if flushErr == nil && retry.idle() && in.curIdle() || sctx.Err() != nil {
			break
		}
		if flushErr != nil {
			select {
			case <-sctx.Done():
			case <-time.After(in.opts.MinBackoff):
			}
		}
	}
	// The last OnFlush, within what is left of the shutdown timeout.
	close(flushesDone)
	select {
	case <-notifyDone:
	case <-sctx.Done():
		stopNotify()
		<-notifyDone
	}
	if flushErr != nil {
		flushErr = fmt.Errorf("final flush: %w (uncommitted messages will be redelivered)", flushErr)
	}
	if errors.Is(fetchErr, context.Canceled) {
		fetchErr = nil
	}
	return errors.Join(fetchErr, flushErr)
}

func (in *Ingester) curIdle() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cur.idle()
}

// fetchLoop reads messages until ctx ends or the reader fails for good.
func (in *Ingester) fetchLoop(ctx context.Context) error {
	var hashes []uint64
	for {
		in.mu.Lock()
		for in.cur.subjects >= in.opts.MaxPending && ctx.Err() == nil && in.running {
			in.cond.Wait()
		}
		in.mu.Unlock()

		msg, err := in.src.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("fetch: %w", err)
		}
		hashes = in.add(msg, hashes[:0])
	}
}

// add decodes msg and adds it to the pending work. It returns hashes for
// reuse.
func (in *Ingester) add(msg kafka.Message, hashes []uint64) []uint64 {
	now := in.opts.Now()
	ev, err := event.Decode(msg.Value, now)
	var year, day, thisYear int
	if err == nil {
		year, day = sketch.DayOf(ev.OccurredAt, in.opts.Location)
		thisYear, _ = sketch.DayOf(now, in.opts.Location)
		// Events older than both windows are accepted and ignored.
		if year >= thisYear-1 {
			hashes = in.opts.Hasher.AppendSums(hashes, ev.Subjects)
		}
	}

	in.mu.Lock()
	p := in.cur
	if err != nil {
		p.dead = append(p.dead, deadLetter(msg, err))
	} else if len(hashes) > 0 {
		cell := sketch.CellOf(ev.Kind, ev.Sensitive, ev.Exempt())
		p.batch.AddDense(in.dense, ev.Entity, year, day, cell, ev.ImportantData, hashes)
		p.subjects += len(hashes)
	}
	p.last[msg.Partition] = msg
	full := p.subjects >= in.opts.MaxPending
	in.mu.Unlock()

	if err != nil {
		in.m.invalid.Inc()
		in.opts.Logger.Debug("invalid event sent to the dead-letter topic",
			"partition", msg.Partition, "offset", msg.Offset, "err", err)
	} else {
		in.m.accepted.Inc()
		in.m.subjects.Add(float64(len(ev.Subjects)))
	}
	if full {
		select {
		case in.kick <- struct{}{}:
		default:
		}
	}
	return hashes
}

// flush tries to finish the work held in retry — merge, dead letters,
// commit — taking the current work first when retry is idle. On failure
// retry keeps what is left, and the current work stays where it is: it fills
// up to MaxPending and then fetching waits, so a long outage holds memory
// bounded instead of piling batches onto the retry.
func (in *Ingester) flush(ctx context.Context, retry *pending) error {
	if retry.idle() {
		in.mu.Lock()
		*retry, in.cur = *in.cur, newPending()
		in.cond.Broadcast()
		in.mu.Unlock()
	}
	if retry.idle() {
		return nil
	}
	start := time.Now()
	err := in.finish(ctx, retry)
	in.m.flushDuration.Observe(time.Since(start).Seconds())

	in.mu.Lock()
	in.flushOK, in.lastErr = err == nil, err
	in.cond.Broadcast()
	in.mu.Unlock()
	if err != nil {
		in.m.flushErrors.Inc()
	}
	return err
}

func (in *Ingester) finish(ctx context.Context, p *pending) error {
	var entities []string
	if !p.merged && len(p.batch) > 0 {
		if err := in.store.Merge(ctx, p.batch); err != nil {
			return fmt.Errorf("merge into store: %w", err)
		}
		entities = p.batch.Entities()
		p.merged = true
		in.mu.Lock()
		in.dense.Learn(p.batch)
		in.mu.Unlock()
	}
	if len(p.dead) > 0 {
		err := in.dlq.WriteMessages(ctx, p.dead...)
		if tooLarge(err) && truncate(p.dead) {
			// A dead letter may never block its partition: one the
			// dead-letter topic refuses goes again with its value cut.
			err = in.dlq.WriteMessages(ctx, p.dead...)
		}
		if err != nil {
			return fmt.Errorf("write dead letters: %w", err)
		}
		p.dead = nil
	}
	if len(p.last) > 0 {
		msgs := make([]kafka.Message, 0, len(p.last))
		for _, m := range p.last {
			msgs = append(msgs, m)
		}
		if err := in.src.CommitMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("commit offsets: %w", err)
		}
		for _, m := range msgs {
			if m.HighWaterMark > 0 {
				in.m.setLag(m.Partition, m.HighWaterMark-m.Offset-1)
			}
		}
	}
	*p = *newPending()
	if len(entities) > 0 && in.opts.OnFlush != nil {
		in.mu.Lock()
		for _, id := range entities {
			in.notified[id] = struct{}{}
		}
		in.mu.Unlock()
		select {
		case in.notifyWake <- struct{}{}:
		default:
		}
	}
	return nil
}

// notifyLoop calls OnFlush with the entities flushed since its last call,
// whenever there are some, until flushesDone is closed; then once more for
// what the last flushes touched.
func (in *Ingester) notifyLoop(ctx context.Context, flushesDone <-chan struct{}) {
	for {
		last := false
		select {
		case <-in.notifyWake:
		case <-flushesDone:
			last = true
		}
		in.mu.Lock()
		ids := make([]string, 0, len(in.notified))
		for id := range in.notified {
			ids = append(ids, id)
		}
		clear(in.notified)
		in.mu.Unlock()
		if len(ids) > 0 && ctx.Err() == nil {
			in.opts.OnFlush(ctx, ids)
		}
		if last {
			return
		}
	}
}

// deadLetter builds the dead-letter message of msg: the original key, value
// and headers, plus the reason and the source coordinates.
func deadLetter(msg kafka.Message, reason error) kafka.Message {
	headers := make([]kafka.Header, 0, len(msg.Headers)+4)
	headers = append(headers, msg.Headers...)
	headers = append(headers,
		kafka.Header{Key: "tw-error", Value: []byte(oneLine(reason.Error()))},
		kafka.Header{Key: "tw-source-topic", Value: []byte(msg.Topic)},
		kafka.Header{Key: "tw-source-partition", Value: []byte(strconv.Itoa(msg.Partition))},
		kafka.Header{Key: "tw-source-offset", Value: []byte(strconv.FormatInt(msg.Offset, 10))},
	)
	return kafka.Message{Key: msg.Key, Value: msg.Value, Headers: headers}
}

// TruncatedSize is how much of a dead letter's value is kept when the
// dead-letter topic refuses the whole of it.
const TruncatedSize = 64 << 10

// tooLarge reports whether a write failed because a message was too large
// for the client's batch or the broker's limit.
func tooLarge(err error) bool {
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if tooLarge(e) {
				return true
			}
		}
		return false
	}
	return errors.Is(err, kafka.MessageSizeTooLarge)
}

// truncate cuts every value larger than TruncatedSize down to that size and
// records the original size in the header tw-value-truncated. It reports
// whether it cut anything.
func truncate(msgs []kafka.Message) bool {
	cut := false
	for i := range msgs {
		if n := len(msgs[i].Value); n > TruncatedSize {
			msgs[i].Value = msgs[i].Value[:TruncatedSize]
			msgs[i].Headers = append(msgs[i].Headers, kafka.Header{Key: "tw-value-truncated", Value: []byte(strconv.Itoa(n))})
			cut = true
		}
	}
	return cut
}

func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}
