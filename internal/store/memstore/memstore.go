// Package memstore is the in-process sketch store: for `transferwatch demo`
// and for tests of the layers above the store. It keeps what the Redis store
// keeps, with the same semantics, in one process's memory.
package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store"
)

// Store is an in-memory store, safe for concurrent use.
type Store struct {
	mu sync.Mutex
	// years holds entity-years serialized, as the Redis store does, so that
	// readers never share a sketch with writers.
	years     map[sketch.Key]map[string][]byte
	versions  map[sketch.Key]int64 // raised by every merge that changes a year
	decisions map[string]*decisionState
	leases    map[string]lease
	offsets   map[offsetsKey]map[int]int64
	losses    map[offsetsKey][]store.Loss
}

// decisionState is what the store keeps of one entity's decisions.
type decisionState struct {
	record  store.Decision
	latest  store.Message
	outbox  []store.Message // oldest first
	history []store.Message // newest first
}

// lease is an entity's publishing lease.
type lease struct {
	owner string
	until time.Time
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		years:     make(map[sketch.Key]map[string][]byte),
		versions:  make(map[sketch.Key]int64),
		decisions: make(map[string]*decisionState),
		leases:    make(map[string]lease),
		offsets:   make(map[offsetsKey]map[int]int64),
		losses:    make(map[offsetsKey][]store.Loss),
	}
}

// Merge implements store.Store.
func (s *Store) Merge(_ context.Context, b sketch.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, y := range b {
		merged := &sketch.Year{}
		if cur := s.years[k]; cur != nil {
			old, err := sketch.DecodeYear(cur)
			if err != nil {
				return err
			}
			merged = old
		}
		if err := merged.Merge(y); err != nil {
			return err
		}
		enc, err := merged.Encode()
		if err != nil {
			return err
		}
		if cur := s.years[k]; cur == nil || !sameEncoding(cur, enc) {
			s.versions[k]++
		}
		s.years[k] = enc
	}
	return nil
}

