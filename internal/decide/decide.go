// Package decide keeps every entity's decision current: it reads the
// sketches of the entities a flush touched, holds them against the policy,
// caches the result for the API (which never waits on the store), exports
// the policy metrics, and publishes every decision change on the decisions
// topic.
//
// # Publishing: a transactional outbox
//
// A change is recorded once however many instances see it: each records the
// new decision with a compare-and-set on the entity's decision version in
// the store, and the same atomic step queues the change's message in the
// entity's outbox (store.Decisions.SwapDecision). Publishing drains outboxes
// under a short per-entity lease, so one instance at a time publishes an
// entity's messages, oldest first, and acknowledges exactly those it
// published. The instance that recorded a change drains at once; every
// evaluation round also drains every outbox it finds non-empty, so a change
// recorded by an instance that died before publishing is published by a
// survivor, and a publication that failed is retried from the store.
// Announcements (at start and every Reannounce) take the same lease and
// publish the entity's latest stored message, so they never land after a
// newer change: the last record of an entity on the topic always carries
// its highest version.
//
// # Versions never go backwards
//
// The decisions topic is the durable record of versions. At Start (and on
// Resync) the decider reads it from the beginning and keeps, per entity, the
// highest version published: the floor, which it raises with every message
// it publishes. When the store's record is below the floor (the store was
// lost, replaced or restored from an older backup), the next change gets
// the version after the floor, and a current decision equal to the floor's
// is restored into the store without a new message.
//
// # Failing closed
//
// Verdict, behind GET /v1/entities/{id}/decision, answers only what the
// decider knows: not before the first complete evaluation round, not while
// the store is unreachable or its integrity is in doubt, and not from
// figures older than MaxStaleness.
package decide

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store"
)

// Store is what the decider reads and records.
type Store interface {
	VersionedHistory(ctx context.Context, entity string, years ...int) (sketch.History, []string, error)
	Stamps(ctx context.Context, entities []string, years ...int) ([]store.Stamp, error)
	Entities(ctx context.Context) ([]string, error)
	Ping(ctx context.Context) error
	store.Decisions
}

var _ Store = store.Store(nil)

// Publisher writes to the decisions topic: a *kafka.Writer made by
// NewWriter, whose writes end within PublishTimeout.
type Publisher interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

var _ Publisher = (*kafka.Writer)(nil)

// Defaults of Options.
const (
	DefaultRefresh      = 30 * time.Second
	DefaultReannounce   = time.Hour
	DefaultMaxStaleness = 2 * time.Minute
	DefaultLeaseTTL     = 45 * time.Second
	DefaultPingInterval = 5 * time.Second
)

// Options of a Decider.
type Options struct {
	Settings policy.Settings
	Entities []policy.Entity // the registry from the configuration
	// Refresh is how often a round brings every known entity up to date,
	// so that days passing, approvals expiring, the year rolling over and
	// other instances' flushes show, and pending outboxes are drained: it
	// evaluates again the entities whose figures, decision record or date
	// changed, and re-confirms the others (see round). Default
	// DefaultRefresh.
	Refresh time.Duration
	// Reannounce is how often every known entity's current decision is
	// published again (decisions.reannounce_interval). Default
	// DefaultReannounce.
	Reannounce time.Duration
	// MaxStaleness is how old the figures behind a Verdict may be
	// (http.max_staleness). Default DefaultMaxStaleness.
	MaxStaleness time.Duration
	// Topic reads the decisions topic back, for the version floors and
	// its cleanup.policy. Nil means no topic to read: the floors start
	// empty and the compaction check is skipped (tests of evaluation).
	Topic Topic
	// StoreOK, if set, reports whether the store's integrity is sound.
	// While it returns an error Verdict fails with ErrStoreIntegrity and
	// evaluation rounds record and publish nothing; the first round after
	// it succeeds again reads the decisions topic again (see Resync). It
	// is called on every Verdict, so it must be cheap.
	StoreOK func() error
	// Verify, if set, checks the store's integrity afresh. A round calls
	// it once, after reading the figures and before it records its first
	// change: a store emptied or rolled back since StoreOK last looked
	// records nothing (its figures are too low, and an "allow" from them
	// is the worst answer this service can give).
	Verify func(ctx context.Context) error
	// LeaseTTL is how long a publishing lease lasts: how long a dead
	// instance holds up the publication of an entity's changes. At least
	// 3 × PublishTimeout + 5s (and the default).
	LeaseTTL time.Duration
	// PingInterval is how often the store is pinged, so that Verdict
	// notices it unreachable between rounds. Default DefaultPingInterval.
	PingInterval time.Duration
	Now          func() time.Time
	Logger       *slog.Logger

	// Test hooks (set through export_test.go).
	afterSwap     func(entity string)     // a change was recorded, not yet published
	beforePublish func(entities []string) // leases held, messages read, not yet written
	stampChunk    int                     // entities per Stamps call; 0: stampChunk
	roundChunk    int                     // entities per evaluation of a round; 0: roundChunk
}

