// Package decide keeps every entity's decision current: it reads the
// sketches of the entities a flush touched, holds them against the policy,
// caches the result for the API (which never waits on the store), exports
// the policy metrics, and publishes a block signal on the decisions topic
// when a decision changes.
//
// A change is published once however many instances see it: each records the
// new decision with a compare-and-set on the entity's decision version in
// the store, and only the instance whose swap succeeds publishes.
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
	Decision(ctx context.Context, entity string) (store.Decision, error)
	SwapDecision(ctx context.Context, entity string, prev, next store.Decision, msg []byte) (bool, error)
}

// Publisher writes to the decisions topic: *kafka.Writer.
type Publisher interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

var _ Publisher = (*kafka.Writer)(nil)

// Options of a Decider.
type Options struct {
	Settings policy.Settings
	Entities []policy.Entity // the registry from the configuration
	// Refresh is how often every known entity is evaluated again, so that
	// days passing, approvals expiring, the year rolling over and other
	// instances' flushes show. Default 30s.
	Refresh time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
}

// Decider evaluates entities and publishes their decision changes.
type Decider struct {
	opts     Options
	registry map[string]policy.Entity
	store    Store
	pub      Publisher
	m        *metrics
	series   map[seriesKey]bool // the series the preset forecasts from

	mu       sync.RWMutex
	statuses map[string]policy.Status
	unsent   []kafka.Message // failed publications, at most one per entity (the newest)
	evalMu   sync.Mutex      // one evaluation round at a time
}

// New returns a decider. It publishes nothing until Start.
func New(st Store, pub Publisher, reg prometheus.Registerer, opts Options) *Decider {
	if opts.Refresh <= 0 {
		opts.Refresh = 30 * time.Second
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
		m:        newMetrics(reg),
		series:   forecastSeries(opts.Settings.Preset),
		statuses: make(map[string]policy.Status),
	}
}

// Start evaluates every known entity (configured or seen in the store) and
// publishes each one's current decision, as the contract asks at start-up.
func (d *Decider) Start(ctx context.Context) error {
	ids, err := d.known(ctx)
	if err != nil {
		return err
	}
	return d.evaluate(ctx, ids, true)
}

// Evaluate re-evaluates the given entities and publishes what changed. The
// ingester calls it after each flush with the entities the flush touched.
func (d *Decider) Evaluate(ctx context.Context, entities []string) error {
	return d.evaluate(ctx, entities, false)
}

