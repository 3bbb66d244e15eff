package storetest

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/store"
)

// testOffsets checks the offsets the store keeps beside the sketches: they
// only go up, a check against floors refuses to record anything when one
// is behind, every client sees them, and an accepted loss is recorded and
// raises its partitions.
func testOffsets(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	a, b := open(t), open(t)
	const group, topic = "g", "events"

	if got, err := a.Offsets(ctx, group, topic); err != nil || len(got) != 0 {
		t.Fatalf("new store: Offsets = %v, %v; want empty", got, err)
	}
	if err := a.RecordOffsets(ctx, group, topic, map[int]int64{0: 10, 1: 5}, nil); err != nil {
		t.Fatal(err)
	}
	// Raised only: a lower offset (a replay) changes nothing.
	if err := b.RecordOffsets(ctx, group, topic, map[int]int64{0: 7, 1: 9}, map[int]int64{0: 7, 1: 5}); err != nil {
		t.Fatal(err)
	}
	want := map[int]int64{0: 10, 1: 9}
	if got, err := a.Offsets(ctx, group, topic); err != nil || !maps.Equal(got, want) {
		t.Fatalf("Offsets = %v, %v; want %v", got, err, want)
	}
	// Another group or topic is another record.
	if got, _ := a.Offsets(ctx, "other", topic); len(got) != 0 {
		t.Fatalf("group other: %v; want empty", got)
	}

	// A floor above what is stored: nothing is written, the error says
	// which partitions are behind.
	err := b.RecordOffsets(ctx, group, topic, map[int]int64{0: 20, 1: 20}, map[int]int64{0: 10, 1: 12, 2: 3})
	var behind *store.OffsetsBehindError
	if !errors.As(err, &behind) {
		t.Fatalf("RecordOffsets with floors above the store: %v; want *OffsetsBehindError", err)
	}
	if !maps.Equal(behind.Stored, map[int]int64{1: 9, 2: store.NoOffset}) || !maps.Equal(behind.Expected, map[int]int64{1: 12, 2: 3}) {
		t.Fatalf("behind = %+v", behind)
	}
	if got, _ := a.Offsets(ctx, group, topic); !maps.Equal(got, want) {
		t.Fatalf("after a refused record: %v; want %v unchanged", got, want)
	}

	loss := store.Loss{
		At:         time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		Partitions: []store.LostRange{{Partition: 1, From: 9, To: 40}},
		Reason:     "test",
	}
	if err := a.AcceptLoss(ctx, group, topic, loss); err != nil {
		t.Fatal(err)
	}
	want = map[int]int64{0: 10, 1: 40}
	if got, _ := b.Offsets(ctx, group, topic); !maps.Equal(got, want) {
		t.Fatalf("after AcceptLoss: %v; want %v", got, want)
	}
	losses, err := b.Losses(ctx, group, topic)
	if err != nil || len(losses) != 1 || !losses[0].At.Equal(loss.At) || losses[0].Partitions[0] != loss.Partitions[0] || losses[0].Reason != "test" {
		t.Fatalf("Losses = %+v, %v; want [%+v]", losses, err, loss)
	}
}