// Decider evaluates entities and publishes their decision changes.
type Decider struct {
	opts     Options
	registry map[string]policy.Entity
	store    Store
	pub      Publisher
	m        *metrics
	series   map[seriesKey]bool // the series the preset forecasts from

	mu      sync.RWMutex
	entries map[string]entry  // evaluated entities
	seen    map[string]bool   // every entity a round was asked to evaluate
	floors  map[string]Record // highest version on the topic, per entity

	evalMu sync.Mutex // one evaluation round at a time
	held   bool       // under evalMu: the last round was held by StoreOK
	// verify runs Options.Verify at most once per round; set under evalMu
	// before the round's workers start.
	verify func() error

	nudge     chan struct{}              // asks Run for a round now (Nudge)
	synced    atomic.Bool                // the floors were read from the topic
	ready     atomic.Bool                // a complete round was evaluated
	lastRound atomic.Pointer[time.Time]  // when the last complete round read the store
	storeErr  atomic.Pointer[storeError] // the store's last failure; nil once it answers
}

// entry is what the decider knows of an evaluated entity.
type entry struct {
	status    policy.Status
	version   int64     // of the recorded decision
	decidedAt time.Time // of the recorded decision; zero if unknown
	// basis is what the status was evaluated from; nil when a round must
	// evaluate the entity again whatever its stamp (see reconfirmable).
	basis *basis
}

// basis is what one evaluation held against the policy: the stamp tokens
// of the entity-years it read (last year, this year), the version of the
// decision record it left, and the civil date of its "today".
//
// policy.Observe and policy.Evaluate depend on the time only through the
// civil date in Settings.Location (today, this year, the windows, the
// approvals' validity, filing and re-application deadlines, the
// forecasts) and through Status.UpdatedAt, which is the time itself. So on
// the same date, from the same figures and the same decision record, an
// evaluation gives the same status but for UpdatedAt: a round can
// re-confirm it (see Decider.confirm) without reading the figures.
type basis struct {
	years    []string
	decision int64
	date     civil.Date
}

type storeError struct{ err error }

// New returns a decider. It publishes nothing until Start.
func New(st Store, pub Publisher, reg prometheus.Registerer, opts Options) *Decider {
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultRefresh
	}
	if opts.Reannounce <= 0 {
		opts.Reannounce = DefaultReannounce
	}
	if opts.MaxStaleness <= 0 {
		opts.MaxStaleness = DefaultMaxStaleness
	}
	opts.LeaseTTL = max(opts.LeaseTTL, minLeaseTTL)
	if opts.PingInterval <= 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	reg2 := make(map[string]policy.Entity, len(opts.Entities))
	for _, e := range opts.Entities {
		reg2[e.ID] = e
	}
	d := &Decider{
		opts: opts, registry: reg2, store: st, pub: pub,
		series:  forecastSeries(opts.Settings.Preset),
		entries: make(map[string]entry),
		seen:    make(map[string]bool),
		floors:  make(map[string]Record),
		nudge:   make(chan struct{}, 1),
	}
	d.m = newMetrics(reg, d.evaluated)
	return d
}

// Nudge asks Run for a round of every known entity now rather than at the
// next refresh: after the store's integrity was verified again, say, so
// that decisions are answered again without waiting up to Refresh. It
// never blocks; nudges while a round is pending merge into it.
func (d *Decider) Nudge() {
	select {
	case d.nudge <- struct{}{}:
	default:
	}
}

// Start checks the decisions topic's cleanup.policy, reads the topic's
// versions (see Resync), evaluates every known entity (configured or seen
// in the store) and publishes each one's current decision, as the contract
// asks at start-up. It may be called again after it failed.
func (d *Decider) Start(ctx context.Context) error {
	d.checkTopic(ctx)
	if err := d.Resync(ctx); err != nil {
		return err
	}
	return d.round(ctx, true)
}

