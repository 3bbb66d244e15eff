// Package store holds what the sketch stores share: the decision record they
// keep per entity, and the contract every store implementation meets (run by
// the conformance suite in package storetest against each of them).
//
// Code that uses a store declares the small interface it needs where it uses
// it; Store here is the full set, for the conformance suite and for wiring.
//
// # Decisions and their outbox
//
// Beside the sketches, a store keeps per entity the decision record (the
// current decision and its version), the decisions-topic message announcing
// it, an outbox of change messages not yet published, and a short history of
// changes (the change message with the figures behind it, see
// Decision.Change). A decision change is recorded and its message queued in
// one atomic step (SwapDecision), so a change recorded is never a change
// lost: whichever instance is alive publishes the outbox. Publishing takes a
// short per-entity lease (LockOutbox), so one instance at a time publishes an
// entity's messages, in order, and acknowledges exactly those it published
// (AckOutbox).
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

// Decision is the decision record of an entity. Version counts changes: the
// first decision ever recorded has version 1 (or, after the store was lost,
// the version after the highest on the decisions topic).
type Decision struct {
	Version  int64
	Decision string
	// DecidedAt is when the decision was recorded; zero for a record
	// written before stores kept it.
	DecidedAt time.Time
	// Pending is how many change messages wait in the entity's outbox.
	// Decision fills it in; SwapDecision and RepairDecision ignore it.
	Pending int
	// Change, when set, is what SwapDecision and RepairDecision push onto
	// the decision history instead of the message: the JSON of a
	// policy.Change, the message with the figures behind the change.
	// Decision leaves it nil.
	Change string
}

// Stamp tells whether what a store holds of an entity changed: every write
// of an entity-year changes its token, every recorded decision raises the
// record's version, so an entity-year whose token and a record whose
// version are unchanged are unchanged. (A token may also change without the
// contents changing, which costs the caller an evaluation and nothing else.)
type Stamp struct {
	// Years holds a token of each entity-year asked for, in the order
	// asked: "" for one absent. Tokens are only compared for equality.
	Years []string
	// Decision is the version of the decision record, 0 if none, or
	// Unreadable.
	Decision int64
	// Pending is the number of messages in the outbox.
	Pending int
}

// Unreadable is the version in a Stamp of a value the store cannot parse.
const Unreadable int64 = -1

// Message is a decisions-topic message kept in the store: the JSON value of
// a decision.Signal and the version it announces.
type Message struct {
	Version int64
	Value   []byte
}

// DecisionHistoryLen is how many changes DecisionHistory keeps per entity,
// newest first. A change record is about 1.4 KB (the message, its reasons
// and the figures of every rule), so a full history is about 1.5 MiB per
// entity; decisions change a few times a year, so histories rarely fill.
const DecisionHistoryLen = 1000

// ErrUnavailable wraps errors that mean the store cannot be reached now; the
// caller should back off and try again.
var ErrUnavailable = errors.New("store unavailable")

// ErrVersionOrder is returned by SwapDecision and RepairDecision when the
// next version is not above the previous one.
var ErrVersionOrder = errors.New("store: decision version does not increase")

// Store is everything transferwatch keeps in a shared store.
type Store interface {
	// Merge adds every entity-year of b into the store atomically per
	// entity-year: concurrent merges from any number of instances all land.
	Merge(ctx context.Context, b sketch.Batch) error
	// History returns what the store holds of entity for the given years
	// (years absent from the store are absent from the map).
	History(ctx context.Context, entity string, years ...int) (sketch.History, error)
	// VersionedHistory is History with the token of each entity-year it
	// read, in the order of years ("" for a year absent): the tokens of
	// exactly the figures returned, as Stamps reports them.
	VersionedHistory(ctx context.Context, entity string, years ...int) (sketch.History, []string, error)
	// Stamps returns, for each of entities in order, the tokens of the
	// given entity-years, the version of its decision record and the length
	// of its outbox, in a few round trips for all of them: what changed since an
	// evaluation, without reading the figures. See Stamp.
	Stamps(ctx context.Context, entities []string, years ...int) ([]Stamp, error)
	// Entities returns the id of every entity ever merged, sorted.
	Entities(ctx context.Context) ([]string, error)
	// Seen reports whether entity was ever merged: Entities' membership
	// for one id, without reading them all.
	Seen(ctx context.Context, entity string) (bool, error)
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

	Decisions
}

// Decisions is the part of a store that keeps decisions and their outbox.
type Decisions interface {
	// Decision returns the entity's decision record (zero if none), with
	// the number of messages pending in its outbox.
	Decision(ctx context.Context, entity string) (Decision, error)
	// SwapDecision records next if the stored version is still
	// prev.Version, and reports whether it did. In the same atomic step it
	// keeps msg as the entity's latest message, appends it to the outbox
	// and pushes next.Change (or msg, when next.Change is nil) onto the
	// history, which keeps the last DecisionHistoryLen. next.Version must be above
	// prev.Version (ErrVersionOrder): usually prev.Version+1, more after
	// the store lost decisions the decisions topic still carries. Only the
	// instance whose swap succeeds records the change, so a change is
	// queued once however many instances saw it.
	SwapDecision(ctx context.Context, entity string, prev, next Decision, msg []byte) (bool, error)
	// RepairDecision is SwapDecision for a decision the decisions topic
	// already carries (the store lost or rolled back its record): it
	// records next and msg as the latest message, and pushes next.Change
	// (or msg) onto the history if the history holds nothing as new, but
	// queues nothing.
	RepairDecision(ctx context.Context, entity string, prev, next Decision, msg []byte) (bool, error)
	// LatestMessage returns the message of the entity's recorded decision
	// (zero if none).
	LatestMessage(ctx context.Context, entity string) (Message, error)
	// DecisionHistory returns up to n of the entity's last changes (at
	// most DecisionHistoryLen are kept), newest first: each the Change
	// recorded with it, or its message.
	DecisionHistory(ctx context.Context, entity string, n int) ([]Message, error)

	// LockOutbox takes the entity's publishing lease for owner, a token
	// unique to the attempt, if no one holds it; the lease lapses after
	// ttl. It reports whether owner holds the lease now.
	LockOutbox(ctx context.Context, entity, owner string, ttl time.Duration) (bool, error)
	// Outbox returns up to n of the entity's pending messages, oldest
	// first.
	Outbox(ctx context.Context, entity string, n int) ([]Message, error)
	// AckOutbox removes the published messages from the head of the
	// outbox if owner still holds the lease and the outbox still starts
	// with exactly them (checked by their first and last versions), and
	// reports whether it did.
	AckOutbox(ctx context.Context, entity, owner string, published []Message) (bool, error)
	// UnlockOutbox gives up owner's lease; a lease owner no longer holds is
	// left alone.
	UnlockOutbox(ctx context.Context, entity, owner string) error
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
