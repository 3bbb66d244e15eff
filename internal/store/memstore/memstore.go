// Package memstore is the in-process sketch store: for `transferwatch demo`
// and for tests of the layers above the store. It keeps what the Redis store
// keeps, with the same semantics, in one process's memory.
package memstore

import (
	"context"
	"slices"
	"sync"

	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store"
)

// Store is an in-memory store, safe for concurrent use.
type Store struct {
	mu sync.Mutex
	// years holds entity-years serialized, as the Redis store does, so that
	// readers never share a sketch with writers.
	years     map[sketch.Key]map[string][]byte
	decisions map[string]store.Decision
	offsets   map[offsetsKey]map[int]int64
	losses    map[offsetsKey][]store.Loss
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		years:     make(map[sketch.Key]map[string][]byte),
		decisions: make(map[string]store.Decision),
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
		s.years[k] = enc
	}
	return nil
}

// History implements store.Store.
func (s *Store) History(_ context.Context, entity string, years ...int) (sketch.History, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := make(sketch.History, len(years))
	for _, yr := range years {
		enc := s.years[sketch.Key{Entity: entity, Year: yr}]
		if enc == nil {
			continue
		}
		y, err := sketch.DecodeYear(enc)
		if err != nil {
			return nil, err
		}
		h[yr] = y
	}
	return h, nil
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
	return s.decisions[entity], nil
}

// SwapDecision implements store.Store.
func (s *Store) SwapDecision(_ context.Context, entity string, prev, next store.Decision) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.decisions[entity].Version != prev.Version {
		return false, nil
	}
	s.decisions[entity] = next
	return true, nil
}

// Ping implements store.Store.
func (s *Store) Ping(context.Context) error { return nil }