// Resync reads the decisions topic from the beginning again and raises the
// version floors to what it carries. Call it when the store may have lost
// or rolled back decisions (after a store-integrity incident is resolved);
// evaluation rounds call it themselves when they find a decision record
// below its floor, and after StoreOK recovers.
func (d *Decider) Resync(ctx context.Context) error {
	d.evalMu.Lock()
	defer d.evalMu.Unlock()
	return d.resync(ctx)
}

// resync is Resync under evalMu.
func (d *Decider) resync(ctx context.Context) error {
	if d.opts.Topic == nil {
		d.synced.Store(true)
		return nil
	}
	recs, err := d.opts.Topic.Latest(ctx)
	if err != nil {
		return fmt.Errorf("read the decisions topic: %w", err)
	}
	d.mu.Lock()
	for id, r := range recs {
		if cur, ok := d.floors[id]; !ok || r.Version > cur.Version {
			d.floors[id] = r
		}
	}
	d.mu.Unlock()
	d.synced.Store(true)
	d.opts.Logger.Info("read the decisions topic", "entities", len(recs))
	return nil
}

// Evaluate re-evaluates the given entities and publishes what changed. The
// ingester calls it after each flush with the entities the flush touched.
func (d *Decider) Evaluate(ctx context.Context, entities []string) error {
	return d.evaluate(ctx, entities, false)
}

// Run, until ctx ends: re-evaluates every known entity every Refresh
// (draining pending outboxes), re-announces every Reannounce, and pings the
// store every PingInterval. Rounds wait for a successful Start.
func (d *Decider) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { d.pingLoop(ctx) })

	refresh := time.NewTicker(d.opts.Refresh)
	defer refresh.Stop()
	reannounce := time.NewTicker(d.opts.Reannounce)
	defer reannounce.Stop()
	for {
		announce := false
		select {
		case <-ctx.Done():
			return nil
		case <-refresh.C:
		case <-d.nudge:
		case <-reannounce.C:
			announce = true
		}
		if !d.synced.Load() {
			continue // Start has not read the topic yet
		}
		if announce {
			d.checkTopic(ctx)
		}
		if err := d.round(ctx, announce); err != nil && ctx.Err() == nil {
			if errors.Is(err, ErrStoreIntegrity) {
				d.opts.Logger.Debug("periodic evaluation held", "err", err)
			} else {
				d.opts.Logger.Warn("periodic evaluation failed", "err", err, "announce", announce)
			}
		}
	}
}

// roundChunk is how many entities a round evaluates under one hold of
// evalMu: between chunks the evaluations after flushes (Evaluate) get
// their turn, so that a round over 10,000 entities does not hold up the
// decision of an entity that just crossed a threshold for its whole length.
const roundChunk = 64

// stampChunk is how many entities' stamps a round reads in one call of
// Store.Stamps (the store pipelines them).
const stampChunk = 1024

