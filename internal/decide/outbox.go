package decide

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/store"
)

// Bounds of a publication. A lease must outlast everything its holder does
// with it: reading the outboxes (at most lockBudget), the write (at most
// PublishTimeout, NewWriter's writer giving up by then), and a write of the
// writer it may queue behind (another PublishTimeout). A write whose outcome
// is unknown keeps its leases until they lapse, so that nobody publishes a
// newer message of those entities while it may still land.
const (
	// PublishTimeout bounds one write to the decisions topic.
	PublishTimeout = 10 * time.Second
	writeAttempts  = 3
	attemptTimeout = 3 * time.Second
	leaseMargin    = 5 * time.Second
	minLeaseTTL    = 3*PublishTimeout + leaseMargin
	// publishChunk is how many entities one write publishes at most.
	publishChunk = 128
	// outboxBatch is how many pending messages of an entity one write
	// publishes at most; the rest follow in the next pass.
	outboxBatch = 50
	// publishPasses bounds the passes of one publication: an entity whose
	// outbox still holds messages after that waits for the next round.
	publishPasses = 4
)

// NewWriter returns the writer of the decisions topic at addr: messages
// keyed by entity go to the entity's partition (kafka.Hash, as always), all
// replicas acknowledge, and a write gives up within PublishTimeout (three
// attempts of at most 3 s), so that it never lands after its lease lapsed.
// tr may be nil (plain TCP).
func NewWriter(addr net.Addr, topic string, tr *kafka.Transport) *kafka.Writer {
	w := &kafka.Writer{
		Addr:            addr,
		Topic:           topic,
		Balancer:        &kafka.Hash{},
		RequiredAcks:    kafka.RequireAll,
		BatchTimeout:    5 * time.Millisecond,
		BatchSize:       publishChunk * outboxBatch, // a write is one batch per partition
		BatchBytes:      16 << 20,
		MaxAttempts:     writeAttempts,
		WriteBackoffMin: 100 * time.Millisecond,
		WriteBackoffMax: 500 * time.Millisecond,
		ReadTimeout:     attemptTimeout,
		WriteTimeout:    attemptTimeout,
	}
	if tr != nil {
		w.Transport = tr
	}
	return w
}

// publishReq asks to publish an entity's pending messages and, with
// announce, its current decision.
type publishReq struct {
	id       string
	announce bool
	fallback []byte // the announcement when the store keeps no message
}

// publish publishes reqs: their outboxes, and announcements. An entity
// whose lease another instance holds is left to it.
func (d *Decider) publish(ctx context.Context, reqs []publishReq) error {
	var errs []error
	for pass := 0; len(reqs) > 0 && pass < publishPasses; pass++ {
		var again []publishReq
		for chunk := range slices.Chunk(reqs, publishChunk) {
			more, err := d.publishChunk(ctx, chunk)
			again = append(again, more...)
			if err != nil {
				errs = append(errs, err)
			}
		}
		reqs = again
	}
	return errors.Join(errs...)
}

// leased is one entity of a chunk under its lease.
type leased struct {
	publishReq
	owner  string
	locked bool
	ack    []store.Message // the outbox head this publication covers
	send   []kafka.Message
	sent   []Record // what send carries, to raise the floor
	err    error
}

// publishChunk takes the leases of reqs, reads what to publish, writes it
// in one go, acknowledges what was written and gives the leases back. It
// returns the entities whose outbox may hold more.
func (d *Decider) publishChunk(ctx context.Context, reqs []publishReq) (more []publishReq, err error) {
	start := time.Now()
	ls := make([]leased, len(reqs))
	d.parallel(len(reqs), func(i int) {
		ls[i] = leased{publishReq: reqs[i], owner: token()}
		ls[i].err = d.collect(ctx, &ls[i])
	})
	var errs []error
	var locked []string
	for i := range ls {
		if ls[i].err != nil {
			d.noteStore(ls[i].err)
			errs = append(errs, fmt.Errorf("entity %s: %w", ls[i].id, ls[i].err))
		}
		if ls[i].locked {
			locked = append(locked, ls[i].id)
		}
	}
	if len(locked) == 0 {
		return nil, errors.Join(errs...)
	}
	if d.opts.beforePublish != nil {
		d.opts.beforePublish(locked)
	}

	var msgs []kafka.Message
	for i := range ls {
		msgs = append(msgs, ls[i].send...)
	}
	failed := make([]bool, len(msgs))
	inFlight := false
	if budget := d.opts.LeaseTTL - 2*PublishTimeout - leaseMargin; time.Since(start) > budget {
		// Too slow to be sure the write ends within the leases.
		errs = append(errs, fmt.Errorf("reading %d outboxes took %s, over %s: publishing later", len(ls), time.Since(start).Round(time.Millisecond), budget))
		for i := range failed {
			failed[i] = true
		}
		d.m.publishErrors.Add(float64(len(msgs)))
	} else if len(msgs) > 0 {
		var werr error
		failed, inFlight, werr = d.write(ctx, msgs)
		if werr != nil {
			n := 0
			for _, f := range failed {
				if f {
					n++
				}
			}
			d.m.publishErrors.Add(float64(n))
			errs = append(errs, fmt.Errorf("publish %d of %d decision messages (kept in the store, retried): %w", n, len(msgs), werr))
		}
	}

	// Acknowledge, release, and look again: a change recorded while this
	// instance held the lease could not be published by its recorder.
	var retry sync.Mutex
	k := 0
	offsets := make([]int, len(ls))
	for i := range ls {
		offsets[i] = k
		k += len(ls[i].send)
	}
	d.parallel(len(ls), func(i int) {
		l := &ls[i]
		if !l.locked {
			return
		}
		ok := !slices.Contains(failed[offsets[i]:offsets[i]+len(l.send)], true)
		if ok {
			for _, r := range l.sent {
				d.raiseFloor(l.id, r)
			}
			if _, err := d.store.AckOutbox(ctx, l.id, l.owner, l.ack); err != nil {
				d.noteStore(err)
				l.err = err
			}
		}
		if inFlight && !ok {
			return // the write may still land: let the lease lapse
		}
		if err := d.store.UnlockOutbox(ctx, l.id, l.owner); err != nil {
			d.noteStore(err)
			l.err = errors.Join(l.err, err)
			return
		}
		if !ok {
			return // the next round retries from the store
		}
		rec, err := d.store.Decision(ctx, l.id)
		if err != nil {
			l.err = errors.Join(l.err, err)
			return
		}
		if rec.Pending > 0 {
			retry.Lock()
			more = append(more, publishReq{id: l.id})
			retry.Unlock()
		}
	})
	for i := range ls {
		if ls[i].err != nil {
			errs = append(errs, fmt.Errorf("entity %s: %w", ls[i].id, ls[i].err))
		}
	}
	return more, errors.Join(errs...)
}

