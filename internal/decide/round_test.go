package decide_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/transferwatch/transferwatch/internal/decide"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store"
	"github.com/transferwatch/transferwatch/internal/store/redisstore"
	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
	"github.com/transferwatch/transferwatch/internal/testutil/redistest"
)

// countingStore counts the figures a decider reads, and fails its stamp
// reads from call failFrom on (0: never).
type countingStore struct {
	decide.Store
	reads    atomic.Int64
	stamps   atomic.Int64
	failFrom int64

	mu    sync.Mutex
	order []string // entities whose figures were read, in order
}

var errStampsDown = errors.New("stamps: connection refused")

func (s *countingStore) VersionedHistory(ctx context.Context, entity string, years ...int) (sketch.History, []string, error) {
	s.reads.Add(1)
	s.mu.Lock()
	s.order = append(s.order, entity)
	s.mu.Unlock()
	return s.Store.VersionedHistory(ctx, entity, years...)
}

func (s *countingStore) Stamps(ctx context.Context, entities []string, years ...int) ([]store.Stamp, error) {
	if n := s.stamps.Add(1); s.failFrom > 0 && n >= s.failFrom {
		return nil, errStampsDown
	}
	return s.Store.Stamps(ctx, entities, years...)
}

// roundOutcome returns transferwatch_evaluations_total{trigger="round",outcome}.
func (in *instance) evaluations(t *testing.T, trigger, outcome string) float64 {
	t.Helper()
	mfs, err := in.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "transferwatch_evaluations_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["trigger"] == trigger && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no transferwatch_evaluations_total{trigger=%q,outcome=%q}", trigger, outcome)
	return 0
}

func asOf(t *testing.T, d *instance, id string) time.Time {
	t.Helper()
	s, ok := d.Status(id)
	if !ok {
		t.Fatalf("no status of %s", id)
	}
	return s.UpdatedAt
}