// round brings every known entity up to date: it reads the stamps of all
// of them, re-confirms those whose figures, decision record and date are
// those of their last evaluation (see confirm), and evaluates the others
// again, roundChunk at a time. With announce, it publishes every current
// decision. It is complete (Verdict's lastRound, ready) only when every
// entity was re-confirmed or evaluated again: a failure to read stamps, a
// hold (not ready, store integrity in doubt) or an error of confirm ends
// it incomplete, and the entities it did not reach keep the time of their
// last evaluation, which ages until Verdict calls them stale.
func (d *Decider) round(ctx context.Context, announce bool) error {
	began := time.Now()
	ids, err := d.known(ctx)
	if err != nil {
		d.noteStore(err)
		return err
	}
	start := d.opts.Now()
	thisYear, _ := sketch.DayOf(start, d.loc())
	stamps := make([]*store.Stamp, len(ids)) // nil: not read
	perRead := stampChunk
	if d.opts.stampChunk > 0 {
		perRead = d.opts.stampChunk
	}
	var errs []error
	for lo := 0; lo < len(ids); lo += perRead {
		hi := min(lo+perRead, len(ids))
		got, err := d.store.Stamps(ctx, ids[lo:hi], thisYear-1, thisYear)
		if err == nil && len(got) != hi-lo {
			err = fmt.Errorf("the store returned %d stamps for %d entities", len(got), hi-lo)
		}
		if err != nil {
			// The rest neither: a store that fails now fails them too.
			d.noteStore(err)
			d.m.evaluations.WithLabelValues(triggerRound, outcomeFailed).Add(float64(len(ids) - lo))
			errs = append(errs, fmt.Errorf("read the stamps of %d entities: %w", len(ids)-lo, err))
			break
		}
		for i := range got {
			stamps[lo+i] = &got[i]
		}
	}
	complete := len(errs) == 0
	todo, confirmed, err := d.confirm(ctx, ids, stamps, start, complete)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	d.m.evaluations.WithLabelValues(triggerRound, outcomeConfirmed).Add(float64(len(confirmed)))
	evalChunk := roundChunk
	if d.opts.roundChunk > 0 {
		evalChunk = d.opts.roundChunk
	}
	for len(todo) > 0 {
		n := min(len(todo), evalChunk)
		var at *time.Time
		if n == len(todo) && complete {
			at = &start // the last chunk completes the round
		}
		ran, err := d.evaluateRan(ctx, todo[:n], announce, at)
		if !ran {
			return errors.Join(append(errs, err)...)
		}
		d.m.evaluations.WithLabelValues(triggerRound, outcomeEvaluated).Add(float64(n))
		errs = append(errs, err)
		if todo = todo[n:]; len(todo) > 0 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if announce {
		for chunk := range slices.Chunk(confirmed, publishChunk) {
			ran, err := d.announceRan(ctx, chunk)
			errs = append(errs, err)
			if !ran || ctx.Err() != nil {
				break
			}
		}
	}
	if complete {
		d.m.roundDuration.Observe(time.Since(began).Seconds())
	}
	return errors.Join(errs...)
}

// confirm re-confirms, under evalMu, the entities of ids whose stamps
// (read from the store at or after start; nil: not read) show that an
// evaluation at start would give the status they have: it raises their
// UpdatedAt, the time of their figures, to start. It returns the entities
// to evaluate again, those never evaluated first (they have no decision at
// all yet), and those it re-confirmed. With complete and nothing to
// evaluate again, the round is complete.
//
// Failing closed comes first: confirm re-confirms nothing when StoreOK or
// Verify doubt the store's integrity (a store rolled back may hold tokens
// and versions that climbed back to those of lost figures), and after such
// a doubt it forgets every basis, so that every entity is evaluated again
// from what the store holds now.
func (d *Decider) confirm(ctx context.Context, ids []string, stamps []*store.Stamp, start time.Time, complete bool) (todo, confirmed []string, err error) {
	d.evalMu.Lock()
	defer d.evalMu.Unlock()
	if !d.synced.Load() {
		return nil, nil, ErrNotReady
	}
	if d.opts.StoreOK != nil {
		if err := d.opts.StoreOK(); err != nil {
			d.held = true
			return nil, nil, fmt.Errorf("%w: %w", ErrStoreIntegrity, err)
		}
	}
	if d.held {
		if err := d.resync(ctx); err != nil {
			return nil, nil, err
		}
		d.forgetBases()
		d.held = false
	}
	asOf := start.In(d.loc()).Truncate(time.Second)
	today := civil.DateOf(asOf)
	d.mu.Lock()
	var candidates []int
	var fresh []string // never evaluated: no decision at all yet, so first
	for i, id := range ids {
		d.seen[id] = true
		_, known := d.entries[id]
		switch {
		case stamps[i] == nil:
		case !known:
			fresh = append(fresh, id)
		case d.reconfirmable(id, *stamps[i], today):
			candidates = append(candidates, i)
		default:
			todo = append(todo, id)
		}
	}
	d.mu.Unlock()
	todo = append(fresh, todo...)
	if len(candidates) > 0 && d.opts.Verify != nil {
		// The stamps were read before this: a store found whole now held
		// at least what it held then.
		if err := d.opts.Verify(ctx); err != nil {
			d.held = true
			return nil, nil, fmt.Errorf("%w: %w", ErrStoreIntegrity, err)
		}
	}
	d.mu.Lock()
	for _, i := range candidates {
		id := ids[i]
		// Checked again: an evaluation after a flush may have run since.
		if !d.reconfirmable(id, *stamps[i], today) {
			todo = append(todo, id)
			continue
		}
		e := d.entries[id]
		if e.status.UpdatedAt.Before(asOf) {
			e.status.UpdatedAt = asOf
			d.entries[id] = e
		}
		confirmed = append(confirmed, id)
	}
	d.mu.Unlock()
	if complete {
		d.storeErr.Store(nil) // every stamp was read
		if len(todo) == 0 {
			d.lastRound.Store(&start)
			d.ready.Store(true)
		}
	}
	return todo, confirmed, nil
}

// reconfirmable reports whether the entity's last evaluation still stands
// given its stamp st, read after start, and today, the date of start:
// evaluated before, from figures of the versions st carries, on the same
// date, its decision record unchanged since (a change recorded by another
// instance, or a record repaired, moves its version), nothing pending in
// its outbox (a round drains it through an evaluation), and no version on
// the decisions topic above the record's (the store lost decisions). d.mu
// is held.
//
// Every write of an entity-year changes its token (the Redis store's holds
// a nonce made when the hash is created, and the number of its last
// delta), and every recorded decision raises the record's version, so an
// equal stamp means equal figures and record, with one exception: a store
// rolled back (restored from a backup) whose tokens and versions climb back
// to the same numbers. StoreOK and Verify catch those (confirm).
func (d *Decider) reconfirmable(id string, st store.Stamp, today civil.Date) bool {
	e, ok := d.entries[id]
	if !ok || e.basis == nil || e.basis.date != today || st.Pending != 0 ||
		st.Decision != e.basis.decision || st.Decision == store.Unreadable ||
		!slices.Equal(st.Years, e.basis.years) {
		return false
	}
	if fl, ok := d.floors[id]; ok && fl.Version > st.Decision {
		return false
	}
	return true
}

// changed returns the entities of ids whose evaluation after a flush may
// change their status: all but those whose stamp shows the figures, record
// and date of their last evaluation (an entity a round evaluated since its
// flush). Those it leaves out keep
// their status and its time: nothing is re-confirmed here (that takes
// Verify, once per round). Should the stamps fail, it returns ids: the
// evaluation meets the failure and reports it.
func (d *Decider) changed(ctx context.Context, ids []string) []string {
	now := d.opts.Now()
	thisYear, _ := sketch.DayOf(now, d.loc())
	today := civil.DateOf(now.In(d.loc()))
	stamps, err := d.store.Stamps(ctx, ids, thisYear-1, thisYear)
	if err != nil || len(stamps) != len(ids) {
		return ids
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := ids[:0:0]
	for i, id := range ids {
		if !d.reconfirmable(id, stamps[i], today) {
			out = append(out, id)
		}
	}
	d.m.evaluations.WithLabelValues(triggerFlush, outcomeUnchanged).Add(float64(len(ids) - len(out)))
	d.m.evaluations.WithLabelValues(triggerFlush, outcomeEvaluated).Add(float64(len(out)))
	return out
}

// forgetBases makes every entity's next round evaluate it again.
func (d *Decider) forgetBases() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, e := range d.entries {
		e.basis = nil
		d.entries[id] = e
	}
}

// announceRan publishes the current decisions of ids, entities a round
// re-confirmed, unless the store's integrity is in doubt; it reports
// whether it did.
func (d *Decider) announceRan(ctx context.Context, ids []string) (bool, error) {
	d.evalMu.Lock()
	defer d.evalMu.Unlock()
	if d.opts.StoreOK != nil {
		if err := d.opts.StoreOK(); err != nil {
			d.held = true
			return false, fmt.Errorf("%w: %w", ErrStoreIntegrity, err)
		}
	}
	if d.held {
		return false, ErrStoreIntegrity
	}
	reqs := make([]publishReq, 0, len(ids))
	d.mu.RLock()
	for _, id := range ids {
		e := d.entries[id]
		// A record from before stores kept messages: announce the
		// decision as evaluateOne does.
		fallback, err := json.Marshal(e.status.Signal(e.status.Decision, e.version))
		if err != nil {
			d.mu.RUnlock()
			return true, err
		}
		reqs = append(reqs, publishReq{id: id, announce: true, fallback: fallback})
	}
	d.mu.RUnlock()
	return true, d.publish(ctx, reqs)
}

// loc is the time zone of the civil dates.
func (d *Decider) loc() *time.Location {
	if d.opts.Settings.Location == nil {
		return time.UTC
	}
	return d.opts.Settings.Location
}

// pingLoop pings the store every PingInterval and notes whether it answers.
func (d *Decider) pingLoop(ctx context.Context) {
	t := time.NewTicker(d.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, max(d.opts.PingInterval, time.Second))
		err := d.store.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d.storeErr.Store(&storeError{err})
		} else {
			d.storeErr.Store(nil)
		}
	}
}