// collect takes l's lease and reads what to publish: the pending messages
// the topic does not yet carry, or, to announce with nothing pending, the
// latest message. Pending messages at or below the floor (published already,
// their acknowledgement lost, or left in a store restored from a backup) are
// acknowledged without publishing them again: an older version must not
// follow a newer one on the topic.
func (d *Decider) collect(ctx context.Context, l *leased) error {
	ok, err := d.store.LockOutbox(ctx, l.id, l.owner, d.opts.LeaseTTL)
	if err != nil || !ok {
		return err
	}
	l.locked = true
	pending, err := d.store.Outbox(ctx, l.id, outboxBatch)
	if err != nil {
		return err
	}
	fl, _ := d.floor(l.id)
	l.ack = pending
	for _, m := range pending {
		if m.Version > fl.Version {
			l.add(m.Value)
		}
	}
	if !l.announce || len(l.send) > 0 {
		return nil
	}
	latest, err := d.store.LatestMessage(ctx, l.id)
	switch {
	case err != nil:
		return err
	case latest.Value != nil && latest.Version >= fl.Version:
		l.add(latest.Value)
	case fl.Value != nil:
		l.add(fl.Value) // the store is behind the topic: announce the topic's
	case l.fallback != nil:
		l.add(l.fallback)
	}
	return nil
}

// add queues a message of l's entity.
func (l *leased) add(value []byte) {
	_, r, err := recordOf([]byte(l.id), value)
	if err != nil {
		return // not a message this decider wrote
	}
	l.send = append(l.send, kafka.Message{Key: []byte(l.id), Value: value})
	l.sent = append(l.sent, r)
}

// write writes msgs within PublishTimeout, even past ctx's end (the leases
// are held for it). It reports which failed, and whether some may still be
// in flight.
func (d *Decider) write(ctx context.Context, msgs []kafka.Message) (failed []bool, inFlight bool, err error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), PublishTimeout)
	defer cancel()
	failed = make([]bool, len(msgs))
	err = d.pub.WriteMessages(wctx, msgs...)
	if err == nil {
		return failed, false, nil
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) && len(werrs) == len(msgs) {
		for i, e := range werrs {
			failed[i] = e != nil
		}
		return failed, false, err
	}
	for i := range failed {
		failed[i] = true
	}
	return failed, wctx.Err() != nil, err
}

// parallel calls f(0…n-1), evalWorkers at a time.
func (d *Decider) parallel(n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(evalWorkers, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}

// token returns a lease owner token unique to one attempt.
func token() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// checkTopic reads the decisions topic's cleanup.policy, sets the
// compaction gauge and warns when it is not compact: with delete retention
// a block ages out, and a gate that starts later reads nothing for its
// entity.
func (d *Decider) checkTopic(ctx context.Context) {
	if d.opts.Topic == nil {
		return
	}
	policy, err := d.opts.Topic.CleanupPolicy(ctx)
	switch {
	case err != nil:
		d.m.compacted.Set(0)
		d.opts.Logger.Warn("cannot read the decisions topic's cleanup.policy; it must be compact (grant DescribeConfigs on the topic to check)", "err", err)
	case policy != "compact":
		d.m.compacted.Set(0)
		d.opts.Logger.Warn("the decisions topic is not compacted: decisions age out, and a gate that starts later may allow an entity that is blocked; set cleanup.policy=compact",
			"cleanup_policy", policy)
	default:
		d.m.compacted.Set(1)
	}
}
