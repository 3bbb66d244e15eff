package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/transferwatch/transferwatch/internal/store"
)

// OffsetReader reads the offsets the store's figures cover.
type OffsetReader interface {
	Offsets(ctx context.Context, group, topic string) (map[int]int64, error)
}

// Checker audits the store against the consumer group, for every partition
// of the topic whoever reads it: the group may never have committed past
// what the store's figures cover (the ingester records offsets in the
// store before it commits them). When it has, the store lost or rolled
// back data, and nothing decided from it can be trusted until the events
// it lacks are read again (or an operator accepts their loss).
//
// The committed offsets are read before the store's, so that a commit
// landing between the two reads never looks like a loss.
type Checker struct {
	src      *Admin
	store    OffsetReader
	interval time.Duration
	log      *slog.Logger

	mu       sync.Mutex
	err      error     // the last verdict; nil: the store holds every committed offset
	checked  time.Time // when err was last established by a check
	verified []func()  // called when the store is verified again (OnVerified)
}

// OnVerified registers f to be called, outside any lock, each time a check
// finds the store whole after it was not (or not yet) verified: the
// decision layer then decides again at once rather than at its next
// refresh.
func (c *Checker) OnVerified(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.verified = append(c.verified, f)
}

// NewChecker returns a checker that audits every interval (default 5s).
// Until its first check it reports the store as not verified.
func NewChecker(src *Admin, st OffsetReader, reg prometheus.Registerer, interval time.Duration, log *slog.Logger) *Checker {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Checker{src: src, store: st, interval: interval, log: log, err: errors.New("store integrity not verified yet")}
	promauto.With(reg).NewGaugeFunc(prometheus.GaugeOpts{
		Name: "transferwatch_store_ok",
		Help: "1 while the store is verified to hold every offset the consumer group committed; 0 when it lost or rolled back data, or cannot be verified.",
	}, func() float64 {
		if c.OK() == nil {
			return 1
		}
		return 0
	})
	return c
}

// ErrStoreBehind marks a store found holding less than the group committed.
var ErrStoreBehind = errors.New("the store holds less than the consumer group committed (it lost or rolled back data)")

// OK returns nil when the last check found the store whole and is recent
// (within three intervals); otherwise why the store's figures cannot be
// trusted now.
func (c *Checker) OK() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if age := time.Since(c.checked); age > 3*c.interval {
		return fmt.Errorf("store integrity not verified for %s", age.Round(time.Second))
	}
	return nil
}

// Behind records that the store was found behind by another path (the
// ingester's recording of offsets): not OK until a check finds it whole.
func (c *Checker) Behind(err error) {
	c.set(fmt.Errorf("%w: %w", ErrStoreBehind, err), false)
}

func (c *Checker) set(err error, checked bool) {
	c.mu.Lock()
	was := c.err
	c.err = err
	if checked {
		c.checked = time.Now()
	}
	verified := c.verified
	c.mu.Unlock()
	if err == nil && was != nil {
		for _, f := range verified {
			f()
		}
	}
	switch {
	case err != nil && errors.Is(err, ErrStoreBehind) && (was == nil || !errors.Is(was, ErrStoreBehind)):
		c.log.Error("store integrity lost: decisions answer 503 and nothing is committed until the store holds what the group committed", "err", err)
	case err == nil && was != nil:
		c.log.Info("store integrity verified")
	}
}

// Check audits the store now and returns the verdict (nil: whole).
func (c *Checker) Check(ctx context.Context) error {
	err := c.check(ctx)
	if err != nil && !errors.Is(err, ErrStoreBehind) && ctx.Err() == nil {
		// A connection pooled before a broker or Redis restart fails
		// once (EOF); the second try dials afresh, so that readiness
		// does not wait a whole interval for it.
		err = c.check(ctx)
	}
	if err != nil && !errors.Is(err, ErrStoreBehind) {
		err = fmt.Errorf("store integrity cannot be verified: %w", err)
	}
	c.set(err, true)
	return err
}

func (c *Checker) check(ctx context.Context) error {
	committed, err := c.src.Committed(ctx)
	if err != nil {
		return err
	}
	stored, err := c.store.Offsets(ctx, c.src.cfg.GroupID, c.src.cfg.Topic)
	if err != nil {
		return err
	}
	var behind []string
	for _, p := range slices.Sorted(maps.Keys(committed)) {
		s, ok := stored[p]
		if !ok {
			s = store.NoOffset
		}
		if s < committed[p] {
			behind = append(behind, fmt.Sprintf("partition %d: store %d, committed %d", p, max(s, 0), committed[p]))
		}
	}
	if len(behind) > 0 {
		return fmt.Errorf("%w: %s", ErrStoreBehind, strings.Join(behind, "; "))
	}
	return nil
}

// Run checks every interval until ctx ends.
func (c *Checker) Run(ctx context.Context) error {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		if err := c.Check(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrStoreBehind) {
			c.log.Warn("store integrity check failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
