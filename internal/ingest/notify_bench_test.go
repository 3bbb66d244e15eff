package ingest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
)

// BenchmarkNextNotified picks the next call's entities among 100,000
// pending, half never passed on, against the sort it replaced (map reads
// in every comparison), in the same run.
func BenchmarkNextNotified(b *testing.B) {
	const n = 100_000
	pending := make(map[string]uint64, n)
	passed := make(map[string]uint64, n/2)
	for i := range n {
		id := fmt.Sprintf("entity-%06d", i)
		pending[id] = uint64(1 + i%50)
		if i%2 == 0 {
			passed[id] = uint64(i % 1000)
		}
	}
	b.Run("heap", func(b *testing.B) {
		var ids []string
		var top []notifyRank
		for b.Loop() {
			ids = nextNotified(ids[:0], pending, passed, &top)
		}
	})
	b.Run("map-reads-in-sort", func(b *testing.B) {
		var ids []string
		for b.Loop() {
			ids = ids[:0]
			for id := range pending {
				ids = append(ids, id)
			}
			slices.SortFunc(ids, func(a, b string) int {
				pa, oka := passed[a]
				pb, okb := passed[b]
				return cmp.Or(compareBool(oka, okb), cmp.Compare(pending[b], pending[a]), cmp.Compare(pa, pb))
			})
			ids = ids[:notifyChunk]
		}
	})
}

// TestNextNotifiedOrder: never passed on first, then the latest sweep, then
// the least recently passed on; at most notifyChunk.
func TestNextNotifiedOrder(t *testing.T) {
	pending := map[string]uint64{}
	passed := map[string]uint64{}
	for i := range 200 {
		id := fmt.Sprintf("e%03d", i)
		pending[id] = uint64(i % 4)
		if i >= 20 {
			passed[id] = uint64(i)
		}
	}
	var top []notifyRank
	got := nextNotified(nil, pending, passed, &top)
	if len(got) != notifyChunk {
		t.Fatalf("%d entities, want %d", len(got), notifyChunk)
	}
	// e000–e019 never passed on; then sweep 3 (i%4 == 3) least recently passed first.
	want := map[string]bool{}
	for i := range 20 {
		want[fmt.Sprintf("e%03d", i)] = true
	}
	for i := 20; len(want) < notifyChunk; i++ {
		if i%4 == 3 {
			want[fmt.Sprintf("e%03d", i)] = true
		}
	}
	for _, id := range got {
		if !want[id] {
			t.Errorf("picked %s, want %v", id, want)
		}
	}
	if few := nextNotified(nil, map[string]uint64{"a": 1, "b": 2}, passed, &top); len(few) != 2 {
		t.Errorf("two pending gave %v", few)
	}
}
