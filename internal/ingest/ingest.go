// Package ingest consumes transfer events from Kafka and turns them into
// sketch updates in the store.
//
// The Consumer joins the consumer group; for each generation the Ingester
// reads every partition assigned to it with a reader of its own, which
// also decodes, validates and hashes each event (see item), so that the
// partitions are decoded in parallel; one fetch loop adds the items of
// every partition, in the order of each, into an in-memory batch; the
// flush loop, every flush interval, merges the batch into the store,
// writes the invalid events to the dead-letter topic, records in the store
// the offsets the flush covers, and only then commits them. Inserting a
// subject twice leaves a sketch unchanged, so the at-least-once delivery
// this gives (a crash after the merge and before the commit replays those
// messages) still yields exactly-once counts.
//
// Because the store records its offsets before the group commits them, a
// group that committed past what the store holds means the store lost or
// rolled back data (a Redis restarted empty, a failover to an empty
// replica, a backup restored). The ingester notices it when a generation
// starts, on every flush and every few seconds while idle; the Checker
// notices it for every partition, whoever reads it. The partitions are
// then read again from the store's own offsets, so the figures come back
// exactly; where Kafka no longer holds those events, the partition waits
// for an operator's `transferwatch store accept-loss`. Meanwhile nothing
// is committed past the store, and the decision layer, asking the
// Checker, answers that it does not know.
package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store"
	"github.com/transferwatch/transferwatch/internal/subject"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// DeadLetters receives invalid events: *kafka.Writer on the dead-letter topic.
type DeadLetters interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Store receives the aggregated sketches and keeps the offsets they cover.
type Store interface {
	Merge(ctx context.Context, b sketch.Batch) error
	Entities(ctx context.Context) ([]string, error)
	Offsets(ctx context.Context, group, topic string) (map[int]int64, error)
	RecordOffsets(ctx context.Context, group, topic string, next, floors map[int]int64) error
}

var _ DeadLetters = (*kafka.Writer)(nil)

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
	// RecheckInterval is how often the store's offsets are checked while
	// no flush records any, and how often a partition that cannot be read
	// is looked at again. Default 5s.
	RecheckInterval time.Duration
	// MaxEntities bounds the entities counted: events of new entities past
	// it go to the dead-letter topic. Default 10,000.
	MaxEntities int
	// MaxFlows bounds the flows kept per entity and year: transfers of new
	// flows past it are counted in the flow of recipient "other" (and in
	// transferwatch_flow_overflow_events_total). Default 1,000.
	MaxFlows int
	// Configured reports whether the configuration lists an entity; nil
	// means none is listed. Configured entities are always counted.
	Configured func(entity string) bool
	// RejectUnknown sends events of entities not configured to the
	// dead-letter topic (policy.unknown_entities: dead_letter).
	RejectUnknown bool
	// OnFlush is called after flushes that reached the store, with the
	// entities they touched; the policy layer re-evaluates them. It runs
	// beside the flush loop, one call at a time, so that a slow evaluation
	// never holds up flushes and commits: the entities of the flushes that
	// land during a call come together in a next one. A call carries at
	// most 64 entities: those never passed on, then those of the latest
	// flushes first (see notifyChunk). Run returns after the last call.
	OnFlush func(ctx context.Context, entities []string)
	// OnStoreBehind is called when the store turns out to hold less than
	// this instance recorded in it: it lost or rolled back data.
	OnStoreBehind func(err error)
	Now           func() time.Time
	Logger        *slog.Logger
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
	if o.RecheckInterval <= 0 {
		o.RecheckInterval = 5 * time.Second
	}
	if o.MaxEntities <= 0 {
		o.MaxEntities = 10_000
	}
	if o.MaxFlows <= 0 {
		o.MaxFlows = 1_000
	}
	if o.Configured == nil {
		o.Configured = func(string) bool { return false }
	}
	if o.OnStoreBehind == nil {
		o.OnStoreBehind = func(error) {}
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
	src   *Consumer
	dlq   DeadLetters
	store Store
	opts  Options
	m     *metrics

	mu      sync.Mutex
	cond    *sync.Cond // signalled when a flush drained the pending work
	cur     *pending   // filled by the fetch loop
	gen     *genState  // the generation being read; nil between generations
	running bool
	flushOK bool
	lastErr error
	// known holds the entities counted (see admit); knownLoaded tells
	// whether those of the store are among them yet.
	known       map[string]struct{}
	knownLoaded bool
	// dense holds the cells dense in the store: new batches start them
	// dense (sketch.Batch.AddDense).
	dense sketch.Dense
	// flows holds, per entity-year, the flows this instance has seen, for
	// the flow cap (Options.MaxFlows). Years more than one older than the
	// newest flushed are forgotten.
	flows map[sketch.Key]map[sketch.FlowKey]struct{}
	// hot holds the flows whose sketches new batches start dense.
	hot sketch.HotFlows
	// notified holds the entities flushed since OnFlush was last called;
	// notifyWake wakes the loop that calls it.
	notified   map[string]struct{}
	notifyWake chan struct{}
	kick       chan struct{} // asks the flush loop for an early flush
}

