package gate

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transferwatch/transferwatch/pkg/decision"
)

// Decision is what transferwatch tells the pipelines of an entity: the type
// of package decision, named here for the pipelines that use only the gate.
// Its Permits method reports whether it lets transfers go ahead: true for
// Allow and Warn, false for Block and for any value this package does not
// know.
type Decision = decision.Decision

// The decisions of the contract.
const (
	// Allow lets transfers go ahead.
	Allow = decision.Allow
	// Warn lets transfers go ahead while the entity nears a threshold.
	Warn = decision.Warn
	// Block holds transfers back until the required mechanism is in force.
	Block = decision.Block
)

// Errors an Answer carries in its Err field, and errors of the
// constructors and of Run.
var (
	// ErrNotSynced: the gate has not yet read the whole topic or completed
	// a poll.
	ErrNotSynced = errors.New("gate: not synced yet")
	// ErrStale: the cache was last known complete longer than MaxStaleness
	// ago.
	ErrStale = errors.New("gate: decisions are stale")
	// ErrNotFollowed: in API mode with a list of entities, the entity is
	// not on it, so the gate knows nothing of it.
	ErrNotFollowed = errors.New("gate: entity is not among those polled")
	// ErrPresetUnknown: the cache holds no decision at all, so the preset
	// in force, which decides an entity never seen, is unknown.
	ErrPresetUnknown = errors.New("gate: no decision seen yet, so the preset that decides an unseen entity is unknown")
	// ErrInvalidOptions wraps every problem with the options.
	ErrInvalidOptions = errors.New("gate: invalid options")
	// ErrStopped: Run returned before the gate synced.
	ErrStopped = errors.New("gate: stopped before syncing")
	// ErrAlreadyRun: Run was called a second time.
	ErrAlreadyRun = errors.New("gate: Run called more than once")
)

// DefaultMaxStaleness is the MaxStaleness used when the options leave it
// zero.
const DefaultMaxStaleness = 5 * time.Minute

// Answer is the gate's answer for one entity.
type Answer struct {
	Entity string
	// Decision is the entity's last known decision. An entity the gate
	// holds no decision for gets, while the cache is fresh, what
	// transferwatch answers for an entity neither configured nor seen:
	// Allow under cac-2024, Block under cac-2022 (a first transfer needs a
	// standard contract), and ErrPresetUnknown while the cache holds no
	// decision at all; "" otherwise. Act on it only when Err is nil;
	// Allowed does.
	Decision Decision
	// RequiredMechanism is the legal mechanism that would lift a block,
	// such as "security_assessment", or "none".
	RequiredMechanism string
	// Policy is the preset the decision was taken under; empty in API mode
	// with a list of entities, whose endpoint does not carry it.
	Policy string
	// Reasons explain the decision. The slice is shared with the cache:
	// do not modify it.
	Reasons []string
	// Version is the decision's version on the decisions topic; zero in API
	// mode.
	Version int64
	// Known reports whether the cache holds a decision for the entity.
	Known bool
	// AsOf is when the cache was last known complete: everything published
	// before it is in the cache. It is zero before the first sync, and
	// while a partition newly added to the topic is read.
	AsOf time.Time
	// Fresh reports whether AsOf lies within MaxStaleness of now.
	Fresh bool
	// Err is nil when the answer may be acted on, else ErrNotSynced,
	// ErrStale or ErrNotFollowed.
	Err error
}

// Gate answers from a local cache of decisions; see the package
// documentation. Make one with NewFromTopic or NewFromAPI, start Run, and
// call Allowed for every record.
type Gate struct {
	maxStale time.Duration
	now      func() time.Time
	log      *slog.Logger
	// followAll: the cache holds every entity transferwatch has a decision
	// for, so an entity missing from it is allowed.
	followAll bool
	loop      func(ctx context.Context) error

	snap      atomic.Pointer[snapshot]
	everSync  atomic.Bool
	synced    chan struct{} // closed at the first sync
	done      chan struct{} // closed when Run returns
	runErr    error         // Run's result, read after done is closed
	started   atomic.Bool
	publishMu sync.Mutex // one writer of snap at a time
}

// snapshot is an immutable state of the cache.
type snapshot struct {
	entries map[string]Answer // Known is true, AsOf and freshness unset
	asOf    time.Time         // zero: not complete
	// policy is the preset of the decisions held ("cac-2022" if any
	// carries it: the stricter reading for an entity never seen).
	policy string
}

// common are the options both modes share.
type common struct {
	maxStale time.Duration
	now      func() time.Time
	log      *slog.Logger
}