// sameEncoding reports whether two encoded years are equal.
func sameEncoding(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for f, v := range a {
		if w, ok := b[f]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

// History implements store.Store.
func (s *Store) History(ctx context.Context, entity string, years ...int) (sketch.History, error) {
	h, _, err := s.VersionedHistory(ctx, entity, years...)
	return h, err
}

// VersionedHistory implements store.Store.
func (s *Store) VersionedHistory(_ context.Context, entity string, years ...int) (sketch.History, []string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := make(sketch.History, len(years))
	versions := make([]string, len(years))
	for i, yr := range years {
		k := sketch.Key{Entity: entity, Year: yr}
		enc := s.years[k]
		if enc == nil {
			continue
		}
		y, err := sketch.DecodeYear(enc)
		if err != nil {
			return nil, nil, err
		}
		h[yr] = y
		versions[i] = s.token(k)
	}
	return h, versions, nil
}

// token is the stamp token of entity-year k: its version, "" if absent;
// s.mu is held.
func (s *Store) token(k sketch.Key) string {
	if s.years[k] == nil {
		return ""
	}
	return strconv.FormatInt(s.versions[k], 10)
}

// Stamps implements store.Store.
func (s *Store) Stamps(_ context.Context, entities []string, years ...int) ([]store.Stamp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Stamp, len(entities))
	for i, id := range entities {
		st := store.Stamp{Years: make([]string, len(years))}
		for j, yr := range years {
			st.Years[j] = s.token(sketch.Key{Entity: id, Year: yr})
		}
		if r := s.decisions[id]; r != nil {
			st.Decision, st.Pending = r.record.Version, len(r.outbox)
		}
		out[i] = st
	}
	return out, nil
}

// Seen implements store.Store.
func (s *Store) Seen(_ context.Context, entity string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.years {
		if k.Entity == entity {
			return true, nil
		}
	}
	return false, nil
}

// Entities implements store.Store.
func (s *Store) Entities(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[string]bool)
	var ids []string
	for k := range s.years {
		if !seen[k.Entity] {
			seen[k.Entity] = true
			ids = append(ids, k.Entity)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Decision implements store.Store.
func (s *Store) Decision(_ context.Context, entity string) (store.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.decisions[entity]
	if r == nil {
		return store.Decision{}, nil
	}
	d := r.record
	d.Pending = len(r.outbox)
	return d, nil
}

// SwapDecision implements store.Store.
func (s *Store) SwapDecision(_ context.Context, entity string, prev, next store.Decision, msg []byte) (bool, error) {
	return s.swap(entity, prev, next, msg, true)
}

// RepairDecision implements store.Store.
func (s *Store) RepairDecision(_ context.Context, entity string, prev, next store.Decision, msg []byte) (bool, error) {
	return s.swap(entity, prev, next, msg, false)
}

func (s *Store) swap(entity string, prev, next store.Decision, msg []byte, enqueue bool) (bool, error) {
	if next.Version <= prev.Version {
		return false, fmt.Errorf("%w: %d after %d", store.ErrVersionOrder, next.Version, prev.Version)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.decisions[entity]
	if r == nil {
		r = &decisionState{}
		s.decisions[entity] = r
	}
	if r.record.Version != prev.Version {
		return false, nil
	}
	change := next.Change
	next.Pending, next.Change = 0, ""
	r.record = next
	m := store.Message{Version: next.Version, Value: bytes.Clone(msg)}
	r.latest = m
	if enqueue {
		r.outbox = append(r.outbox, m)
	}
	if enqueue || len(r.history) == 0 || r.history[0].Version < m.Version {
		h := m
		if change != "" {
			h.Value = []byte(change)
		}
		r.history = slices.Insert(r.history, 0, h)
		r.history = r.history[:min(len(r.history), store.DecisionHistoryLen)]
	}
	return true, nil
}

// LatestMessage implements store.Store.
func (s *Store) LatestMessage(_ context.Context, entity string) (store.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.decisions[entity]; r != nil {
		return cloneMessage(r.latest), nil
	}
	return store.Message{}, nil
}

// DecisionHistory implements store.Store.
func (s *Store) DecisionHistory(_ context.Context, entity string, n int) ([]store.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.decisions[entity]
	if r == nil || n <= 0 {
		return nil, nil
	}
	return cloneMessages(r.history[:min(n, len(r.history))]), nil
}

// LockOutbox implements store.Store.
func (s *Store) LockOutbox(_ context.Context, entity, owner string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if l, ok := s.leases[entity]; ok && now.Before(l.until) {
		return false, nil
	}
	s.leases[entity] = lease{owner: owner, until: now.Add(ttl)}
	return true, nil
}

// holds reports whether owner holds the entity's lease; s.mu is held.
func (s *Store) holds(entity, owner string) bool {
	l, ok := s.leases[entity]
	return ok && l.owner == owner && time.Now().Before(l.until)
}

// Outbox implements store.Store.
func (s *Store) Outbox(_ context.Context, entity string, n int) ([]store.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.decisions[entity]
	if r == nil || n <= 0 {
		return nil, nil
	}
	return cloneMessages(r.outbox[:min(n, len(r.outbox))]), nil
}

// AckOutbox implements store.Store.
func (s *Store) AckOutbox(_ context.Context, entity, owner string, published []store.Message) (bool, error) {
	if len(published) == 0 {
		return true, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.decisions[entity]
	n := len(published)
	if !s.holds(entity, owner) || r == nil || len(r.outbox) < n ||
		r.outbox[0].Version != published[0].Version || r.outbox[n-1].Version != published[n-1].Version {
		return false, nil
	}
	r.outbox = slices.Delete(r.outbox, 0, n)
	return true, nil
}

// UnlockOutbox implements store.Store.
func (s *Store) UnlockOutbox(_ context.Context, entity, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[entity]; ok && l.owner == owner {
		delete(s.leases, entity)
	}
	return nil
}

func cloneMessage(m store.Message) store.Message {
	return store.Message{Version: m.Version, Value: bytes.Clone(m.Value)}
}

func cloneMessages(ms []store.Message) []store.Message {
	out := make([]store.Message, len(ms))
	for i, m := range ms {
		out[i] = cloneMessage(m)
	}
	return out
}

// Ping implements store.Store.
func (s *Store) Ping(context.Context) error { return nil }