// noteStore records a store failure that means it cannot be reached.
func (d *Decider) noteStore(err error) {
	if errors.Is(err, store.ErrUnavailable) {
		d.storeErr.Store(&storeError{err})
	}
}

// known returns the configured entities and those the store has seen.
func (d *Decider) known(ctx context.Context) ([]string, error) {
	ids, err := d.store.Entities(ctx)
	if err != nil {
		return nil, fmt.Errorf("list entities: %w", err)
	}
	for id := range d.registry {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// evalWorkers is how many entities an evaluation round evaluates (and
// publishes) at once: evaluating one is mostly waiting for the store, so a
// few overlap their round trips.
const evalWorkers = 8

// outcome is what evaluating one entity leaves to publish.
type outcome struct {
	drain    bool   // its outbox holds messages
	fallback []byte // its current decision's message, for a record that keeps none
	behind   bool   // its record is below the floor: resync first
}

// evaluate evaluates ids, then publishes their pending outboxes (and, when
// announce, their current decisions).
func (d *Decider) evaluate(ctx context.Context, ids []string, announce bool) error {
	_, err := d.evaluateRan(ctx, ids, announce, nil)
	return err
}

// evaluateRan is evaluate, reporting whether it evaluated ids at all (not
// held: not ready, store integrity in doubt, resync failed). A non-nil
// roundStart says ids complete a round of every known entity that began
// then.
func (d *Decider) evaluateRan(ctx context.Context, ids []string, announce bool, roundStart *time.Time) (bool, error) {
	d.evalMu.Lock()
	defer d.evalMu.Unlock()
	if !d.synced.Load() {
		return false, ErrNotReady
	}
	if d.opts.StoreOK != nil {
		if err := d.opts.StoreOK(); err != nil {
			d.held = true
			return false, fmt.Errorf("%w: %w", ErrStoreIntegrity, err)
		}
	}
	if d.held {
		// The store's integrity was in doubt: what it lost, the topic knows.
		if err := d.resync(ctx); err != nil {
			return false, err
		}
		d.forgetBases()
		d.held = false
	}
	d.mu.Lock()
	for _, id := range ids {
		d.seen[id] = true
	}
	d.mu.Unlock()
	if roundStart == nil && !announce {
		if ids = d.changed(ctx, ids); len(ids) == 0 {
			return true, nil
		}
	}
	d.verify = sync.OnceValue(func() error {
		if d.opts.Verify == nil {
			return nil
		}
		if err := d.opts.Verify(ctx); err != nil {
			d.held = true
			return fmt.Errorf("%w: %w", ErrStoreIntegrity, err)
		}
		return nil
	})
	outs, failed := d.evaluateAll(ctx, ids, false)
	var behind []int
	for i := range ids {
		if failed[i] == nil && outs[i].behind {
			behind = append(behind, i)
		}
	}
	if len(behind) > 0 {
		// The store lost decisions the floors say were published: another
		// instance may have published more since this one read the topic.
		// Without the topic's word, record nothing for them: a change
		// now could reuse a version already published.
		if err := d.resync(ctx); err != nil {
			for _, i := range behind {
				failed[i] = err
			}
		} else {
			again := make([]string, len(behind))
			for j, i := range behind {
				again[j] = ids[i]
			}
			outs2, failed2 := d.evaluateAll(ctx, again, true)
			for j, i := range behind {
				outs[i], failed[i] = outs2[j], failed2[j]
			}
		}
	}

	var errs []error
	var pubs []publishReq
	for i, id := range ids {
		if failed[i] != nil {
			d.noteStore(failed[i])
			errs = append(errs, fmt.Errorf("entity %s: %w", id, failed[i]))
			continue
		}
		if outs[i].drain || announce {
			pubs = append(pubs, publishReq{id: id, announce: announce, fallback: outs[i].fallback})
		}
	}
	if len(errs) == 0 {
		d.storeErr.Store(nil)
	}
	if roundStart != nil {
		// Every entity the store lists was evaluated, or failed and so
		// has no fresh status: Verdict allows only those it lists not.
		d.lastRound.Store(roundStart)
		d.ready.Store(true)
	}
	if err := d.publish(ctx, pubs); err != nil {
		errs = append(errs, err)
	}
	return true, errors.Join(errs...)
}

// evaluateAll evaluates ids, evalWorkers at a time.
func (d *Decider) evaluateAll(ctx context.Context, ids []string, resynced bool) ([]outcome, []error) {
	outs := make([]outcome, len(ids))
	failed := make([]error, len(ids))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(evalWorkers, len(ids)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(ids); i = int(next.Add(1) - 1) {
				outs[i], failed[i] = d.evaluateOne(ctx, ids[i], resynced)
			}
		})
	}
	wg.Wait()
	return outs, failed
}

