package memstore

import (
	"context"
	"maps"
	"slices"

	"github.com/transferwatch/transferwatch/internal/store"
)

type offsetsKey struct{ group, topic string }

// Offsets implements store.Store.
func (s *Store) Offsets(_ context.Context, group, topic string) (map[int]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.offsets[offsetsKey{group, topic}]), nil
}

// RecordOffsets implements store.Store.
func (s *Store) RecordOffsets(_ context.Context, group, topic string, next, floors map[int]int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := offsetsKey{group, topic}
	cur := s.offsets[k]
	stored := func(p int) int64 {
		if off, ok := cur[p]; ok {
			return off
		}
		return store.NoOffset
	}
	var behind *store.OffsetsBehindError
	for p, floor := range floors {
		if got := stored(p); got < floor {
			if behind == nil {
				behind = &store.OffsetsBehindError{Stored: map[int]int64{}, Expected: map[int]int64{}}
			}
			behind.Stored[p], behind.Expected[p] = got, floor
		}
	}
	if behind != nil {
		return behind
	}
	if cur == nil {
		cur = make(map[int]int64)
		s.offsets[k] = cur
	}
	for p, off := range next {
		if off > stored(p) {
			cur[p] = off
		}
	}
	return nil
}

// AcceptLoss implements store.Store.
func (s *Store) AcceptLoss(ctx context.Context, group, topic string, loss store.Loss) error {
	s.mu.Lock()
	k := offsetsKey{group, topic}
	s.losses[k] = append(s.losses[k], loss)
	s.mu.Unlock()
	next := make(map[int]int64, len(loss.Partitions))
	for _, r := range loss.Partitions {
		next[r.Partition] = r.To
	}
	return s.RecordOffsets(ctx, group, topic, next, nil)
}

// Losses implements store.Store.
func (s *Store) Losses(_ context.Context, group, topic string) ([]store.Loss, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.losses[offsetsKey{group, topic}]), nil
}

// Reset empties the store, as a Redis restarted without persistence would
// be (tests of store-loss detection).
func (s *Store) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.years)
	clear(s.decisions)
	clear(s.leases)
	clear(s.offsets)
	clear(s.losses)
}
