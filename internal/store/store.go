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
}