// genState is what the ingester keeps of the generation it reads. Its maps
// are guarded by Ingester.mu.
type genState struct {
	g     *generation
	items chan *item // from the partition readers, in the order of each
	// free returns the items added to the readers, for reuse.
	free chan *item
	// floors holds, per partition being read, the least offset the store
	// must still hold: what it held when reading started, then what this
	// instance recorded. Less means the store lost data.
	floors map[int]int64
	// hold holds the partitions being replayed into a store that fell
	// behind the group: their offsets are committed only once the replay
	// reaches the offset the group had committed, so that a crash during
	// the replay cannot hide it.
	hold map[int]int64
	// flushed is, per partition read, the next offset not yet counted in
	// the store.
	flushed map[int]int64
	// waiting holds the partitions not read yet, and why.
	waiting map[int]string
	// lastCheck is when the store's offsets were last checked.
	lastCheck time.Time
}

// pending is the work between two commits: the sketches to merge, the dead
// letters to write and the last message of each partition to commit. The
// three travel together so that a commit never covers work not yet done.
type pending struct {
	batch    sketch.Batch
	merged   bool // batch reached the store once (its bookkeeping is done); a retry merges it again
	dead     []kafka.Message
	last     map[int]kafka.Message // by partition
	subjects int
}

func newPending() *pending {
	return &pending{batch: make(sketch.Batch), last: make(map[int]kafka.Message)}
}

// idle reports whether p holds no work.
func (p *pending) idle() bool { return len(p.last) == 0 && len(p.batch) == 0 && len(p.dead) == 0 }

// New returns an ingester reading the consumer group of src and merging
// into st.
func New(src *Consumer, dlq DeadLetters, st Store, reg prometheus.Registerer, opts Options) *Ingester {
	opts.defaults()
	in := &Ingester{
		src: src, dlq: dlq, store: st, opts: opts,
		m:     newMetrics(reg),
		cur:   newPending(),
		known: make(map[string]struct{}),
		dense: make(sketch.Dense),
		flows: make(map[sketch.Key]map[sketch.FlowKey]struct{}),
		hot:   make(sketch.HotFlows),
		kick:  make(chan struct{}, 1),

		notified:   make(map[string]struct{}),
		notifyWake: make(chan struct{}, 1),
	}
	in.cond = sync.NewCond(&in.mu)
	in.m.entityLimit.Set(float64(opts.MaxEntities))
	return in
}

// Ready returns nil while the ingester holds a generation of the group,
// reads every partition assigned to it, and its last flush succeeded.
func (in *Ingester) Ready() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	switch {
	case !in.running:
		return errors.New("consumer not running")
	case in.gen == nil:
		return errors.New("consumer joining the group: no partitions assigned yet")
	case len(in.gen.waiting) > 0:
		ps := slices.Sorted(maps.Keys(in.gen.waiting))
		return fmt.Errorf("partition %d not read yet: %s", ps[0], in.gen.waiting[ps[0]])
	case !in.flushOK:
		return fmt.Errorf("flush failing: %w", in.lastErr)
	}
	return nil
}

// Run consumes until ctx ends, generation after generation of the group,
// then flushes and commits what it holds within the shutdown timeout. No
// error of the broker or the store ends it: it waits and tries again. It
// returns nil on a clean shutdown.
func (in *Ingester) Run(ctx context.Context) error {
	in.mu.Lock()
	in.running, in.flushOK = true, true
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		in.running = false
		in.mu.Unlock()
	}()

	notifyCtx, stopNotify := context.WithCancel(context.WithoutCancel(ctx))
	defer stopNotify()
	flushesDone, notifyDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(notifyDone)
		in.notifyLoop(notifyCtx, flushesDone)
	}()

	var flushErr error
	for backoff := time.Duration(0); ctx.Err() == nil; {
		g, err := in.src.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, kafka.ErrGroupClosed) {
				return err
			}
			backoff = in.wait(ctx, backoff, "join the consumer group", err)
			continue
		}
		backoff = 0
		flushErr = in.runGeneration(ctx, g)
	}

	// The last OnFlush, within the shutdown timeout.
	close(flushesDone)
	select {
	case <-notifyDone:
	case <-time.After(in.opts.ShutdownTimeout):
		stopNotify()
		<-notifyDone
	}
	if flushErr != nil {
		flushErr = fmt.Errorf("final flush: %w (uncommitted messages will be redelivered)", flushErr)
	}
	return flushErr
}

