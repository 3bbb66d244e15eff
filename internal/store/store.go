// Package store holds what the sketch stores share: the decision record they
// keep per entity, and the contract every store implementation meets (run by
// the conformance suite in package storetest against each of them).
//
// Code that uses a store declares the small interface it needs where it uses
// it; Store here is the full set, for the conformance suite and for wiring.
package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/transferwatch/transferwatch/internal/sketch"
)

// Decision is the last decision published for an entity. Version counts
// changes: the first decision ever recorded has version 1.
type Decision struct {
	Version  int64
	Decision string
}

// ErrUnavailable wraps errors that mean the store cannot be reached now; the
// caller should back off and try again.
var ErrUnavailable = errors.New("store unavailable")

// Store is everything transferwatch keeps in a shared store.
type Store interface {
	// Merge adds every entity-year of b into the store atomically per
	// entity-year: concurrent merges from any number of instances all land.
	Merge(ctx context.Context, b sketch.Batch) error
	// History returns what the store holds of entity for the given years
	// (years absent from the store are absent from the map).
	History(ctx context.Context, entity string, years ...int) (sketch.History, error)
	// Entities returns the id of every entity ever merged, sorted.
	Entities(ctx context.Context) ([]string, error)
	// Decision returns the entity's last recorded decision (zero if none).
	Decision(ctx context.Context, entity string) (Decision, error)
	// SwapDecision records next if the stored version is still prev.Version,
	// and reports whether it did. next.Version must be prev.Version+1. Only
	// the instance whose swap succeeds publishes the change, so a change is
	// published once however many instances saw it.
	SwapDecision(ctx context.Context, entity string, prev, next Decision) (bool, error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error

	// Offsets returns, per partition of topic, the next offset of the
	// events the store's figures cover for the consumer group (partitions
	// never recorded are absent).
	Offsets(ctx context.Context, group, topic string) (map[int]int64, error)
	// RecordOffsets raises the stored offsets of topic to next, partition by
	// partition (an offset never goes down). It first checks that the
	// store still holds at least floors[p] for every partition p of floors
	// (NoOffset: nothing expected): if not, the store lost or rolled back
	// data, and it records nothing and returns an *OffsetsBehindError.
	RecordOffsets(ctx context.Context, group, topic string, next, floors map[int]int64) error
	// AcceptLoss records an operator's acceptance of a loss and sets the
	// offsets of its partitions to where the store resumes from.
	AcceptLoss(ctx context.Context, group, topic string, loss Loss) error
	// Losses returns every loss accepted, oldest first.
	Losses(ctx context.Context, group, topic string) ([]Loss, error)
}

// NoOffset is the offset of a partition the store never recorded.
const NoOffset int64 = -1

// OffsetsBehindError reports partitions whose stored offset is behind what
// the caller knows was recorded: the store lost or rolled back data.
type OffsetsBehindError struct {
	// Stored and Expected are, per partition behind, the offset the store
	// holds (NoOffset if none) and the least it should hold.
	Stored, Expected map[int]int64
}

func (e *OffsetsBehindError) Error() string {
	var b strings.Builder
	b.WriteString("store offsets went backwards (the store lost or rolled back data):")
	for _, p := range slices.Sorted(maps.Keys(e.Stored)) {
		fmt.Fprintf(&b, " partition %d holds %d, expected at least %d;", p, e.Stored[p], e.Expected[p])
	}
	return strings.TrimSuffix(b.String(), ";")
}

// Loss is an operator's acceptance that the events of some offsets are
// counted nowhere: the store lost them and Kafka no longer has them.
type Loss struct {
	// At is when the loss was accepted.
	At time.Time `json:"at"`
	// Partitions lists, per partition, the offsets lost: [From, To).
	Partitions []LostRange `json:"partitions"`
	// Reason is the operator's note.
	Reason string `json:"reason,omitempty"`
}

// LostRange is the range [From, To) of offsets of one partition whose
// events are counted nowhere.
type LostRange struct {
	Partition int   `json:"partition"`
	From      int64 `json:"from"`
	To        int64 `json:"to"`
}
