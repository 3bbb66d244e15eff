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

	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store"
)

// Store is what the decider reads and records.
type Store interface {
	History(ctx context.Context, entity string, years ...int) (sketch.History, error)
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
	// Refresh is how often every known entity is evaluated again, so that
	// days passing, approvals expiring, the year rolling over and other
	// instances' flushes show, and pending outboxes are drained. Default
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
	return &Decider{
		opts: opts, registry: reg2, store: st, pub: pub,
		m:       newMetrics(reg),
		series:  forecastSeries(opts.Settings.Preset),
		entries: make(map[string]entry),
		seen:    make(map[string]bool),
		floors:  make(map[string]Record),
		nudge:   make(chan struct{}, 1),
	}
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

// round evaluates every known entity, roundChunk at a time. It is
// complete (Verdict's lastRound, ready) once every chunk ran; a chunk
// held (not ready, store integrity in doubt) ends it incomplete.
func (d *Decider) round(ctx context.Context, announce bool) error {
	ids, err := d.known(ctx)
	if err != nil {
		d.noteStore(err)
		return err
	}
	start := d.opts.Now()
	var errs []error
	for {
		n := min(len(ids), roundChunk)
		var at *time.Time
		if n == len(ids) {
			at = &start // the last chunk completes the round
		}
		ran, err := d.evaluateRan(ctx, ids[:n], announce, at)
		if !ran {
			return err
		}
		errs = append(errs, err)
		if ids = ids[n:]; len(ids) == 0 {
			return errors.Join(errs...)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
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
		d.held = false
	}
	d.mu.Lock()
	for _, id := range ids {
		d.seen[id] = true
	}
	d.mu.Unlock()
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
		st, err := d.status(ctx, id, now)
		if err != nil {
			return outcome{}, err
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
					d.settle(st, rec)
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
			d.settle(st, prev)
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
			d.settle(st, next)
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
// rec, and exports its metrics.
func (d *Decider) settle(st policy.Status, rec store.Decision) {
	d.mu.Lock()
	d.entries[st.Entity] = entry{status: st, version: rec.Version, decidedAt: rec.DecidedAt}
	d.mu.Unlock()
	d.m.observe(st)
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

// status reads the entity's sketches and evaluates them.
func (d *Decider) status(ctx context.Context, id string, now time.Time) (policy.Status, error) {
	s := d.opts.Settings
	loc := s.Location
	thisYear, today := sketch.DayOf(now, loc)
	hist, err := d.store.History(ctx, id, thisYear-1, thisYear)
	if err != nil {
		return policy.Status{}, fmt.Errorf("read sketches: %w", err)
	}
	e := d.entity(id)
	obs := policy.Observe(s, e, hist, thisYear, today, func(w sketch.Window, k sketch.Counter) bool { return d.series[seriesKey{w, k}] })
	return policy.Evaluate(s, e, obs, now), nil
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