// evaluateOne evaluates one entity and records a change of its decision.
// Unless resynced, it stops at a record below the entity's floor.
func (d *Decider) evaluateOne(ctx context.Context, id string, resynced bool) (outcome, error) {
	for attempt := 0; ; attempt++ {
		// Read the decision record before the sketches: a swap by another
		// instance after this read fails ours, and one before it was made
		// after that instance's flush, which this read of the sketches sees.
		prev, err := d.store.Decision(ctx, id)
		if err != nil {
			return outcome{}, err
		}
		now := d.opts.Now()
		st, years, err := d.status(ctx, id, now)
		if err != nil {
			return outcome{}, err
		}
		// The basis of what follows: the figures read, and the record
		// read before them, or the one this evaluation leaves. A record
		// changed by another instance between the two reads carries a
		// version this basis lacks: the next round's stamp differs and
		// evaluates the entity again. An older stamp can only cost an
		// evaluation, never skip one.
		on := func(version int64) *basis {
			return &basis{years: years, decision: version, date: civil.DateOf(st.UpdatedAt)}
		}
		// base is the decision a change follows: the store's record, or the
		// topic's when the store lost it.
		base := store.Decision{Version: prev.Version, Decision: prev.Decision}
		if fl, ok := d.floor(id); ok && fl.Version > prev.Version {
			if !resynced {
				return outcome{behind: true}, nil
			}
			d.opts.Logger.Warn("the store's decision record is behind the decisions topic: the store lost or rolled back decisions; continuing from the topic",
				"entity", id, "store_version", prev.Version, "topic_version", fl.Version, "topic_decision", fl.Decision)
			if string(st.Decision) == fl.Decision {
				// Restore the record: the topic already says so.
				rec := store.Decision{Version: fl.Version, Decision: fl.Decision, DecidedAt: fl.DecidedAt}
				if err := d.verify(); err != nil {
					return outcome{}, err
				}
				ok, err := d.store.RepairDecision(ctx, id, prev, rec, fl.Value)
				if err != nil {
					return outcome{}, err
				}
				if ok {
					d.settle(st, rec, on(rec.Version))
					return outcome{drain: prev.Pending > 0}, nil
				}
				if attempt >= 3 {
					return outcome{}, errors.New("decision record keeps changing under us")
				}
				continue
			}
			base = store.Decision{Version: fl.Version, Decision: fl.Decision}
		}

		if string(st.Decision) == base.Decision {
			d.settle(st, prev, on(prev.Version))
			// A record from before stores kept messages: announce the
			// decision as the old versions did.
			fallback, err := json.Marshal(st.Signal(policy.Decision(prev.Decision), prev.Version))
			if err != nil {
				return outcome{}, err
			}
			return outcome{drain: prev.Pending > 0, fallback: fallback}, nil
		}
		next := store.Decision{Version: base.Version + 1, Decision: string(st.Decision), DecidedAt: st.UpdatedAt}
		msg, err := json.Marshal(st.Signal(policy.Decision(base.Decision), next.Version))
		if err != nil {
			return outcome{}, err
		}
		// The history keeps the change with the figures behind it.
		change, err := json.Marshal(st.Change(policy.Decision(base.Decision), next.Version))
		if err != nil {
			return outcome{}, err
		}
		next.Change = string(change)
		if err := d.verify(); err != nil {
			return outcome{}, err
		}
		ok, err := d.store.SwapDecision(ctx, id, prev, next, msg)
		if err != nil {
			return outcome{}, err
		}
		if ok {
			d.m.changes.WithLabelValues(string(st.Decision)).Inc()
			d.opts.Logger.Info("decision changed", "entity", id, "decision", st.Decision,
				"previous", base.Decision, "version", next.Version, "reasons", st.Reasons)
			d.settle(st, next, on(next.Version))
			if d.opts.afterSwap != nil {
				d.opts.afterSwap(id)
			}
			return outcome{drain: true}, nil
		}
		if attempt >= 3 {
			return outcome{}, errors.New("decision record keeps changing under us")
		}
		// Another instance recorded a change first: read again.
	}
}