// Run re-evaluates every known entity every Refresh until ctx ends, and
// retries publications that failed.
func (d *Decider) Run(ctx context.Context) error {
	t := time.NewTicker(d.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		ids, err := d.known(ctx)
		if err == nil {
			err = d.evaluate(ctx, ids, false)
		}
		if err != nil && ctx.Err() == nil {
			d.opts.Logger.Warn("periodic evaluation failed", "err", err)
		}
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

// evalWorkers is how many entities an evaluation round evaluates at once:
// evaluating one is mostly waiting for the store, so a few overlap their
// round trips.
const evalWorkers = 8

func (d *Decider) evaluate(ctx context.Context, ids []string, announce bool) error {
	d.evalMu.Lock()
	defer d.evalMu.Unlock()
	var errs []error
	if err := d.retryUnsent(ctx); err != nil {
		errs = append(errs, err)
	}
	msgs := make([]*kafka.Message, len(ids))
	failed := make([]error, len(ids))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(evalWorkers, len(ids)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(ids); i = int(next.Add(1) - 1) {
				msgs[i], failed[i] = d.evaluateOne(ctx, ids[i], announce)
			}
		})
	}
	wg.Wait()
	var out []kafka.Message
	for i, id := range ids {
		if failed[i] != nil {
			errs = append(errs, fmt.Errorf("entity %s: %w", id, failed[i]))
		}
		if msgs[i] != nil {
			out = append(out, *msgs[i])
		}
	}
	// The round's decisions go out in one write rather than one each.
	if err := d.publish(ctx, out); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// evaluateOne evaluates one entity and returns the message to publish, if
// any.
func (d *Decider) evaluateOne(ctx context.Context, id string, announce bool) (*kafka.Message, error) {
	for attempt := 0; ; attempt++ {
		// Read the decision record before the sketches: a swap by another
		// instance after this read fails ours, and one before it was made
		// after that instance's flush, which this read of the sketches sees.
		prev, err := d.store.Decision(ctx, id)
		if err != nil {
			return nil, err
		}
		now := d.opts.Now()
		st, err := d.status(ctx, id, now)
		if err != nil {
			return nil, err
		}
		d.mu.Lock()
		d.statuses[id] = st
		d.mu.Unlock()
		d.m.observe(st)

		if string(st.Decision) == prev.Decision {
			if announce {
				return message(st.Signal(policy.Decision(prev.Decision), prev.Version))
			}
			return nil, nil
		}
		next := store.Decision{Version: prev.Version + 1, Decision: string(st.Decision), DecidedAt: st.UpdatedAt}
		m, err := message(st.Signal(policy.Decision(prev.Decision), next.Version))
		if err != nil {
			return nil, err
		}
		ok, err := d.store.SwapDecision(ctx, id, prev, next, m.Value)
		if err != nil {
			return nil, err
		}
		if ok {
			d.m.changes.WithLabelValues(string(st.Decision)).Inc()
			d.opts.Logger.Info("decision changed", "entity", id, "decision", st.Decision,
				"previous", prev.Decision, "version", next.Version, "reasons", st.Reasons)
			return m, nil
		}
		if attempt >= 3 {
			return nil, errors.New("decision record keeps changing under us")
		}
		// Another instance recorded a change first: read again.
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
	return policy.Evaluate(s, d.entity(id), observe(hist, thisYear, today, s.Preset.IncludeExempt, d.series), now), nil
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
		if !r.ImportantData && !r.Binary() {
			need[seriesKey{r.Window, r.Counter}] = true
		}
	}
	return need
}

// Observe reads everything the policy needs out of an entity's history.
func Observe(h sketch.History, thisYear, today int, includeExempt bool) policy.Observation {
	return observe(h, thisYear, today, includeExempt, nil)
}

// observe is Observe drawing only the series in need (all if need is nil).
func observe(h sketch.History, thisYear, today int, includeExempt bool, need map[seriesKey]bool) policy.Observation {
	obs := policy.Observation{
		Figures:   make(map[sketch.Window]map[sketch.Counter]sketch.Figure),
		Important: make(map[sketch.Window]bool),
		Series:    make(map[sketch.Window]map[sketch.Counter][]float64),
	}
	q := h.Query() // each distinct union of sketches estimated once
	for _, w := range sketch.Windows {
		obs.Figures[w] = make(map[sketch.Counter]sketch.Figure)
		obs.Series[w] = make(map[sketch.Counter][]float64)
		obs.Important[w] = h.Important(w, thisYear, includeExempt)
		for _, k := range sketch.Counters {
			f := q.Figure(k, w, thisYear, includeExempt)
			obs.Figures[w][k] = f
			if f.Estimate > 0 && (need == nil || need[seriesKey{w, k}]) {
				obs.Series[w][k] = q.Series(k, w, thisYear, today, includeExempt)
			}
		}
	}
	return obs
}

func (d *Decider) entity(id string) policy.Entity {
	if e, ok := d.registry[id]; ok {
		return e
	}
	return policy.Entity{ID: id}
}

// message returns the decisions-topic message of sig.
func message(sig policy.Signal) (*kafka.Message, error) {
	v, err := json.Marshal(sig)
	if err != nil {
		return nil, err
	}
	return &kafka.Message{Key: []byte(sig.Entity), Value: v}, nil
}

// publish writes msgs; those that fail wait for the next round.
func (d *Decider) publish(ctx context.Context, msgs []kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	err := d.pub.WriteMessages(ctx, msgs...)
	if err == nil {
		return nil
	}
	failed := msgs
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) && len(werrs) == len(msgs) {
		failed = nil
		for i, e := range werrs {
			if e != nil {
				failed = append(failed, msgs[i])
			}
		}
	}
	d.mu.Lock()
	d.unsent = supersede(d.unsent, failed)
	d.mu.Unlock()
	return fmt.Errorf("publish %d decisions (will retry): %w", len(failed), err)
}

func (d *Decider) retryUnsent(ctx context.Context) error {
	d.mu.Lock()
	msgs := d.unsent
	d.unsent = nil
	d.mu.Unlock()
	if len(msgs) == 0 {
		return nil
	}
	if err := d.pub.WriteMessages(ctx, msgs...); err != nil {
		d.mu.Lock()
		d.unsent = supersede(msgs, d.unsent)
		d.mu.Unlock()
		return fmt.Errorf("publish %d held decisions: %w", len(msgs), err)
	}
	return nil
}

// Status returns the cached status of an entity.
func (d *Decider) Status(id string) (policy.Status, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, ok := d.statuses[id]
	return s, ok
}

// Statuses returns every cached status, sorted by entity.
func (d *Decider) Statuses() []policy.Status {
	d.mu.RLock()
	out := make([]policy.Status, 0, len(d.statuses))
	for _, s := range d.statuses {
		out = append(out, s)
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

// supersede returns the held messages whose entity has no newer message,
// followed by the newer ones: only an entity's latest decision matters, so
// retries (of start-up announcements, say) never pile up.
func supersede(held, newer []kafka.Message) []kafka.Message {
	fresh := make(map[string]bool, len(newer))
	for _, m := range newer {
		fresh[string(m.Key)] = true
	}
	out := make([]kafka.Message, 0, len(held)+len(newer))
	for _, m := range held {
		if !fresh[string(m.Key)] {
			out = append(out, m)
		}
	}
	return append(out, newer...)
}