// wait logs a failed step and waits before the next try; it returns the
// next backoff.
func (in *Ingester) wait(ctx context.Context, backoff time.Duration, what string, err error) time.Duration {
	backoff = min(max(2*backoff, in.opts.MinBackoff), in.opts.MaxBackoff)
	in.opts.Logger.Warn("cannot "+what+"; retrying", "err", err, "backoff", backoff.String())
	select {
	case <-ctx.Done():
	case <-time.After(backoff):
	}
	return backoff
}

// loadKnown reads the entities of the store once, for the entity cap. Until
// it succeeds, the cap counts the entities this instance saw.
func (in *Ingester) loadKnown(ctx context.Context) error {
	in.mu.Lock()
	loaded := in.knownLoaded
	in.mu.Unlock()
	if loaded {
		return nil
	}
	ids, err := in.store.Entities(ctx)
	if err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.knownLoaded = true
	for _, id := range ids {
		in.known[id] = struct{}{}
	}
	in.m.entities.Set(float64(len(in.known)))
	return nil
}

// runGeneration reads the partitions of g until the generation or ctx
// ends, flushing every flush interval. At the end it flushes what it holds
// (on shutdown, retrying within the shutdown timeout) and drops the rest:
// what was not committed is read again by whoever holds the partition next.
// It returns the last flush's error.
func (in *Ingester) runGeneration(ctx context.Context, g *generation) error {
	defer g.end()
	gs := &genState{
		g:       g,
		items:   make(chan *item, itemQueue),
		free:    make(chan *item, itemQueue+64),
		floors:  make(map[int]int64),
		hold:    make(map[int]int64),
		flushed: make(map[int]int64),
		waiting: make(map[int]string),
	}
	parts := g.partitions()
	for _, p := range parts {
		gs.waiting[p] = "starting"
	}
	in.m.lag.Reset()
	in.mu.Lock()
	in.gen = gs
	in.mu.Unlock()
	in.opts.Logger.Info("consumer group generation joined", "generation", g.gen.ID, "partitions", parts)
	for _, p := range parts {
		g.gen.Start(func(gctx context.Context) { in.readPartition(gctx, gs, p) })
	}
	g.gen.Start(func(gctx context.Context) { in.watchLag(gctx, gs) })

	fetchCtx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	fetchDone := make(chan struct{})
	go func() {
		defer close(fetchDone)
		in.fetchLoop(fetchCtx, g.ctx, gs)
	}()

	retry := newPending() // work whose flush failed, retried first
	backoff := time.Duration(0)
	timer := time.NewTimer(in.opts.FlushInterval)
	defer timer.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-g.ctx.Done():
			break loop
		case <-timer.C:
		case <-in.kick:
		}
		if err := in.flush(ctx, retry, gs); err != nil {
			backoff = min(max(2*backoff, in.opts.MinBackoff), in.opts.MaxBackoff)
			in.opts.Logger.Warn("flush failed; retrying", "err", err, "backoff", backoff.String())
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

	// Stop fetching (waking the fetch loop if backpressure holds it), then
	// flush what is held: on shutdown until done or out of time, at the end
	// of a generation once (its commit may fail: the next holder of the
	// partitions reads those messages again).
	stopFetch()
	in.mu.Lock()
	in.cond.Broadcast()
	in.mu.Unlock()
	<-fetchDone

	shutdown := ctx.Err() != nil
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.opts.ShutdownTimeout)
	defer cancel()
	var flushErr error
	for {
		flushErr = in.flush(sctx, retry, gs)
		if !shutdown || flushErr == nil && retry.idle() && in.curIdle() || sctx.Err() != nil {
			break
		}
		if flushErr != nil {
			select {
			case <-sctx.Done():
			case <-time.After(in.opts.MinBackoff):
			}
		}
	}
	in.mu.Lock()
	in.gen = nil
	in.cur = newPending()
	in.cond.Broadcast()
	in.mu.Unlock()
	if !shutdown {
		in.opts.Logger.Info("consumer group generation ended", "generation", g.gen.ID)
		return nil
	}
	return flushErr
}

func (in *Ingester) curIdle() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cur.idle()
}

// itemQueue is how many decoded items may wait for the fetch loop.
const itemQueue = 1024

// maxDrain is how many waiting items the fetch loop adds under one hold of
// the lock.
const maxDrain = 128

// fetchLoop adds the items of the partition readers to the batch until ctx
// or the generation ends, and hands them back for reuse.
func (in *Ingester) fetchLoop(ctx, gctx context.Context, gs *genState) {
	for {
		in.mu.Lock()
		for in.cur.subjects >= in.opts.MaxPending && ctx.Err() == nil && gctx.Err() == nil {
			in.cond.Wait()
		}
		in.mu.Unlock()
		var it *item
		select {
		case <-ctx.Done():
			return
		case <-gctx.Done():
			return
		case it = <-gs.items:
		}
		// Add it, and those already waiting behind it, under one hold of
		// the lock, until one is invalid (logged after) or the batch full.
		var c addCounts
		in.mu.Lock()
		for {
			in.addLocked(it, &c)
			gs.recycle(it)
			if c.lastErr != nil || c.full || c.items >= maxDrain || len(gs.items) == 0 {
				break
			}
			it = <-gs.items
		}
		in.mu.Unlock()
		in.added(&c)
	}
}