// settle caches st as the status of its entity, whose recorded decision is
// rec, evaluated from b; the metrics export it from there.
func (d *Decider) settle(st policy.Status, rec store.Decision, b *basis) {
	d.mu.Lock()
	d.entries[st.Entity] = entry{status: st, version: rec.Version, decidedAt: rec.DecidedAt, basis: b}
	d.mu.Unlock()
}

// floor returns the highest version of the entity known on the topic.
func (d *Decider) floor(id string) (Record, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	r, ok := d.floors[id]
	return r, ok
}

// raiseFloor notes that a message of the entity is on the topic.
func (d *Decider) raiseFloor(id string, r Record) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if cur, ok := d.floors[id]; !ok || r.Version > cur.Version {
		d.floors[id] = r
	}
}

// status reads the entity's sketches and evaluates them; it returns the
// stamp tokens of the entity-years read (last year, this year).
func (d *Decider) status(ctx context.Context, id string, now time.Time) (policy.Status, []string, error) {
	s := d.opts.Settings
	thisYear, today := sketch.DayOf(now, d.loc())
	hist, years, err := d.store.VersionedHistory(ctx, id, thisYear-1, thisYear)
	if err != nil {
		return policy.Status{}, nil, fmt.Errorf("read sketches: %w", err)
	}
	e := d.entity(id)
	obs := policy.Observe(s, e, hist, thisYear, today, func(w sketch.Window, k sketch.Counter) bool { return d.series[seriesKey{w, k}] })
	return policy.Evaluate(s, e, obs, now), years, nil
}