// TestRoundReconfirmsOnlyUnchanged: a round over entities nothing changed
// reads no figures and raises their as_of to the round's start; a merge by
// another instance behind the decider's back (no Evaluate here) makes the
// next round read that entity again and publish its change.
func TestRoundReconfirmsOnlyUnchanged(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	ctx := context.Background()
	other := redisClient(t, rds) // another instance's flushes
	ids := []string{"acme-sh", "globex-bj", "initech-gz"}
	for _, id := range ids {
		addSensitive(t, other, id, 0, 1_000) // allow
	}
	st := &countingStore{Store: redisClient(t, rds)}
	clk := &clock{t: day}
	d := newInstance(t, c, st, clk, decide.Options{})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if n := st.reads.Load(); n != 3 {
		t.Fatalf("start read the figures %d times, want 3", n)
	}
	before := len(published(t, c))

	clk.Advance(time.Minute)
	if err := d.Round(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n := st.reads.Load(); n != 3 {
		t.Errorf("a round with nothing changed read figures %d times more", n-3)
	}
	for _, id := range ids {
		if got := asOf(t, d, id); !got.Equal(clk.Now()) {
			t.Errorf("as_of of %s after the round = %s, want the round's start %s", id, got, clk.Now())
		}
		if v, err := d.Verdict(id, clk.Now()); err != nil || v.Decision != policy.Allow || !v.AsOf.Equal(clk.Now()) {
			t.Errorf("Verdict(%s) = %+v, %v; want allow as of now", id, v, err)
		}
	}
	if got := d.evaluations(t, "round", "reconfirmed"); got != 3 {
		t.Errorf("reconfirmed = %v, want 3", got)
	}

	// Another instance merges past the threshold; this one is not told.
	addSensitive(t, other, "globex-bj", 1_000, 10_400)
	clk.Advance(time.Minute)
	if err := d.Round(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n := st.reads.Load(); n != 4 {
		t.Errorf("the round read figures %d times, want once (globex-bj)", n-3)
	}
	if v, err := d.Verdict("globex-bj", clk.Now()); err != nil || v.Decision != policy.Block || v.Version != 2 {
		t.Fatalf("Verdict(globex-bj) after the merge = %+v, %v; want block v2", v, err)
	}
	got := published(t, c)
	if len(got) != before+1 || got[len(got)-1].Entity != "globex-bj" || got[len(got)-1].Decision != policy.Block {
		t.Fatalf("published after the merge: %+v, want globex-bj's block only", got[before:])
	}
	if got := d.evaluations(t, "round", "evaluated"); got != 3+1 {
		t.Errorf("evaluated = %v, want 4 (3 at start, then globex-bj)", got)
	}

	// A change recorded by another instance (its record's version moves)
	// is read again too, though the figures did not change.
	rec := pending(t, other, "acme-sh")
	msg, _ := json.Marshal(map[string]any{"entity": "acme-sh", "decision": "warn", "version": rec.Version + 1})
	next := store.Decision{Version: rec.Version + 1, Decision: "warn"}
	if ok, err := other.SwapDecision(ctx, "acme-sh", rec, next, msg); err != nil || !ok {
		t.Fatalf("swap by another instance: %t, %v", ok, err)
	}
	// ... which that instance published: nothing is pending.
	if ok, err := other.LockOutbox(ctx, "acme-sh", "other-1", time.Minute); err != nil || !ok {
		t.Fatalf("lock: %t, %v", ok, err)
	}
	if ok, err := other.AckOutbox(ctx, "acme-sh", "other-1", []store.Message{{Version: next.Version}}); err != nil || !ok {
		t.Fatalf("ack: %t, %v", ok, err)
	}
	if err := other.UnlockOutbox(ctx, "acme-sh", "other-1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Round(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n := st.reads.Load(); n != 5 {
		t.Errorf("the round read figures %d times, want once more (acme-sh)", n-4)
	}
	if v, err := d.Verdict("acme-sh", clk.Now()); err != nil || v.Decision != policy.Allow || v.Version != next.Version+1 {
		t.Errorf("Verdict(acme-sh) = %+v, %v; want allow v%d after the other's warn", v, err, next.Version+1)
	}
}

// TestRoundDrainsPendingOutbox: a change whose publication failed stays in
// the store's outbox; the next round, though the entity's figures and
// record are unchanged, evaluates it and publishes the change.
func TestRoundDrainsPendingOutbox(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	ctx := context.Background()
	st := redisClient(t, rds)
	addSensitive(t, st, "acme-sh", 0, 1_000)
	d := newInstance(t, c, st, nil, decide.Options{})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var refuse atomic.Bool
	refuse.Store(true)
	kc := c.Cluster
	kc.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if refuse.Load() {
			return nil, errors.New("test: produce refused"), true
		}
		return nil, nil, false
	})
	addSensitive(t, st, "acme-sh", 1_000, 10_400)
	if err := d.Evaluate(ctx, []string{"acme-sh"}); err == nil {
		t.Fatal("Evaluate with the broker refusing writes succeeded")
	}
	if rec := pending(t, st, "acme-sh"); rec.Version != 2 || rec.Pending != 1 {
		t.Fatalf("store after the failed publish: %+v, want v2 pending", rec)
	}
	refuse.Store(false)
	if err := d.Round(ctx, false); err != nil {
		t.Fatal(err)
	}
	if l := last(t, published(t, c), "acme-sh"); l.Version != 2 || l.Decision != policy.Block {
		t.Fatalf("last record %s v%d, want block v2 published by the round", l.Decision, l.Version)
	}
	if rec := pending(t, st, "acme-sh"); rec.Pending != 0 {
		t.Errorf("outbox not drained: %+v", rec)
	}
}

// integrityCheck is the store-integrity check of a test, as ingest's
// Checker does it against the consumer group's offsets: here, a key the
// store keeps while whole. verify checks afresh (Options.Verify); ok
// returns the last verdict (Options.StoreOK).
type integrityCheck struct {
	t       *testing.T
	raw     *redisstore.Store
	key     string
	verdict atomic.Pointer[error]
}

func (c *integrityCheck) verify(ctx context.Context) error {
	var err error
	if st, rerr := c.raw.Stamps(ctx, []string{c.key}, 2026); rerr != nil || st[0].Years[0] == "" {
		err = errors.New("the store holds less than the group committed")
	}
	c.verdict.Store(&err)
	return err
}

func (c *integrityCheck) ok() error {
	if p := c.verdict.Load(); p != nil {
		return *p
	}
	return nil
}

// whole marks the store whole: an entity only the check merges.
func (c *integrityCheck) whole(ctx context.Context) {
	c.t.Helper()
	addSensitive(c.t, c.raw, c.key, 0, 1)
}