// maxRecycled is the capacity of the largest hash buffer handed back to
// the readers: those of events with many subjects are left to the garbage
// collector rather than kept by the thousand.
const maxRecycled = 1024

// recycle hands an added item back to the readers, with its hash buffer
// and nothing else, unless enough wait.
func (gs *genState) recycle(it *item) {
	buf := it.hashes[:0]
	if cap(buf) > maxRecycled {
		buf = nil
	}
	*it = item{hashes: buf}
	select {
	case gs.free <- it:
	default:
	}
}

// readPartition reads one partition of the generation into gs.msgs, from
// where the store and the group agree it should start (see startOffset).
// A partition that cannot be read is looked at again every
// RecheckInterval; it ends the generation only when its events turn out to
// be gone, so that the partitions are checked again.
func (in *Ingester) readPartition(gctx context.Context, gs *genState, p int) {
	log := in.opts.Logger.With("partition", p)
	var start int64
	for {
		var err error
		start, err = in.resolve(gctx, gs, p)
		if err == nil {
			break
		}
		in.mu.Lock()
		gs.waiting[p] = err.Error()
		in.mu.Unlock()
		if _, ok := errors.AsType[*LostError](err); ok {
			in.opts.OnStoreBehind(err)
			log.Error("partition not read: its events are counted nowhere", "err", err)
		} else {
			log.Warn("partition not read yet", "err", err)
		}
		select {
		case <-gctx.Done():
			return
		case <-time.After(in.opts.RecheckInterval):
		}
	}
	in.mu.Lock()
	delete(gs.waiting, p)
	gs.flushed[p] = max(start, 0)
	in.mu.Unlock()

	r := in.src.reader(p, start)
	defer r.Close()
	var dec event.Decoder
	sum := in.opts.Hasher.SumBytes
	backoff := time.Duration(0)
	for {
		m, err := r.FetchMessage(gctx)
		if err != nil {
			if gctx.Err() != nil {
				return
			}
			if errors.Is(err, kafka.OffsetOutOfRange) {
				// Retention deleted events not yet read: rejoin, so that
				// resolve says what is gone.
				log.Error("events deleted by retention before they were counted; rejoining the group", "err", err)
				return
			}
			backoff = min(max(2*backoff, in.opts.MinBackoff), in.opts.MaxBackoff)
			log.Warn("fetch failed; retrying", "err", err, "backoff", backoff.String())
			select {
			case <-gctx.Done():
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		var it *item
		select {
		case it = <-gs.free:
		default:
			it = new(item)
		}
		in.decode(&dec, sum, m, it)
		select {
		case gs.items <- it:
		case <-gctx.Done():
			return
		}
	}
}

// resolve returns the offset to read partition p from, and records its
// floor and hold in gs.
func (in *Ingester) resolve(ctx context.Context, gs *genState, p int) (int64, error) {
	stored, err := in.store.Offsets(ctx, in.src.cfg.GroupID, in.src.cfg.Topic)
	if err != nil {
		return 0, fmt.Errorf("read the store's offsets: %w", err)
	}
	s, ok := stored[p]
	if !ok {
		s = store.NoOffset
	}
	committed := gs.g.committed[p]
	start, err := StartOffset(p, committed, s, func() (int64, error) {
		w, err := in.src.watermarks(ctx, []int{p}, true)
		return w[p], err
	})
	if err != nil {
		return 0, err
	}
	in.mu.Lock()
	gs.floors[p] = s
	if committed >= 0 && s < committed {
		gs.hold[p] = committed
		in.opts.Logger.Error("the store holds less than the consumer group committed: replaying from the store's offset",
			"partition", p, "store", s, "committed", committed, "replay_from", start)
	}
	in.mu.Unlock()
	return start, nil
}

// LostError reports events of a partition counted nowhere: the store does
// not hold them and Kafka no longer has them.
type LostError struct {
	Partition int
	// Stored is the store's offset (store.NoOffset if none), Committed the
	// group's (negative if none), Oldest the oldest offset Kafka holds.
	Stored, Committed, Oldest int64
}

// From is the first offset lost.
func (e *LostError) From() int64 {
	if e.Committed >= 0 && e.Committed <= e.Stored {
		return e.Committed
	}
	return max(e.Stored, 0)
}

func (e *LostError) Error() string {
	return fmt.Sprintf("partition %d: the store covers offsets below %d, the group committed %d, and Kafka keeps offsets from %d on: "+
		"%d events (offsets %d to %d) are counted nowhere; restore the store from a backup, or run `transferwatch store accept-loss`",
		e.Partition, max(e.Stored, 0), e.Committed, e.Oldest, e.Oldest-e.From(), e.From(), e.Oldest-1)
}

// StartOffset decides where to read partition p from: the group's
// committed offset (negative: none), unless the store holds less (stored;
// store.NoOffset: nothing), in which case the store lost or rolled back
// data and the events from its offset are read again, exactly what it
// lacks. oldest returns the oldest offset Kafka holds; when the events to
// read are older, they are gone and StartOffset returns a *LostError.
func StartOffset(p int, committed, stored int64, oldest func() (int64, error)) (int64, error) {
	var start int64
	switch {
	case committed < 0 && stored < 0:
		return kafka.FirstOffset, nil
	case committed < 0:
		start = stored
	case stored >= committed:
		start = committed
	default:
		start = max(stored, 0)
	}
	lw, err := oldest()
	if err != nil {
		return 0, fmt.Errorf("read the oldest offset: %w", err)
	}
	if start < lw {
		return 0, &LostError{Partition: p, Stored: stored, Committed: committed, Oldest: lw}
	}
	return start, nil
}

// watchLag sets the consumer lag of the generation's partitions every few
// seconds: the high watermark against the next offset not yet counted in
// the store, so that the lag grows while the store is away, whether the
// events wait in Kafka or in memory.
func (in *Ingester) watchLag(gctx context.Context, gs *genState) {
	parts := gs.g.partitions()
	if len(parts) == 0 {
		<-gctx.Done()
		return
	}
	t := time.NewTicker(min(in.opts.RecheckInterval, 2*time.Second))
	defer t.Stop()
	for {
		select {
		case <-gctx.Done():
			return
		case <-t.C:
		}
		hw, err := in.src.watermarks(gctx, parts, false)
		if err != nil {
			continue // the broker is away; the gauge keeps its last value
		}
		in.mu.Lock()
		for p, pos := range gs.flushed {
			in.m.setLag(p, hw[p]-pos)
		}
		in.mu.Unlock()
	}
}

// item is one message of a partition, decoded, checked and hashed by the
// partition's reader (decode), waiting to be added to the batch (add).
type item struct {
	// msg is the message, whole: an event that is invalid or not admitted
	// goes to the dead-letter topic as it came.
	msg kafka.Message
	err error       // why the event is invalid
	ev  event.Event // the event, without its subjects
	// hashes holds the hashes of the subjects, none when the event is
	// older than both windows (accepted and ignored).
	hashes    []uint64
	subjects  int // how many subjects the event holds
	year, day int
	cell      sketch.Cell
}

// decode decodes msg into it, hashing its subjects with sum into the hash
// buffer of it, with the decoder of msg's partition. It runs in the
// partition's reader, beside the readers of the other partitions.
func (in *Ingester) decode(dec *event.Decoder, sum func([]byte) uint64, msg kafka.Message, it *item) {
	now := in.opts.Now()
	ev, hashes, err := dec.DecodeSums(msg.Value, now, it.hashes[:0], sum)
	*it = item{msg: msg, err: err, hashes: hashes}
	if err != nil {
		return
	}
	it.ev, it.subjects = ev, len(hashes)
	it.year, it.day = sketch.DayOf(ev.OccurredAt, in.opts.Location)
	// Events older than both windows are accepted and ignored.
	if thisYear, _ := sketch.DayOf(now, in.opts.Location); it.year < thisYear-1 {
		it.hashes = hashes[:0]
	}
	it.cell = sketch.CellOf(ev.Kind, ev.Sensitive, policy.StoredExempt(ev.Exemption, ev.ImportantData))
}

// add adds a decoded item to the pending work.
func (in *Ingester) add(it *item) {
	var c addCounts
	in.mu.Lock()
	in.addLocked(it, &c)
	in.mu.Unlock()
	in.added(&c)
}

// addCounts sums up the items added under one hold of the lock, for the
// metrics, the log and the flush loop after it is released.
type addCounts struct {
	items, accepted, subjects int
	full                      bool // the pending work reached MaxPending
	lastErr                   error
	last                      kafka.Message // the item of lastErr
}

func (c *addCounts) count(it *item, err error) {
	c.items++
	if err != nil {
		c.lastErr, c.last = err, it.msg
		return
	}
	c.accepted++
	c.subjects += it.subjects
}

// added updates the metrics and the log after items were added, and asks
// for an early flush when the pending work is full.
func (in *Ingester) added(c *addCounts) {
	if c.accepted > 0 {
		in.m.accepted.Add(float64(c.accepted))
		in.m.subjects.Add(float64(c.subjects))
	}
	if c.lastErr != nil {
		in.m.invalid.Inc()
		in.opts.Logger.Debug("invalid event sent to the dead-letter topic",
			"partition", c.last.Partition, "offset", c.last.Offset, "err", c.lastErr)
	}
	if c.full {
		select {
		case in.kick <- struct{}{}:
		default:
		}
	}
}

// addLocked adds a decoded item to the pending work, under in.mu: to the
// batch, or, invalid or not admitted, to the dead letters; and counts it
// in c.
func (in *Ingester) addLocked(it *item, c *addCounts) {
	err, ev, msg := it.err, &it.ev, it.msg
	if err == nil {
		err = in.admit(ev.Entity, len(it.hashes) > 0)
	}
	p := in.cur
	if err != nil {
		p.dead = append(p.dead, deadLetter(msg, err))
	} else if len(it.hashes) > 0 {
		y := p.batch.AddDense(in.dense, ev.Entity, it.year, it.day, it.cell, ev.ImportantData, it.hashes)
		if ev.Kind != event.KindProcessing {
			in.addFlows(y, msg, ev, it.year, it.cell.Exempt(), it.hashes)
		}
		p.subjects += len(it.hashes)
	}
	// Only the coordinates of the last message are kept, for the commit:
	// its value holds raw identifiers.
	p.last[msg.Partition] = kafka.Message{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset}
	c.count(it, err)
	c.full = p.subjects >= in.opts.MaxPending
}

// addFlows records a transfer event in its flows (one per category that
// applies), under in.mu. A flow new to an entity-year that already holds
// MaxFlows goes to the flow of recipient sketch.OtherRecipient instead.
func (in *Ingester) addFlows(y *sketch.Year, msg kafka.Message, ev *event.Event, year int, exempt bool, hashes []uint64) {
	id := sketch.EventHash(msg.Topic, msg.Partition, msg.Offset)
	at := ev.OccurredAt.Unix()
	k := sketch.FlowKey{Recipient: ev.Recipient, Destination: ev.Destination, Exempt: exempt}
	for _, c := range sketch.Categories {
		switch c {
		case sketch.CategorySensitive:
			if !ev.Sensitive {
				continue
			}
		case sketch.CategoryImportantData:
			if !ev.ImportantData {
				continue
			}
		}
		k.Category = c
		if f := y.FlowOf(k); f != nil {
			// In the batch already, so admitted under the cap.
			f.Add(id, at, ev.Pipeline, hashes)
			continue
		}
		k = in.capFlow(ev.Entity, year, k)
		y.AddFlowDense(k, in.hot[sketch.Key{Entity: ev.Entity, Year: year}][k], id, at, ev.Pipeline, hashes)
	}
}

// capFlow returns k, or its "other" flow when k is new and the entity-year
// holds MaxFlows flows already.
func (in *Ingester) capFlow(entity string, year int, k sketch.FlowKey) sketch.FlowKey {
	ey := sketch.Key{Entity: entity, Year: year}
	seen := in.flows[ey]
	if _, ok := seen[k]; ok {
		return k
	}
	if seen == nil {
		seen = make(map[sketch.FlowKey]struct{})
		in.flows[ey] = seen
	}
	if len(seen) >= in.opts.MaxFlows {
		in.m.flowOverflow.Inc()
		return sketch.FlowKey{Recipient: sketch.OtherRecipient, Category: k.Category, Exempt: k.Exempt}
	}
	seen[k] = struct{}{}
	return k
}

// admit decides whether the events of entity are counted, under in.mu:
// configured entities always are; with RejectUnknown, no other is; else
// new entities are, until MaxEntities are known. counts is whether the
// event adds to any figure (an event older than both windows does not, and
// makes no entity known).
func (in *Ingester) admit(entity string, counts bool) error {
	if in.opts.Configured(entity) {
		if _, ok := in.known[entity]; !ok && counts {
			in.known[entity] = struct{}{}
			in.m.entities.Set(float64(len(in.known)))
		}
		return nil
	}
	if in.opts.RejectUnknown {
		return fmt.Errorf("entity %q is not configured (policy.unknown_entities: dead_letter)", entity)
	}
	if _, ok := in.known[entity]; ok || !counts {
		return nil
	}
	if len(in.known) >= in.opts.MaxEntities {
		return fmt.Errorf("entity %q is new and %d entities are counted already (limits.max_entities)", entity, len(in.known))
	}
	in.known[entity] = struct{}{}
	in.m.entities.Set(float64(len(in.known)))
	return nil
}

// forgetFlows forgets the flows of entity-years more than a year older
// than the newest of b, under in.mu.
func (in *Ingester) forgetFlows(b sketch.Batch) {
	newest := 0
	for k := range b {
		newest = max(newest, k.Year)
	}
	for k := range in.flows {
		if k.Year < newest-1 {
			delete(in.flows, k)
		}
	}
}

// flush tries to finish the work held in retry — merge, dead letters,
// offsets, commit — taking the current work first when retry is idle. On
// failure retry keeps what is left, and the current work stays where it
// is: it fills up to MaxPending and then fetching waits, so a long outage
// holds memory bounded instead of piling batches onto the retry. With no
// work, it checks every RecheckInterval that the store still holds the
// offsets recorded.
func (in *Ingester) flush(ctx context.Context, retry *pending, gs *genState) error {
	if retry.idle() {
		in.mu.Lock()
		*retry, in.cur = *in.cur, newPending()
		in.cond.Broadcast()
		in.mu.Unlock()
	}
	if err := in.loadKnown(ctx); err != nil {
		return fmt.Errorf("read the entities of the store: %w", err)
	}
	if retry.idle() {
		if time.Since(gs.lastCheck) < in.opts.RecheckInterval {
			return nil
		}
		return in.recordOffsets(ctx, gs, nil)
	}
	start := time.Now()
	err := in.finish(ctx, retry, gs)
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

func (in *Ingester) finish(ctx context.Context, p *pending, gs *genState) error {
	var entities []string
	if len(p.batch) > 0 {
		// Merged again by every attempt, even after it landed once: a
		// store that lost it since (restarted from a snapshot that still
		// holds the offsets recorded before) would otherwise get the
		// offsets recorded and committed without the figures, and no
		// floor would notice. Merging counts once however often it lands.
		if err := in.store.Merge(ctx, p.batch); err != nil {
			return fmt.Errorf("merge into store: %w", err)
		}
		entities = p.batch.Entities()
		if !p.merged {
			p.merged = true
			in.mu.Lock()
			in.dense.Learn(p.batch)
			in.forgetFlows(p.batch)
			in.hot.Learn(p.batch)
			in.mu.Unlock()
		}
	}
	if err := in.writeDeadLetters(ctx, p); err != nil {
		return err
	}
	if len(p.last) > 0 {
		next := make(map[int]int64, len(p.last))
		for part, m := range p.last {
			next[part] = m.Offset + 1
		}
		// The store records what its figures cover before the group
		// commits it: a committed offset the store lacks is a loss.
		if err := in.recordOffsets(ctx, gs, next); err != nil {
			return err
		}
		if err := in.commit(gs, next); err != nil {
			return fmt.Errorf("commit offsets: %w", err)
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

// recordOffsets records next in the store, checking that it still holds
// the floors of gs. A store found behind ends the generation: the
// partitions are resolved again, from what the store now holds.
func (in *Ingester) recordOffsets(ctx context.Context, gs *genState, next map[int]int64) error {
	in.mu.Lock()
	floors := maps.Clone(gs.floors)
	in.mu.Unlock()
	err := in.store.RecordOffsets(ctx, in.src.cfg.GroupID, in.src.cfg.Topic, next, floors)
	if _, ok := errors.AsType[*store.OffsetsBehindError](err); ok {
		in.opts.Logger.Error("the store lost or rolled back data: no further commits; rejoining to replay what it lacks", "err", err)
		in.opts.OnStoreBehind(err)
		gs.g.end()
		return err
	}
	if err != nil {
		return fmt.Errorf("record offsets in the store: %w", err)
	}
	in.mu.Lock()
	gs.lastCheck = time.Now()
	for part, off := range next {
		gs.floors[part] = max(gs.floors[part], off)
		gs.flushed[part] = max(gs.flushed[part], off)
	}
	in.mu.Unlock()
	return nil
}

// commit commits next, less the partitions being replayed into a store
// that fell behind until the replay reaches the group's old offset.
func (in *Ingester) commit(gs *genState, next map[int]int64) error {
	in.mu.Lock()
	for part, off := range next {
		if hold, ok := gs.hold[part]; ok {
			if off < hold {
				delete(next, part)
				continue
			}
			delete(gs.hold, part)
			in.opts.Logger.Info("partition replayed into the store up to the group's offset", "partition", part, "offset", off)
		}
	}
	in.mu.Unlock()
	if err := gs.g.commit(in.src.cfg.Topic, next); err != nil {
		if gs.g.ctx.Err() != nil {
			// The generation ended: the next holder reads these again.
			return nil
		}
		return err
	}
	return nil
}

// writeDeadLetters writes the dead letters of p, each once: after a
// partial failure only those not written are written again.
func (in *Ingester) writeDeadLetters(ctx context.Context, p *pending) error {
	for attempt := 0; len(p.dead) > 0; attempt++ {
		err := in.dlq.WriteMessages(ctx, p.dead...)
		if err == nil {
			p.dead = nil
			return nil
		}
		p.dead = notWritten(p.dead, err)
		if attempt == 0 && tooLarge(err) && truncate(p.dead) {
			// A dead letter may never block its partition: one the
			// dead-letter topic refuses goes again with its value cut.
			continue
		}
		return fmt.Errorf("write dead letters: %w", err)
	}
	return nil
}

// notWritten returns the messages of msgs that the failed write err did not
// write: those whose error it names, or all when it names none.
func notWritten(msgs []kafka.Message, err error) []kafka.Message {
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) || len(werrs) != len(msgs) {
		return msgs
	}
	var out []kafka.Message
	for i, e := range werrs {
		if e != nil {
			out = append(out, msgs[i])
		}
	}
	return out
}

// notifyChunk is the most entities one OnFlush call carries. When
// evaluation falls behind the flushes (every flush of a backlog touching
// thousands of entities), a call per flush would queue a just-flushed
// entity behind every entity of the flushes before it, for as long as
// evaluating them all takes (10 s and more at 10,000 entities). In calls
// of notifyChunk, entities never passed on go first (they have no decision
// at all yet), then those of the latest flushes (among them, those passed
// on least recently), so an entity that just crossed a threshold waits for
// about one call once the load eases; entities left behind meanwhile are
// evaluated by the decider's periodic full round (every 30 s, in chunks
// that let these calls in between) if not before.
const notifyChunk = 64

// notifyLoop calls OnFlush with the entities flushed since they were last
// passed on, whenever there are some, in calls of at most notifyChunk
// entities, in the order notifyChunk says, until flushesDone is closed;
// then until it has passed on what the last flushes touched.
func (in *Ingester) notifyLoop(ctx context.Context, flushesDone <-chan struct{}) {
	// pending holds the entities to pass on, with the sweep of in.notified
	// that last found them.
	pending := make(map[string]uint64)
	// passed holds when each entity was last passed on, as a count of
	// calls; an entity missing has never been.
	passed := make(map[string]uint64)
	calls, sweeps := uint64(0), uint64(0)
	var ids []string
	var top []notifyRank
	for {
		last := false
		select {
		case <-in.notifyWake:
		case <-flushesDone:
			last = true
		}
		for ctx.Err() == nil {
			sweeps++
			in.mu.Lock()
			for id := range in.notified {
				pending[id] = sweeps
			}
			clear(in.notified)
			in.mu.Unlock()
			if len(pending) == 0 {
				break
			}
			ids = nextNotified(ids[:0], pending, passed, &top)
			calls++
			for _, id := range ids {
				delete(pending, id)
				passed[id] = calls
			}
			in.opts.OnFlush(ctx, slices.Clone(ids))
		}
		if last {
			return
		}
	}
}

// notifyRank is where an entity stands in the order of notifyChunk.
type notifyRank struct {
	id     string
	passed bool   // passed on before
	sweep  uint64 // the sweep that last found it flushed
	call   uint64 // the call that last passed it on
}

// nextNotified appends to ids the entities of pending to pass on next: all
// of them, or the first notifyChunk in the order notifyChunk says. It
// ranks each entity once (one map read) and keeps the best notifyChunk in
// a heap, rather than sorting every pending id with map reads in each
// comparison: with 100,000 entities pending that sort took longer than
// evaluating the 64 it picked (BenchmarkNextNotified). top is reused
// between calls.
func nextNotified(ids []string, pending, passed map[string]uint64, top *[]notifyRank) []string {
	if len(pending) <= notifyChunk {
		for id := range pending {
			ids = append(ids, id)
		}
		return ids
	}
	h := (*top)[:0]
	for id, sweep := range pending {
		call, ok := passed[id]
		r := notifyRank{id: id, passed: ok, sweep: sweep, call: call}
		switch {
		case len(h) < notifyChunk:
			h = append(h, r)
			up(h, len(h)-1)
		case r.before(h[0]): // better than the worst kept
			h[0] = r
			down(h, 0)
		}
	}
	for _, r := range h {
		ids = append(ids, r.id)
	}
	clear(h) // drop the ids until the next call
	*top = h[:0]
	return ids
}

// before reports whether r goes before o in the order of notifyChunk.
func (r notifyRank) before(o notifyRank) bool {
	return cmp.Or(compareBool(r.passed, o.passed), cmp.Compare(o.sweep, r.sweep), cmp.Compare(r.call, o.call)) < 0
}

// up and down keep h a heap whose root is the rank that goes last.
func up(h []notifyRank, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h[p].before(h[i]) {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func down(h []notifyRank, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		last := l
		if r := l + 1; r < len(h) && h[l].before(h[r]) {
			last = r
		}
		if !h[i].before(h[last]) {
			return
		}
		h[i], h[last] = h[last], h[i]
		i = last
	}
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
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
	if werrs, ok := errors.AsType[kafka.WriteErrors](err); ok {
		return slices.ContainsFunc(werrs, tooLarge)
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