func newCommon(maxStale time.Duration, now func() time.Time, log *slog.Logger) (common, error) {
	if maxStale < 0 {
		return common{}, errorf("MaxStaleness must not be negative, is %s", maxStale)
	}
	if maxStale == 0 {
		maxStale = DefaultMaxStaleness
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return common{maxStale: maxStale, now: now, log: log}, nil
}

func newGate(c common, followAll bool) *Gate {
	g := &Gate{
		maxStale:  c.maxStale,
		now:       c.now,
		log:       c.log,
		followAll: followAll,
		synced:    make(chan struct{}),
		done:      make(chan struct{}),
	}
	g.snap.Store(&snapshot{entries: map[string]Answer{}})
	return g
}

// Run fills the cache until ctx ends, then returns nil. It retries every
// failure of the broker or the API by itself: while they last the cache
// ages and the gate fails closed. Run may be called once.
func (g *Gate) Run(ctx context.Context) error {
	if g.started.Swap(true) {
		return ErrAlreadyRun
	}
	err := g.loop(ctx)
	g.runErr = err
	close(g.done)
	return err
}

// Wait blocks until the gate first synced (it read every partition of the
// topic up to its end, or completed a poll), ctx ends, or Run returns
// without having synced.
func (g *Gate) Wait(ctx context.Context) error {
	select {
	case <-g.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-g.done:
		if g.everSync.Load() {
			return nil
		}
		if g.runErr != nil {
			return errors.Join(ErrStopped, g.runErr)
		}
		return ErrStopped
	}
}

// Allowed returns the entity's answer and whether the pipeline may send for
// it now: true only when the cache is fresh and the decision is allow or
// warn. It takes no lock.
func (g *Gate) Allowed(entity string) (a Answer, ok bool) {
	a = g.Decision(entity)
	return a, a.Err == nil && a.Decision.Permits()
}

// Decision returns the entity's answer from the cache. It takes no lock.
func (g *Gate) Decision(entity string) Answer {
	s := g.snap.Load()
	a, known := s.entries[entity]
	if !known {
		a = Answer{Entity: entity}
	}
	a.AsOf = s.asOf
	switch {
	case s.asOf.IsZero():
		a.Err = ErrNotSynced
		if g.everSync.Load() {
			a.Err = ErrStale
		}
	case g.now().Sub(s.asOf) > g.maxStale:
		a.Err = ErrStale
	default:
		a.Fresh = true
	}
	if !known {
		switch {
		case !g.followAll:
			if a.Err == nil {
				a.Err = ErrNotFollowed
			}
		case a.Fresh:
			// What transferwatch answers for an entity neither configured
			// nor seen: what the preset gives a first transfer with no
			// approval.
			switch s.policy {
			case presetCAC2024:
				a.Decision, a.RequiredMechanism = Allow, "none"
			case presetCAC2022:
				a.Decision, a.RequiredMechanism = Block, "standard_contract"
				a.Reasons = []string{"entity neither configured nor seen: under cac-2022 any transfer of personal information needs a standard contract, certification or security assessment (PIPL Art. 38)"}
			default:
				a.Err = ErrPresetUnknown
			}
			a.Policy = s.policy
		}
	}
	return a
}

// update replaces the cache under publishMu. change returns the new entries
// (nil: unchanged; it must not modify the map it is given) and the new
// as-of time.
func (g *Gate) update(change func(cur map[string]Answer) (map[string]Answer, time.Time)) {
	g.publishMu.Lock()
	defer g.publishMu.Unlock()
	cur := g.snap.Load()
	entries, asOf := change(cur.entries)
	if entries == nil {
		entries = cur.entries
	}
	g.snap.Store(&snapshot{entries: entries, asOf: asOf, policy: presetOf(entries)})
	if !asOf.IsZero() && !g.everSync.Swap(true) {
		close(g.synced)
	}
}

// asOf returns the cache's current as-of time.
func (g *Gate) asOf() time.Time { return g.snap.Load().asOf }

// cloneWith returns a copy of cur with room for n more entries.
func cloneWith(cur map[string]Answer, n int) map[string]Answer {
	out := make(map[string]Answer, len(cur)+n)
	maps.Copy(out, cur)
	return out
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff doubles d up to limit.
func backoff(d, limit time.Duration) time.Duration {
	return min(2*d, limit)
}

// Presets whose answer for an entity never seen the gate knows.
const (
	presetCAC2022 = "cac-2022"
	presetCAC2024 = "cac-2024"
)

// presetOf returns the preset of the decisions in entries: cac-2022 if any
// carries it, else the preset of any, else "".
func presetOf(entries map[string]Answer) string {
	p := ""
	for _, a := range entries {
		if a.Policy == presetCAC2022 {
			return presetCAC2022
		}
		if a.Policy != "" {
			p = a.Policy
		}
	}
	return p
}