// TestRoundAfterRedisRestartedEmpty: Redis restarts empty and refills
// (other people, and acme-sh's record repaired as another instance would).
// The integrity check notices the loss: the next round re-confirms nothing,
// evaluates nothing and Verdict fails closed. Once the store is whole
// again, every entity is evaluated again from what it holds.
func TestRoundAfterRedisRestartedEmpty(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	ctx := context.Background()
	st := redisClient(t, rds)
	check := &integrityCheck{t: t, raw: st, key: "integrity-mark"}
	check.whole(ctx)
	addSensitive(t, st, "acme-sh", 0, 10_400) // block
	clk := &clock{t: day}
	d := newInstance(t, c, st, clk, decide.Options{Verify: check.verify, StoreOK: check.ok})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	first, _ := d.Status("acme-sh")
	if first.Decision != policy.Block {
		t.Fatalf("decision after start %s, want block", first.Decision)
	}

	rds.Stop()
	rds.Start()
	addSensitive(t, st, "acme-sh", 20_000, 30_500) // other people, still block
	msg, _ := json.Marshal(first.Signal(policy.Block, 1))
	if ok, err := st.RepairDecision(ctx, "acme-sh", store.Decision{}, store.Decision{Version: 1, Decision: "block"}, msg); err != nil || !ok {
		t.Fatalf("repair: %t, %v", ok, err)
	}
	if err := check.verify(ctx); err == nil { // the checker's periodic run
		t.Fatal("the integrity check found the emptied store whole")
	}
	clk.Advance(time.Minute)
	if err := d.Round(ctx, false); !errors.Is(err, decide.ErrStoreIntegrity) {
		t.Fatalf("round over the emptied store = %v, want ErrStoreIntegrity", err)
	}
	if got := asOf(t, d, "acme-sh"); !got.Equal(day) {
		t.Errorf("as_of after the held round = %s, want still %s", got, day)
	}
	if v, err := d.Verdict("acme-sh", clk.Now()); !errors.Is(err, decide.ErrStoreIntegrity) {
		t.Errorf("Verdict = %+v, %v; want ErrStoreIntegrity", v, err)
	}
	if got := d.evaluations(t, "round", "reconfirmed"); got != 0 {
		t.Errorf("reconfirmed = %v, want 0", got)
	}

	// The operator resolves the incident; the checker finds it whole.
	check.whole(ctx)
	if err := check.verify(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if err := d.Round(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := d.evaluations(t, "round", "reconfirmed"); got != 0 {
		t.Errorf("reconfirmed after the incident = %v, want 0: every entity evaluated again", got)
	}
	s, _ := d.Status("acme-sh")
	now := figure(s, sketch.Sensitive, sketch.CurrentYear)
	if !s.UpdatedAt.Equal(clk.Now()) || now < 10_300 || now > 10_700 {
		t.Errorf("after the incident: as_of %s, sensitive %d; want now, the refilled 10,500", s.UpdatedAt, now)
	}
}

// TestRoundAfterBackupRestored: an entity-year is restored from an older
// backup (same hash, fewer deltas) and refilled with other people until
// its token is back to the one the decider evaluated: the stamps match,
// but Verify, called before re-confirming, finds the store rolled back:
// nothing is re-confirmed. Once whole again, every entity is evaluated
// again, not re-confirmed from the stamps.
func TestRoundAfterBackupRestored(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	raw := rawRedis(t, rds)
	ctx := context.Background()
	st := redisClient(t, rds)
	check := &integrityCheck{t: t, raw: st, key: "integrity-mark"}
	check.whole(ctx)
	const key = "tw:{acme-sh}:y2026"
	addSensitive(t, st, "acme-sh", 0, 5_000)
	backup, err := raw.Dump(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	addSensitive(t, st, "acme-sh", 5_000, 10_400) // block
	clk := &clock{t: day}
	d := newInstance(t, c, st, clk, decide.Options{Verify: check.verify, StoreOK: check.ok})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	first, _ := d.Status("acme-sh")
	before, err := st.Stamps(ctx, []string{"acme-sh"}, 2025, 2026)
	if err != nil {
		t.Fatal(err)
	}

	if err := raw.RestoreReplace(ctx, key, 0, backup).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Del(ctx, "tw:{integrity-mark}:y2026").Result(); err != nil { // restored too
		t.Fatal(err)
	}
	addSensitive(t, st, "acme-sh", 20_000, 30_500) // other people, as many merges as were lost
	// The write tag of each push tells this refill apart (redisstore's
	// TestStampAfterLostWrites); forge it back, so that the stamps match
	// and what must hold the round is Verify.
	tag := before[0].Years[1][strings.LastIndex(before[0].Years[1], "/")+1:]
	if err := raw.HSet(ctx, key, "w", tag).Err(); err != nil {
		t.Fatal(err)
	}
	after, err := st.Stamps(ctx, []string{"acme-sh"}, 2025, 2026)
	if err != nil || !slices.Equal(after[0].Years, before[0].Years) || after[0].Decision != before[0].Decision {
		t.Fatalf("stamps after the refill = %+v, %v; the test needs them back at %+v", after, err, before)
	}

	clk.Advance(time.Minute)
	if err := d.Round(ctx, false); !errors.Is(err, decide.ErrStoreIntegrity) {
		t.Fatalf("round over the rolled-back store = %v, want ErrStoreIntegrity", err)
	}
	if got := asOf(t, d, "acme-sh"); !got.Equal(day) {
		t.Errorf("as_of after the held round = %s, want still %s", got, day)
	}
	if got := d.evaluations(t, "round", "reconfirmed"); got != 0 {
		t.Errorf("reconfirmed = %v, want 0", got)
	}

	check.whole(ctx)
	if err := check.verify(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if err := d.Round(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := d.evaluations(t, "round", "reconfirmed"); got != 0 {
		t.Errorf("reconfirmed after the incident = %v, want 0: every entity evaluated again", got)
	}
	s, _ := d.Status("acme-sh")
	was, now := figure(first, sketch.Sensitive, sketch.CurrentYear), figure(s, sketch.Sensitive, sketch.CurrentYear)
	if !s.UpdatedAt.Equal(clk.Now()) || now < 15_200 || now > 15_800 || was > 10_700 {
		t.Errorf("after the incident: as_of %s, sensitive %d (was %d); want now, the restored 5,000 and the new 10,500", s.UpdatedAt, now, was)
	}
}

// TestRoundStoreFailsMidRound: the store fails after the first chunk of
// stamps: the entities of that chunk are re-confirmed, the others keep
// their as_of and go stale, and the round is not complete (an entity
// nobody saw goes stale with it).
func TestRoundStoreFailsMidRound(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	ctx := context.Background()
	st := &countingStore{Store: redisClient(t, rds)}
	var ids []string
	for i := range 5 {
		id := "ent-" + strconv.Itoa(i)
		ids = append(ids, id)
		addSensitive(t, st.Store.(interface {
			Merge(context.Context, sketch.Batch) error
		}), id, 0, 1_000)
	}
	clk := &clock{t: day}
	d := newInstance(t, c, st, clk, decide.WithStampChunk(decide.Options{MaxStaleness: 2 * time.Minute}, 2))
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st.failFrom = st.stamps.Load() + 2 // the second chunk of the next round fails
	clk.Advance(90 * time.Second)
	if err := d.Round(ctx, false); !errors.Is(err, errStampsDown) {
		t.Fatalf("round = %v, want the stamps' failure", err)
	}
	for i, id := range ids {
		want := day
		if i < 2 {
			want = clk.Now() // the first chunk
		}
		if got := asOf(t, d, id); !got.Equal(want) {
			t.Errorf("as_of of %s = %s, want %s", id, got, want)
		}
	}
	if got := d.evaluations(t, "round", "failed"); got != 3 {
		t.Errorf("failed = %v, want 3", got)
	}
	clk.Advance(time.Minute) // 2m30s after start
	for i, id := range ids {
		_, err := d.Verdict(id, clk.Now())
		if stale := errors.Is(err, decide.ErrStale); stale != (i >= 2) {
			t.Errorf("Verdict(%s) = %v; want stale: %t", id, err, i >= 2)
		}
	}
	if _, err := d.Verdict("nobody", clk.Now()); !errors.Is(err, decide.ErrStale) {
		t.Errorf("Verdict(nobody) = %v; want stale: no round completed since start", err)
	}
}

// TestRoundAtMidnight: nothing changes in the store, but the civil date
// rolls over in Asia/Shanghai and acme-sh's security assessment, valid up
// to 26 November, stops covering it: the first round after midnight
// evaluates it again and blocks. Before midnight the rounds re-confirm it.
func TestRoundAtMidnight(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	ctx := context.Background()
	st := &countingStore{Store: redisClient(t, rds)}
	addSensitive(t, st.Store.(interface {
		Merge(context.Context, sketch.Batch) error
	}), "acme-sh", 0, 10_400)
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 25, 23, 59, 0, 0, shanghai)}
	d := newInstance(t, c, st, clk, decide.Options{Entities: []policy.Entity{{
		ID: "acme-sh",
		Approvals: []policy.Approval{{
			Mechanism: policy.SecurityAssessment, Status: policy.Approved, Reference: "CAC-2024-001",
			ValidFrom:  time.Date(2024, 11, 26, 0, 0, 0, 0, time.UTC),
			ValidUntil: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
		}},
	}}})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s, _ := d.Status("acme-sh")
	if s.Decision == policy.Block {
		t.Fatalf("decision on the assessment's last day = block (%v), want it covered", s.Reasons)
	}
	clk.Advance(30 * time.Second) // 23:59:30
	if err := d.Round(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n := st.reads.Load(); n != 1 {
		t.Errorf("the round before midnight read figures %d times more, want none", n-1)
	}
	clk.Advance(time.Minute) // 00:00:30, 26 November
	if err := d.Round(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n := st.reads.Load(); n != 2 {
		t.Errorf("the round after midnight read figures %d times more, want once", n-1)
	}
	v, err := d.Verdict("acme-sh", clk.Now())
	if err != nil || v.Decision != policy.Block || v.Version != 2 || !v.AsOf.Equal(clk.Now()) {
		t.Fatalf("Verdict after midnight = %+v, %v; want block v2 as of now", v, err)
	}
	if l := last(t, published(t, c), "acme-sh"); l.Decision != policy.Block || l.Version != 2 {
		t.Errorf("last record on the topic %s v%d, want block v2", l.Decision, l.Version)
	}
}

// TestEvaluateAfterFlushSkipsUnchanged: an evaluation after a flush of an
// entity that a round already evaluated since (its stamp is the one
// evaluated) reads no figures and leaves the status and its as_of as they
// were; after a flush with new people it reads and evaluates.
func TestEvaluateAfterFlushSkipsUnchanged(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	ctx := context.Background()
	raw := redisClient(t, rds)
	st := &countingStore{Store: raw}
	addSensitive(t, raw, "acme-sh", 0, 1_000) // allow
	clk := &clock{t: day}
	d := newInstance(t, c, st, clk, decide.Options{})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	addSensitive(t, raw, "acme-sh", 1_000, 8_800) // warn: flushed, not yet evaluated
	clk.Advance(time.Minute)
	if err := d.Round(ctx, false); err != nil { // the round gets there first
		t.Fatal(err)
	}
	evaluated := clk.Now()
	clk.Advance(time.Minute)
	if err := d.Evaluate(ctx, []string{"acme-sh"}); err != nil {
		t.Fatal(err)
	}
	if n := st.reads.Load(); n != 2 {
		t.Errorf("figures read %d times, want twice (start, round): not again after the flush", n)
	}
	if got := asOf(t, d, "acme-sh"); !got.Equal(evaluated) {
		t.Errorf("as_of = %s, want still %s: skipping re-confirms nothing", got, evaluated)
	}
	if got := d.evaluations(t, "flush", "unchanged"); got != 1 {
		t.Errorf("flush unchanged = %v, want 1", got)
	}
	addSensitive(t, raw, "acme-sh", 8_800, 10_400) // new people: block
	if err := d.Evaluate(ctx, []string{"acme-sh"}); err != nil {
		t.Fatal(err)
	}
	if n := st.reads.Load(); n != 3 {
		t.Errorf("an evaluation after new people read figures %d times, want 3", n)
	}
	if v, err := d.Verdict("acme-sh", clk.Now()); err != nil || v.Decision != policy.Block || !v.AsOf.Equal(clk.Now()) {
		t.Errorf("Verdict after new people = %+v, %v; want block as of now", v, err)
	}
}

// TestRoundEvaluatesNewEntitiesFirst: an entity never evaluated (no
// decision at all yet) is evaluated before entities that changed, whatever
// their ids.
func TestRoundEvaluatesNewEntitiesFirst(t *testing.T) {
	c := kafkatest.New(t, 1, decisions)
	rds := redistest.Server(t)
	ctx := context.Background()
	raw := redisClient(t, rds)
	st := &countingStore{Store: raw}
	addSensitive(t, raw, "a-old", 0, 1_000)
	d := newInstance(t, c, st, nil, decide.WithRoundChunk(decide.Options{}, 1))
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	addSensitive(t, raw, "a-old", 1_000, 2_000) // changed
	addSensitive(t, raw, "z-new", 0, 1_000)     // never evaluated
	st.mu.Lock()
	st.order = nil
	st.mu.Unlock()
	if err := d.Round(ctx, false); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.order) != 2 || st.order[0] != "z-new" || st.order[1] != "a-old" {
		t.Fatalf("figures read in the order %v, want [z-new a-old]", st.order)
	}
}
