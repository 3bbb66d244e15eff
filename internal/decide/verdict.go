package decide

import (
	"errors"
	"fmt"
	"time"

	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/pkg/decision"
)

// Why Verdict does not answer. Each error it returns wraps one of them.
var (
	// ErrNotReady: no complete evaluation round since start, or the
	// entity, configured or seen in the store, was not evaluated yet.
	ErrNotReady = errors.New("no evaluation has completed since the service started")
	// ErrStoreUnavailable: the store does not answer.
	ErrStoreUnavailable = errors.New("the store is unreachable")
	// ErrStoreIntegrity: Options.StoreOK reports the store's integrity in
	// doubt.
	ErrStoreIntegrity = errors.New("the store's integrity is in doubt")
	// ErrStale: the figures are older than MaxStaleness.
	ErrStale = errors.New("the figures are stale")
)

// Verdict returns the decision answer of an entity at time now (CONTRACT
// §6), with the version and time of its recorded decision and the time of
// the figures (as_of). It fails closed: it returns an error wrapping
// ErrNotReady, ErrStoreUnavailable, ErrStoreIntegrity or ErrStale when it
// does not know. An entity neither configured nor seen (by any round) gets
// policy.Unknown: nothing was counted for it as of the last complete
// round, and the preset decides what a first transfer needs; an entity
// seen whose evaluation failed gets an error.
func (d *Decider) Verdict(id string, now time.Time) (decision.Verdict, error) {
	if !d.ready.Load() {
		return decision.Verdict{}, ErrNotReady
	}
	// The cause first: a store that does not answer cannot be verified
	// either.
	if se := d.storeErr.Load(); se != nil {
		return decision.Verdict{}, fmt.Errorf("%w: %w", ErrStoreUnavailable, se.err)
	}
	if d.opts.StoreOK != nil {
		if err := d.opts.StoreOK(); err != nil {
			return decision.Verdict{}, fmt.Errorf("%w: %w", ErrStoreIntegrity, err)
		}
	}
	d.mu.RLock()
	e, ok := d.entries[id]
	seen := d.seen[id]
	d.mu.RUnlock()
	if !ok {
		if _, configured := d.registry[id]; configured || seen {
			return decision.Verdict{}, fmt.Errorf("%w: entity %s was not evaluated yet", ErrNotReady, id)
		}
		asOf := *d.lastRound.Load()
		if err := d.fresh(asOf, now); err != nil {
			return decision.Verdict{}, err
		}
		// What the preset gives an entity with no approvals about to make
		// its first transfer: allow under cac-2024, block under cac-2022.
		v := policy.Unknown(d.opts.Settings, id, now)
		v.AsOf = asOf.In(d.opts.Settings.Location).Truncate(time.Second)
		return v, nil
	}
	asOf := e.status.UpdatedAt
	if err := d.fresh(asOf, now); err != nil {
		return decision.Verdict{}, err
	}
	v := e.status.Verdict()
	v.Version = e.version
	if !e.decidedAt.IsZero() {
		at := e.decidedAt.In(d.opts.Settings.Location)
		v.DecidedAt = &at
	}
	v.AsOf = asOf
	return v, nil
}

// fresh returns ErrStale when figures of asOf are too old at now.
func (d *Decider) fresh(asOf, now time.Time) error {
	if age := now.Sub(asOf); age > d.opts.MaxStaleness {
		return fmt.Errorf("%w: they are %s old, over %s (the store has not been read since %s)",
			ErrStale, age.Round(time.Second), d.opts.MaxStaleness, asOf.Format(time.RFC3339))
	}
	return nil
}