// seriesKey names one daily series: a counter over a window.
type seriesKey struct {
	w sketch.Window
	k sketch.Counter
}

// forecastSeries returns the series the rules of p forecast from (the
// others are never read, and drawing one costs a pass over the year).
func forecastSeries(p policy.Preset) map[seriesKey]bool {
	need := make(map[seriesKey]bool)
	for _, r := range p.Rules {
		if !r.ImportantData && !r.Binary() && r.Exemption == "" {
			need[seriesKey{r.Window, r.Counter}] = true
		}
	}
	return need
}

func (d *Decider) entity(id string) policy.Entity {
	if e, ok := d.registry[id]; ok {
		return e
	}
	return policy.Entity{ID: id}
}

// Status returns the cached status of an entity. A configured entity not
// evaluated yet has a stub status: entity, name, ciio and policy, an empty
// decision and a zero UpdatedAt.
func (d *Decider) Status(id string) (policy.Status, bool) {
	d.mu.RLock()
	e, ok := d.entries[id]
	d.mu.RUnlock()
	if ok {
		return e.status, true
	}
	if c, ok := d.registry[id]; ok {
		return d.stub(c), true
	}
	return policy.Status{}, false
}

// stub is the status of a configured entity not evaluated yet.
func (d *Decider) stub(e policy.Entity) policy.Status {
	return policy.Status{
		Entity: e.ID, Name: e.Name, CIIO: e.CIIO, Policy: d.opts.Settings.Preset.Name,
		Reasons:   []string{},
		Counters:  []policy.CounterReport{},
		Rules:     []policy.RuleReport{},
		Approvals: []policy.ApprovalReport{},
	}
}

// evaluated returns the cached status of every entity evaluated, in no
// order: what the per-entity metrics export.
func (d *Decider) evaluated() []policy.Status {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]policy.Status, 0, len(d.entries))
	for _, e := range d.entries {
		out = append(out, e.status)
	}
	return out
}

// Statuses returns every cached status, and a stub for each configured
// entity not evaluated yet (see Status), sorted by entity.
func (d *Decider) Statuses() []policy.Status {
	d.mu.RLock()
	out := make([]policy.Status, 0, max(len(d.entries), len(d.registry)))
	for _, e := range d.entries {
		out = append(out, e.status)
	}
	for id, c := range d.registry {
		if _, ok := d.entries[id]; !ok {
			out = append(out, d.stub(c))
		}
	}
	d.mu.RUnlock()
	slices.SortFunc(out, func(a, b policy.Status) int {
		switch {
		case a.Entity < b.Entity:
			return -1
		case a.Entity > b.Entity:
			return 1
		}
		return 0
	})
	return out
}
