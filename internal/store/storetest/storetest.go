// Package storetest is the conformance suite every store.Store
// implementation passes: Run it from the implementation's tests.
package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store"
	"github.com/transferwatch/transferwatch/internal/testutil/poll"
)

// Run runs the conformance suite. Each subtest calls open one or more times
// with its own t. The first call for a t must return a client of a new,
// empty backing store; every further call with the same t must return a
// new, independent client of that same backing store (for an in-process
// store, the same instance). open must be safe to call from the test's
// goroutine only; it may register cleanups with t.
//
// The suite writes years near the present (this year and last year), since
// a store may let older years expire.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("MergeThenHistory", func(t *testing.T) { testMergeThenHistory(t, open) })
	t.Run("MergeIsIdempotent", func(t *testing.T) { testMergeIdempotent(t, open) })
	t.Run("UnknownEntity", func(t *testing.T) { testUnknownEntity(t, open) })
	t.Run("Entities", func(t *testing.T) { testEntities(t, open) })
	t.Run("DecisionCAS", func(t *testing.T) { testDecisionCAS(t, open) })
	t.Run("DecisionOutbox", func(t *testing.T) { testDecisionOutbox(t, open) })
	t.Run("OutboxLease", func(t *testing.T) { testOutboxLease(t, open) })
	t.Run("OutboxLeaseLapses", func(t *testing.T) { testOutboxLeaseLapses(t, open) })
	t.Run("DecisionHistory", func(t *testing.T) { testDecisionHistory(t, open) })
	t.Run("DecisionHistoryChange", func(t *testing.T) { testDecisionHistoryChange(t, open) })
	t.Run("RepairDecision", func(t *testing.T) { testRepairDecision(t, open) })
	t.Run("SeveralYears", func(t *testing.T) { testSeveralYears(t, open) })
	t.Run("ConcurrentWriters", func(t *testing.T) { testConcurrentWriters(t, open) })
	t.Run("Offsets", func(t *testing.T) { testOffsets(t, open) })
	t.Run("Flows", func(t *testing.T) { testFlows(t, open) })
	t.Run("Stamps", func(t *testing.T) { testStamps(t, open) })
}

// thisYear is the calendar year the suite treats as current.
func thisYear() int { return time.Now().UTC().Year() }

// Subjects describes a set of data subjects and how their events are
// filed: subject i (From ≤ i < To) has hash Hash(i), falls in cell Cell(i)
// on day Day(i) of year Year(i).
type Subjects struct {
	From, To int
	// Year returns the calendar year of subject i; nil means thisYear.
	Year func(i int) int
}

// Hash returns the subject hash of subject i: a fixed pseudo-random
// permutation of i.
func Hash(i int) uint64 {
	z := uint64(i) + 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Cell returns the cell of subject i: half of all subjects fall in cell 0,
// so that its sketch grows dense, the rest spread over the other cells.
func Cell(i int) sketch.Cell {
	if i%2 == 0 {
		return 0
	}
	return sketch.Cell(1 + i/2%(sketch.NumCells-1))
}

// Day returns the day of the year of subject i.
func Day(i int) int { return int(Hash(i) >> 40 % 365) }

func (s Subjects) year(i int) int {
	if s.Year == nil {
		return thisYear()
	}
	return s.Year(i)
}

// Insert files subject i of s into the batch under entity.
func (s Subjects) insert(b sketch.Batch, entity string, i int) {
	k := sketch.Key{Entity: entity, Year: s.year(i)}
	y := b[k]
	if y == nil {
		y = &sketch.Year{}
		b[k] = y
	}
	y.Insert(Cell(i), Day(i), Hash(i))
}

// Batch returns a batch holding every subject of s under entity.
func (s Subjects) Batch(entity string) sketch.Batch {
	b := make(sketch.Batch)
	for i := s.From; i < s.To; i++ {
		s.insert(b, entity, i)
	}
	return b
}

// History returns what a store holding exactly s under entity returns.
func (s Subjects) History(entity string) sketch.History {
	h := make(sketch.History)
	for k, y := range s.Batch(entity) {
		h[k.Year] = y
	}
	return h
}

// AssertSameHistory fails the test unless got and want hold the same years
// with the same sketches, curves and important flags: every counter's
// figure in every window, every day series, every cell's estimate and
// every curve's encoding must be exactly equal.
func AssertSameHistory(t testing.TB, got, want sketch.History) {
	t.Helper()
	if g, w := yearsOf(got), yearsOf(want); !slices.Equal(g, w) {
		t.Fatalf("history holds years %v, want %v", g, w)
	}
	var problems []string
	for yr, wy := range want {
		gy := got[yr]
		if gy.Important != wy.Important {
			problems = append(problems, fmt.Sprintf("%d: important = %v, want %v", yr, gy.Important, wy.Important))
		}
		for c := range sketch.Cell(sketch.NumCells) {
			if (gy.Sketch(c) == nil) != (wy.Sketch(c) == nil) {
				problems = append(problems, fmt.Sprintf("%d %s: sketch present = %t, want %t", yr, c, gy.Sketch(c) != nil, wy.Sketch(c) != nil))
			} else if wy.Sketch(c) != nil {
				if g, w := gy.Sketch(c).Clone().Estimate(), wy.Sketch(c).Clone().Estimate(); g != w {
					problems = append(problems, fmt.Sprintf("%d %s: estimate = %d, want %d", yr, c, g, w))
				}
			}
			if g, w := curveBytes(t, gy.Curves[c]), curveBytes(t, wy.Curves[c]); !bytes.Equal(g, w) {
				problems = append(problems, fmt.Sprintf("%d %s: curves differ (%d bytes, want %d)", yr, c, len(g), len(w)))
			}
		}
	}
	for _, yr := range yearsOf(want) {
		for _, k := range sketch.Counters {
			for _, w := range sketch.Windows {
				for _, exempt := range []bool{false, true} {
					g := got.Figure(k, w, yr, exempt)
					wf := want.Figure(k, w, yr, exempt)
					if g != wf {
						problems = append(problems, fmt.Sprintf("%d %s %s exempt=%t: figure %+v, want %+v", yr, k, w, exempt, g, wf))
					}
					if g, wi := got.Important(w, yr, exempt), want.Important(w, yr, exempt); g != wi {
						problems = append(problems, fmt.Sprintf("%d %s exempt=%t: important %t, want %t", yr, w, exempt, g, wi))
					}
					gs := got.Series(k, w, yr, sketch.MaxDay, exempt)
					ws := want.Series(k, w, yr, sketch.MaxDay, exempt)
					if !slices.Equal(gs, ws) {
						problems = append(problems, fmt.Sprintf("%d %s %s exempt=%t: day series differ", yr, k, w, exempt))
					}
				}
			}
		}
	}
	if len(problems) > 0 {
		t.Fatalf("history differs:\n%s", strings.Join(problems, "\n"))
	}
}

func yearsOf(h sketch.History) []int {
	var ys []int
	for y := range h {
		ys = append(ys, y)
	}
	slices.Sort(ys)
	return ys
}

func curveBytes(t testing.TB, c *sketch.Curve) []byte {
	t.Helper()
	if c == nil {
		return nil
	}
	b, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// encodeBatch serializes every entity-year of b, to tell whether Merge
// changed it.
func encodeBatch(t testing.TB, b sketch.Batch) map[sketch.Key]map[string][]byte {
	t.Helper()
	out := make(map[sketch.Key]map[string][]byte, len(b))
	for k, y := range b {
		enc, err := y.Encode()
		if err != nil {
			t.Fatal(err)
		}
		out[k] = enc
	}
	return out
}

func history(t testing.TB, s store.Store, entity string, years ...int) sketch.History {
	t.Helper()
	h, err := s.History(t.Context(), entity, years...)
	if err != nil {
		t.Fatalf("History(%q, %v): %v", entity, years, err)
	}
	return h
}

func merge(t testing.TB, s store.Store, b sketch.Batch) {
	t.Helper()
	if err := s.Merge(t.Context(), b); err != nil {
		t.Fatalf("Merge: %v", err)
	}
}

func testMergeThenHistory(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	y := thisYear()
	big := Subjects{From: 0, To: 40_000} // cell 0 goes dense
	small := Subjects{From: 100_000, To: 100_050}

	b := big.Batch("acme-sh")
	must(t, b.Merge(small.Batch("globex.bj")))
	b[sketch.Key{Entity: "acme-sh", Year: y}].MarkImportant(true)
	merge(t, s, b)

	want := big.History("acme-sh")
	want[y].MarkImportant(true)
	AssertSameHistory(t, history(t, s, "acme-sh", y), want)
	AssertSameHistory(t, history(t, s, "globex.bj", y), small.History("globex.bj"))

	// Another client of the same store sees the same.
	AssertSameHistory(t, history(t, open(t), "acme-sh", y), want)
}

func testMergeIdempotent(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	y := thisYear()
	b1 := Subjects{From: 0, To: 3000}.Batch("acme-sh")
	b2 := Subjects{From: 1500, To: 4500}.Batch("acme-sh")
	b2[sketch.Key{Entity: "acme-sh", Year: y}].MarkImportant(false)
	before := encodeBatch(t, b1)

	merge(t, s, b1)
	once := history(t, s, "acme-sh", y)
	merge(t, s, b1)
	AssertSameHistory(t, history(t, s, "acme-sh", y), once)
	AssertSameHistory(t, once, Subjects{From: 0, To: 3000}.History("acme-sh"))

	if after := encodeBatch(t, b1); !equalEncodings(before, after) {
		t.Fatal("Merge changed the batch it was given; a caller retrying it would merge something else")
	}

	merge(t, s, b2)
	merge(t, s, b2)
	merge(t, s, b1)
	want := Subjects{From: 0, To: 4500}.History("acme-sh")
	want[y].MarkImportant(false)
	AssertSameHistory(t, history(t, s, "acme-sh", y), want)
}

func equalEncodings(a, b map[sketch.Key]map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, fa := range a {
		fb, ok := b[k]
		if !ok || len(fa) != len(fb) {
			return false
		}
		for name, v := range fa {
			if !bytes.Equal(v, fb[name]) {
				return false
			}
		}
	}
	return true
}

func testUnknownEntity(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	y := thisYear()
	ids, err := s.Entities(t.Context())
	if err != nil || len(ids) != 0 {
		t.Fatalf("Entities of an empty store = %v, %v; want none", ids, err)
	}
	if h := history(t, s, "nobody", y-1, y); len(h) != 0 {
		t.Fatalf("History of an unknown entity holds years %v", yearsOf(h))
	}
	merge(t, s, Subjects{From: 0, To: 10}.Batch("somebody"))
	if h := history(t, s, "nobody", y-1, y); len(h) != 0 {
		t.Fatalf("History of an unknown entity holds years %v", yearsOf(h))
	}
	if h := history(t, s, "somebody"); len(h) != 0 {
		t.Fatalf("History for no years holds years %v", yearsOf(h))
	}
	d, err := s.Decision(t.Context(), "nobody")
	if err != nil || d != (store.Decision{}) {
		t.Fatalf("Decision of an unknown entity = %+v, %v; want zero", d, err)
	}
	if m, err := s.LatestMessage(t.Context(), "nobody"); err != nil || m.Version != 0 || m.Value != nil {
		t.Fatalf("LatestMessage of an unknown entity = %+v, %v; want zero", m, err)
	}
	for name, read := range map[string]func() ([]store.Message, error){
		"Outbox":          func() ([]store.Message, error) { return s.Outbox(t.Context(), "nobody", 10) },
		"DecisionHistory": func() ([]store.Message, error) { return s.DecisionHistory(t.Context(), "nobody", 10) },
	} {
		if ms, err := read(); err != nil || len(ms) != 0 {
			t.Fatalf("%s of an unknown entity = %v, %v; want none", name, ms, err)
		}
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testEntities(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	y := thisYear()
	ids := []string{
		"acme-sh", "Zeta", "a.b_c:d-e", "0", "globex.bj",
		strings.Repeat("x", 128), "acme-sh-2", "ACME",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	shuffled := slices.Clone(ids)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for i, id := range shuffled {
		sub := Subjects{From: i * 10, To: i*10 + 10}
		if i%2 == 1 {
			sub.Year = func(int) int { return y - 1 }
		}
		merge(t, s, sub.Batch(id))
		merge(t, s, sub.Batch(id)) // listed once however often merged
	}
	b := make(sketch.Batch) // several entities in one batch
	for _, id := range ids[:4] {
		must(t, b.Merge(Subjects{From: 1000, To: 1010}.Batch(id)))
	}
	merge(t, s, b)

	got, err := open(t).Entities(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Entities = %q\nwant %q", got, want)
	}
	for _, id := range append(slices.Clone(ids), "never-merged") {
		seen, err := open(t).Seen(t.Context(), id)
		if err != nil || seen != (id != "never-merged") {
			t.Errorf("Seen(%s) = %t, %v", id, seen, err)
		}
	}
}

// msg returns the message a test records with decision version v.
func msg(entity string, v int64, decision string) []byte {
	return fmt.Appendf(nil, `{"entity":%q,"decision":%q,"version":%d}`, entity, decision, v)
}

// sameRecord reports whether two decision records are equal (times compared
// to the millisecond, as a store keeps them).
func sameRecord(a, b store.Decision) bool {
	return a.Version == b.Version && a.Decision == b.Decision && a.Pending == b.Pending &&
		a.DecidedAt.UnixMilli() == b.DecidedAt.UnixMilli() && a.DecidedAt.IsZero() == b.DecidedAt.IsZero()
}

// decisionOps are helpers failing the test on a store error.
type decisionOps struct {
	t *testing.T
	s store.Store
}

func (o decisionOps) swap(entity string, prev, next store.Decision, want bool) {
	o.t.Helper()
	ok, err := o.s.SwapDecision(o.t.Context(), entity, prev, next, msg(entity, next.Version, next.Decision))
	if err != nil || ok != want {
		o.t.Fatalf("SwapDecision(%+v → %+v) = %t, %v; want %t", prev, next, ok, err, want)
	}
}

func (o decisionOps) get(entity string, want store.Decision) {
	o.t.Helper()
	d, err := o.s.Decision(o.t.Context(), entity)
	if err != nil || !sameRecord(d, want) {
		o.t.Fatalf("Decision(%q) = %+v, %v; want %+v", entity, d, err, want)
	}
}

// versions returns the versions of ms, and fails unless each message is
// the one msg makes for its version.
func (o decisionOps) versions(entity string, ms []store.Message) []int64 {
	o.t.Helper()
	var vs []int64
	for _, m := range ms {
		var got struct {
			Version int64 `json:"version"`
		}
		if err := json.Unmarshal(m.Value, &got); err != nil || got.Version != m.Version {
			o.t.Fatalf("message %q of version %d does not match: %v", m.Value, m.Version, err)
		}
		vs = append(vs, m.Version)
	}
	return vs
}

func (o decisionOps) outbox(entity string, n int, want ...int64) []store.Message {
	o.t.Helper()
	ms, err := o.s.Outbox(o.t.Context(), entity, n)
	if err != nil {
		o.t.Fatalf("Outbox(%q, %d): %v", entity, n, err)
	}
	if got := o.versions(entity, ms); !slices.Equal(got, want) {
		o.t.Fatalf("Outbox(%q, %d) holds versions %v, want %v", entity, n, got, want)
	}
	return ms
}

func (o decisionOps) history(entity string, n int, want ...int64) {
	o.t.Helper()
	ms, err := o.s.DecisionHistory(o.t.Context(), entity, n)
	if err != nil {
		o.t.Fatalf("DecisionHistory(%q, %d): %v", entity, n, err)
	}
	if got := o.versions(entity, ms); !slices.Equal(got, want) {
		o.t.Fatalf("DecisionHistory(%q, %d) = versions %v, want %v", entity, n, got, want)
	}
}

func (o decisionOps) lock(entity, owner string, ttl time.Duration, want bool) {
	o.t.Helper()
	ok, err := o.s.LockOutbox(o.t.Context(), entity, owner, ttl)
	if err != nil || ok != want {
		o.t.Fatalf("LockOutbox(%q, %q) = %t, %v; want %t", entity, owner, ok, err, want)
	}
}

func (o decisionOps) ack(entity, owner string, ms []store.Message, want bool) {
	o.t.Helper()
	ok, err := o.s.AckOutbox(o.t.Context(), entity, owner, ms)
	if err != nil || ok != want {
		o.t.Fatalf("AckOutbox(%q, %q, %d messages) = %t, %v; want %t", entity, owner, len(ms), ok, err, want)
	}
}

func (o decisionOps) unlock(entity, owner string) {
	o.t.Helper()
	if err := o.s.UnlockOutbox(o.t.Context(), entity, owner); err != nil {
		o.t.Fatalf("UnlockOutbox(%q, %q): %v", entity, owner, err)
	}
}

func testDecisionCAS(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	o := decisionOps{t, s}
	at := time.Date(2026, 11, 25, 10, 0, 1, 250e6, time.UTC)
	o.get("acme-sh", store.Decision{})
	v1 := store.Decision{Version: 1, Decision: "warn", DecidedAt: at}
	v2 := store.Decision{Version: 2, Decision: "block", DecidedAt: at.Add(time.Hour)}
	o.swap("acme-sh", store.Decision{}, v1, true)
	o.get("acme-sh", store.Decision{Version: 1, Decision: "warn", DecidedAt: at, Pending: 1})
	o.swap("acme-sh", store.Decision{}, store.Decision{Version: 1, Decision: "block"}, false) // stale
	o.get("acme-sh", store.Decision{Version: 1, Decision: "warn", DecidedAt: at, Pending: 1})
	o.swap("acme-sh", v1, v2, true)
	o.swap("acme-sh", v1, store.Decision{Version: 2, Decision: "allow"}, false) // stale
	o.get("acme-sh", store.Decision{Version: 2, Decision: "block", DecidedAt: v2.DecidedAt, Pending: 2})
	o.get("globex.bj", store.Decision{}) // decisions are per entity
	if d, err := open(t).Decision(ctx, "acme-sh"); err != nil || d.Version != 2 || d.Decision != "block" {
		t.Fatalf("another client reads %+v, %v; want %+v", d, err, v2)
	}
	// Versions may jump (past those the decisions topic carries after the
	// store lost them), never stay or go back.
	for _, next := range []int64{2, 1, 0} {
		_, err := s.SwapDecision(ctx, "acme-sh", v2, store.Decision{Version: next, Decision: "allow"}, msg("acme-sh", next, "allow"))
		if !errors.Is(err, store.ErrVersionOrder) {
			t.Fatalf("SwapDecision from version 2 to %d = %v, want ErrVersionOrder", next, err)
		}
	}
	v7 := store.Decision{Version: 7, Decision: "allow"}
	o.swap("acme-sh", v2, v7, true)
	o.get("acme-sh", store.Decision{Version: 7, Decision: "allow", Pending: 3}) // no time: none recorded
	o.outbox("acme-sh", 10, 1, 2, 7)
	if m, err := s.LatestMessage(ctx, "acme-sh"); err != nil || m.Version != 7 || string(m.Value) != string(msg("acme-sh", 7, "allow")) {
		t.Fatalf("LatestMessage = %+v, %v; want version 7", m, err)
	}

	// Many instances see the same change: exactly one swap succeeds, and
	// exactly one message is queued.
	const n = 8
	clients := make([]store.Store, n)
	for i := range clients {
		clients[i] = open(t)
	}
	var wg sync.WaitGroup
	won := make([]bool, n)
	errs := make([]error, n)
	for i, c := range clients {
		wg.Go(func() {
			d := fmt.Sprint("allow-", i)
			won[i], errs[i] = c.SwapDecision(ctx, "acme-sh", v7, store.Decision{Version: 8, Decision: d}, msg("acme-sh", 8, d))
		})
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("client %d: %v", i, errs[i])
		}
		if won[i] {
			winners++
			o.get("acme-sh", store.Decision{Version: 8, Decision: fmt.Sprint("allow-", i), Pending: 4})
			ms := o.outbox("acme-sh", 10, 1, 2, 7, 8)
			if want := msg("acme-sh", 8, fmt.Sprint("allow-", i)); string(ms[3].Value) != string(want) {
				t.Fatalf("queued %s, want the winner's %s", ms[3].Value, want)
			}
		}
	}
	if winners != 1 {
		t.Fatalf("%d concurrent swaps from the same version succeeded, want exactly 1", winners)
	}
}

// testDecisionOutbox publishes an outbox the way the decider does: lease,
// read, acknowledge what was published, release.
func testDecisionOutbox(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	o := decisionOps{t, s}
	prev := store.Decision{}
	for v, d := range []string{"allow", "warn", "block", "warn"} {
		next := store.Decision{Version: int64(v + 1), Decision: d}
		o.swap("acme-sh", prev, next, true)
		prev = next
	}
	o.swap("globex.bj", store.Decision{}, store.Decision{Version: 1, Decision: "allow"}, true)

	o.lock("acme-sh", "a-1", time.Minute, true)
	first := o.outbox("acme-sh", 2, 1, 2)
	o.ack("acme-sh", "a-1", first[1:], false) // not the head
	o.ack("acme-sh", "b-1", first, false)     // not the owner
	o.outbox("acme-sh", 10, 1, 2, 3, 4)
	o.ack("acme-sh", "a-1", first, true)
	o.outbox("acme-sh", 10, 3, 4)
	o.ack("acme-sh", "a-1", first, false) // already gone: the head is 3 now
	o.get("acme-sh", store.Decision{Version: 4, Decision: "warn", Pending: 2})

	// A change recorded while the lease is held lands behind the rest.
	o.swap("acme-sh", prev, store.Decision{Version: 5, Decision: "block"}, true)
	rest := o.outbox("acme-sh", 10, 3, 4, 5)
	o.ack("acme-sh", "a-1", rest[:2], true)
	o.outbox("acme-sh", 10, 5)
	o.unlock("acme-sh", "a-1")
	o.ack("acme-sh", "a-1", rest[2:], false) // released: no longer the owner
	o.lock("acme-sh", "b-2", time.Minute, true)
	o.ack("acme-sh", "b-2", rest[2:], true)
	o.outbox("acme-sh", 10)
	o.get("acme-sh", store.Decision{Version: 5, Decision: "block"})
	o.unlock("acme-sh", "b-2")

	// Outboxes are per entity.
	o.outbox("globex.bj", 10, 1)
	o.get("globex.bj", store.Decision{Version: 1, Decision: "allow", Pending: 1})
	o.ack("globex.bj", "b-2", []store.Message{{Version: 1}}, false) // b-2 holds no lease of globex.bj
}

func testOutboxLease(t *testing.T, open func(*testing.T) store.Store) {
	a, b := decisionOps{t, open(t)}, decisionOps{t, open(t)}
	a.lock("acme-sh", "a-1", time.Minute, true)
	b.lock("acme-sh", "b-1", time.Minute, false)
	a.lock("acme-sh", "a-2", time.Minute, false) // a lease is taken once, even by the same client
	b.lock("globex.bj", "b-1", time.Minute, true)
	b.unlock("acme-sh", "b-1") // not b's: stays a's
	b.lock("acme-sh", "b-2", time.Minute, false)
	a.unlock("acme-sh", "a-1")
	b.lock("acme-sh", "b-2", time.Minute, true)
	a.unlock("acme-sh", "a-1") // released twice: harmless, and b keeps it
	a.lock("acme-sh", "a-3", time.Minute, false)

	// Many instances race for one lease: one gets it.
	const n = 8
	var wg sync.WaitGroup
	got := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		c := open(t)
		wg.Go(func() { got[i], errs[i] = c.LockOutbox(t.Context(), "initech", fmt.Sprint("owner-", i), time.Minute) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if winners := len(slices.DeleteFunc(got, func(b bool) bool { return !b })); winners != 1 {
		t.Fatalf("%d of %d concurrent LockOutbox calls took the lease, want 1", winners, n)
	}
}

// testOutboxLeaseLapses: the lease of an instance that died lapses by
// itself, and then its acknowledgement no longer counts.
func testOutboxLeaseLapses(t *testing.T, open func(*testing.T) store.Store) {
	a, b := decisionOps{t, open(t)}, decisionOps{t, open(t)}
	a.swap("acme-sh", store.Decision{}, store.Decision{Version: 1, Decision: "block"}, true)
	a.lock("acme-sh", "a-1", 300*time.Millisecond, true)
	ms := a.outbox("acme-sh", 10, 1)
	b.lock("acme-sh", "b-1", time.Minute, false)
	poll.Until(t, 10*time.Second, "the lease to lapse", func() bool {
		ok, err := b.s.LockOutbox(t.Context(), "acme-sh", "b-1", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
	a.ack("acme-sh", "a-1", ms, false)
	b.ack("acme-sh", "b-1", ms, true)
	b.outbox("acme-sh", 10)
}

func testDecisionHistory(t *testing.T, open func(*testing.T) store.Store) {
	o := decisionOps{t, open(t)}
	const changes = store.DecisionHistoryLen + 5
	prev := store.Decision{}
	for v := int64(1); v <= changes; v++ {
		next := store.Decision{Version: v, Decision: []string{"allow", "block"}[v%2]}
		o.swap("acme-sh", prev, next, true)
		prev = next
	}
	all, err := o.s.DecisionHistory(t.Context(), "acme-sh", 2*changes)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != store.DecisionHistoryLen || all[0].Version != changes || all[len(all)-1].Version != changes-store.DecisionHistoryLen+1 {
		t.Fatalf("history of %d changes holds %d, versions %d…%d; want the last %d, newest first",
			changes, len(all), all[0].Version, all[len(all)-1].Version, store.DecisionHistoryLen)
	}
	// Every entry in order, newest first, each the message of its version.
	for i, v := range o.versions("acme-sh", all) {
		if want := int64(changes - i); v != want {
			t.Fatalf("history entry %d holds version %d, want %d", i, v, want)
		}
	}
	o.history("acme-sh", 3, changes, changes-1, changes-2)
	o.history("acme-sh", 0)
	// The outbox is not capped: every change is published.
	if ms, err := o.s.Outbox(t.Context(), "acme-sh", 2*changes); err != nil || len(ms) != changes {
		t.Fatalf("outbox holds %d messages, %v; want %d", len(ms), err, changes)
	}
}

// testDecisionHistoryChange records changes with their figures: the
// history keeps the change record, the outbox and the latest message the
// decisions-topic message; a record without one keeps the message.
func testDecisionHistoryChange(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	change := func(v int64) string {
		return fmt.Sprintf(`{"entity":"acme-sh","decision":"warn","version":%d,"rules":[{"id":"personal-100k","estimate":%d}]}`, v, 80000+v)
	}
	v1 := store.Decision{Version: 1, Decision: "warn", Change: change(1)}
	if ok, err := s.SwapDecision(ctx, "acme-sh", store.Decision{}, v1, msg("acme-sh", 1, "warn")); !ok || err != nil {
		t.Fatalf("SwapDecision: %t, %v", ok, err)
	}
	v2 := store.Decision{Version: 2, Decision: "block"}
	if ok, err := s.SwapDecision(ctx, "acme-sh", store.Decision{Version: 1, Decision: "warn"}, v2, msg("acme-sh", 2, "block")); !ok || err != nil {
		t.Fatalf("SwapDecision: %t, %v", ok, err)
	}
	v3 := store.Decision{Version: 3, Decision: "warn", Change: change(3)}
	if ok, err := s.RepairDecision(ctx, "acme-sh", store.Decision{Version: 2, Decision: "block"}, v3, msg("acme-sh", 3, "warn")); !ok || err != nil {
		t.Fatalf("RepairDecision: %t, %v", ok, err)
	}
	h, err := s.DecisionHistory(ctx, "acme-sh", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{change(3), string(msg("acme-sh", 2, "block")), change(1)}
	if len(h) != len(want) {
		t.Fatalf("history holds %d entries, want %d", len(h), len(want))
	}
	for i := range want {
		if string(h[i].Value) != string(want[i]) || h[i].Version != int64(3-i) {
			t.Errorf("history entry %d = version %d %s, want version %d %s", i, h[i].Version, h[i].Value, 3-i, want[i])
		}
	}
	out, err := s.Outbox(ctx, "acme-sh", 10)
	if err != nil || len(out) != 2 || string(out[0].Value) != string(msg("acme-sh", 1, "warn")) {
		t.Errorf("outbox = %v, %v; want the two messages, not the change records", out, err)
	}
	if l, err := s.LatestMessage(ctx, "acme-sh"); err != nil || string(l.Value) != string(msg("acme-sh", 3, "warn")) {
		t.Errorf("latest message = %s, %v", l.Value, err)
	}
	if d, err := s.Decision(ctx, "acme-sh"); err != nil || d.Change != "" || d.Version != 3 {
		t.Errorf("Decision = %+v, %v", d, err)
	}
}

// testRepairDecision restores a record the decisions topic carries: nothing
// is queued, the history shows it once.
func testRepairDecision(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	o := decisionOps{t, s}
	ctx := t.Context()
	at := time.Date(2026, 11, 25, 10, 0, 1, 0, time.UTC)
	v5 := store.Decision{Version: 5, Decision: "block", DecidedAt: at}
	repair := func(prev, next store.Decision, want bool) {
		t.Helper()
		ok, err := s.RepairDecision(ctx, "acme-sh", prev, next, msg("acme-sh", next.Version, next.Decision))
		if err != nil || ok != want {
			t.Fatalf("RepairDecision(%+v → %+v) = %t, %v; want %t", prev, next, ok, err, want)
		}
	}
	repair(store.Decision{}, v5, true)
	o.get("acme-sh", v5)
	o.outbox("acme-sh", 10)
	o.history("acme-sh", 10, 5)
	if m, err := s.LatestMessage(ctx, "acme-sh"); err != nil || m.Version != 5 {
		t.Fatalf("LatestMessage after a repair = %+v, %v", m, err)
	}
	repair(store.Decision{}, store.Decision{Version: 6, Decision: "allow"}, false) // stale
	if _, err := s.RepairDecision(ctx, "acme-sh", v5, v5, msg("acme-sh", 5, "block")); !errors.Is(err, store.ErrVersionOrder) {
		t.Fatalf("RepairDecision to the same version = %v, want ErrVersionOrder", err)
	}
	// A change after the repair is queued and follows it in the history.
	o.swap("acme-sh", v5, store.Decision{Version: 6, Decision: "allow"}, true)
	o.outbox("acme-sh", 10, 6)
	o.history("acme-sh", 10, 6, 5)
	// A repair over a queued change leaves the change queued.
	o.swap("globex.bj", store.Decision{}, store.Decision{Version: 9, Decision: "warn"}, true)
	ok, err := s.RepairDecision(ctx, "globex.bj", store.Decision{Version: 9}, store.Decision{Version: 10, Decision: "warn"}, msg("globex.bj", 10, "warn"))
	if err != nil || !ok {
		t.Fatalf("RepairDecision of globex.bj = %t, %v", ok, err)
	}
	o.history("globex.bj", 10, 10, 9)
	o.outbox("globex.bj", 10, 9)
}

func testSeveralYears(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	y := thisYear()
	// Subjects 0..6000: one in three last year; 4000..9000 this year, so
	// some people appear in both years.
	last := Subjects{From: 0, To: 6000, Year: func(i int) int {
		if i%3 == 0 {
			return y - 1
		}
		return y
	}}
	this := Subjects{From: 4000, To: 9000}
	b := last.Batch("acme-sh")
	must(t, b.Merge(this.Batch("acme-sh")))
	b[sketch.Key{Entity: "acme-sh", Year: y - 1}].MarkImportant(false)
	merge(t, s, b)

	want := last.History("acme-sh")
	if err := want[y].Merge(this.History("acme-sh")[y]); err != nil {
		t.Fatal(err)
	}
	want[y-1].MarkImportant(false)
	got := history(t, s, "acme-sh", y-1, y, y+1)
	AssertSameHistory(t, got, want)

	// Asking for one year returns that year only.
	only := history(t, s, "acme-sh", y)
	AssertSameHistory(t, only, sketch.History{y: want[y]})
	if only.Important(sketch.CurrentYear, y, true) {
		t.Fatal("last year's important data shows in this year's window")
	}
	if !got.Important(sketch.SincePrevJan1, y, false) {
		t.Fatal("last year's important data is missing from the two-year window")
	}
	if cur, both := got.Figure(sketch.Processed, sketch.CurrentYear, y, true), got.Figure(sketch.Processed, sketch.SincePrevJan1, y, true); both.Estimate <= cur.Estimate {
		t.Fatalf("two-year figure %d is not above this year's %d", both.Estimate, cur.Estimate)
	}
}

// testConcurrentWriters has 8 writers, each with its own client, flush
// overlapping subject sets of one entity in many small batches; the store
// must end up exactly where a single writer of all subjects ends up.
func testConcurrentWriters(t *testing.T, open func(*testing.T) store.Store) {
	const (
		writers   = 8
		span      = 12_000 // subjects per writer
		stride    = 4_000  // offset between writers: each subject has up to 3 writers
		batchSize = 250
		entity    = "concurrent-co"
	)
	y := thisYear()
	// Last year gets only odd subjects, so all 20,000 even ones land in
	// cell 0 of this year, whose sketch turns dense on the way.
	all := Subjects{From: 0, To: (writers-1)*stride + span, Year: func(i int) int {
		if i%10 == 5 {
			return y - 1
		}
		return y
	}}
	clients := make([]store.Store, writers)
	for w := range clients {
		clients[w] = open(t)
	}
	ctx := t.Context()
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w, s := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			order := rng.Perm(span)
			for start := 0; start < span; start += batchSize {
				b := make(sketch.Batch)
				for _, j := range order[start:min(start+batchSize, span)] {
					all.insert(b, entity, w*stride+j)
				}
				if w == 3 && start == 0 {
					b[sketch.Key{Entity: entity, Year: y}].MarkImportant(false)
				}
				if w == 5 && start == 5*batchSize {
					k := sketch.Key{Entity: entity, Year: y - 1}
					if b[k] == nil {
						b[k] = &sketch.Year{}
					}
					b[k].MarkImportant(true)
				}
				if err := s.Merge(ctx, b); err != nil {
					errs[w] = fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	want := all.History(entity)
	want[y].MarkImportant(false)
	want[y-1].MarkImportant(true)
	AssertSameHistory(t, history(t, open(t), entity, y-1, y), want)
}

// flowBatch returns the batch of events [from, to) of entity over a few
// flows: event i carries subjects 2i and 2i+1.
func flowBatch(entity string, from, to int) sketch.Batch {
	b := make(sketch.Batch)
	y := thisYear()
	keys := []sketch.FlowKey{
		{Recipient: "acme-inc-us", Destination: "US", Category: sketch.CategoryPersonal},
		{Recipient: "acme-inc-us", Destination: "US", Category: sketch.CategorySensitive},
		{Recipient: "newco-sg", Destination: "SG", Category: sketch.CategoryPersonal},
		{Recipient: "newco-sg", Destination: "SG", Category: sketch.CategoryPersonal, Exempt: true},
	}
	for i := from; i < to; i++ {
		b.AddFlow(entity, y, keys[i%len(keys)], sketch.EventHash("events", i%3, int64(i)),
			time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Unix()+int64(i), "pipe-"+fmt.Sprint(i%10),
			[]uint64{Hash(2 * i), Hash(2*i + 1)})
	}
	return b
}

// testFlows merges the flows of overlapping event ranges from two clients
// at once, then some of them again (a replay): the store holds exactly
// what one merge of every event gives.
func testFlows(t *testing.T, open func(*testing.T) store.Store) {
	const entity, events, batch = "flows-co", 6000, 500
	y := thisYear()
	clients := []store.Store{open(t), open(t)}
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for w, s := range clients {
		wg.Go(func() {
			// Writer 0 has events [0, 4000), writer 1 [2000, 6000).
			for from := w * 2000; from < w*2000+4000; from += batch {
				if err := s.Merge(t.Context(), flowBatch(entity, from, from+batch)); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	merge(t, clients[0], flowBatch(entity, 1000, 3000))

	want, err := flowBatch(entity, 0, events)[sketch.Key{Entity: entity, Year: y}].Encode()
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range clients {
		got, err := history(t, s, entity, y)[y].Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !equalEncodings(map[sketch.Key]map[string][]byte{{}: got}, map[sketch.Key]map[string][]byte{{}: want}) {
			t.Fatalf("client %d: the flows stored differ from one merge of every event (%d fields, want %d)", i, len(got), len(want))
		}
	}
}

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// stamps reads the stamps of entities for years y-1, y.
func stamps(t *testing.T, s store.Store, entities ...string) []store.Stamp {
	t.Helper()
	y := thisYear()
	got, err := s.Stamps(t.Context(), entities, y-1, y)
	if err != nil {
		t.Fatalf("Stamps: %v", err)
	}
	if len(got) != len(entities) {
		t.Fatalf("Stamps of %d entities returned %d", len(entities), len(got))
	}
	for i, st := range got {
		if len(st.Years) != 2 {
			t.Fatalf("stamp of %s has %d years, want 2", entities[i], len(st.Years))
		}
	}
	return got
}

// testStamps: a stamp is zero for an entity the store never saw, a merge
// that adds something changes the token of its entity-year (and of no
// other), a decision swap raises the record's version, a pending outbox
// shows, and VersionedHistory returns the tokens Stamps reports. A decider keeps
// the stamp of what it evaluated and re-evaluates an entity whose stamp
// moved, so a stamp that failed to move would hide new figures.
func testStamps(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	y := thisYear()
	zero := store.Stamp{Years: []string{"", ""}}
	for _, st := range stamps(t, s, "nobody", "acme-sh") {
		if !sameStamp(st, zero) {
			t.Fatalf("stamp of an unknown entity = %+v, want zero", st)
		}
	}
	if got, err := s.Stamps(t.Context(), nil, y); err != nil || len(got) != 0 {
		t.Fatalf("Stamps of no entity = %v, %v", got, err)
	}

	merge(t, s, Subjects{From: 0, To: 100}.Batch("acme-sh"))
	s1 := stamps(t, s, "acme-sh", "nobody")
	if s1[0].Years[0] != "" || s1[0].Years[1] == "" || s1[0].Decision != 0 || s1[0].Pending != 0 {
		t.Fatalf("stamp after a merge into this year = %+v, want this year's token only", s1[0])
	}
	if !sameStamp(s1[1], zero) {
		t.Fatalf("a merge into acme-sh moved the stamp of nobody: %+v", s1[1])
	}
	h, vs, err := s.VersionedHistory(t.Context(), "acme-sh", y-1, y)
	if err != nil || !slices.Equal(vs, s1[0].Years) {
		t.Fatalf("VersionedHistory tokens = %q, %v; want %q, as Stamps", vs, err, s1[0].Years)
	}
	AssertSameHistory(t, h, Subjects{From: 0, To: 100}.History("acme-sh"))

	// New people: the token changes; another client sees the same stamp.
	merge(t, s, Subjects{From: 100, To: 200}.Batch("acme-sh"))
	s2 := stamps(t, open(t), "acme-sh")[0]
	if s2.Years[1] == s1[0].Years[1] || s2.Years[0] != "" {
		t.Fatalf("stamp after new people = %+v, after the first merge %+v: this year's token did not change", s2, s1[0])
	}
	// Many more merges: every one changes the token, none comes back.
	seen := map[string]bool{s1[0].Years[1]: true, s2.Years[1]: true}
	for i := range 2 * 8 {
		merge(t, s, Subjects{From: 1000 + i*10, To: 1010 + i*10}.Batch("acme-sh"))
		tok := stamps(t, s, "acme-sh")[0].Years[1]
		if seen[tok] {
			t.Fatalf("merge %d left or brought back the token %q", i, tok)
		}
		seen[tok] = true
	}
	s2 = stamps(t, s, "acme-sh")[0]
	// Last year: only its own token changes.
	merge(t, s, Subjects{From: 0, To: 10, Year: func(int) int { return y - 1 }}.Batch("acme-sh"))
	s3 := stamps(t, s, "acme-sh")[0]
	if s3.Years[0] == "" || s3.Years[1] != s2.Years[1] {
		t.Fatalf("stamp after a merge into last year = %+v, before %+v", s3, s2)
	}

	// A decision: the record's version, and the pending message.
	o := decisionOps{t, s}
	o.swap("acme-sh", store.Decision{}, store.Decision{Version: 1, Decision: "allow"}, true)
	s4 := stamps(t, s, "acme-sh")[0]
	if s4.Decision != 1 || s4.Pending != 1 || !slices.Equal(s4.Years, s3.Years) {
		t.Fatalf("stamp after a swap = %+v, want decision 1, one pending, years %v", s4, s3.Years)
	}
	o.lock("acme-sh", "a-1", time.Minute, true)
	o.ack("acme-sh", "a-1", o.outbox("acme-sh", 10, 1), true)
	o.swap("acme-sh", store.Decision{Version: 1}, store.Decision{Version: 2, Decision: "warn"}, true)
	o.ack("acme-sh", "a-1", o.outbox("acme-sh", 10, 2), true)
	if s5 := stamps(t, s, "acme-sh")[0]; s5.Decision != 2 || s5.Pending != 0 {
		t.Fatalf("stamp after a second swap, published = %+v, want decision 2, nothing pending", s5)
	}

	// Many entities, more than one round trip holds: each its own, in order.
	b := make(sketch.Batch)
	ids := make([]string, 600)
	for i := range ids {
		ids[i] = fmt.Sprintf("e%03d", i)
		if i%3 == 0 {
			Subjects{From: i, To: i + 1}.insert(b, ids[i], i)
		}
	}
	merge(t, s, b)
	for i, st := range stamps(t, s, ids...) {
		if present := st.Years[1] != ""; present != (i%3 == 0) || st.Years[0] != "" || st.Decision != 0 {
			t.Fatalf("stamp of %s = %+v, want this year present: %t", ids[i], st, i%3 == 0)
		}
	}
}

func sameStamp(a, b store.Stamp) bool {
	return slices.Equal(a.Years, b.Years) && a.Decision == b.Decision && a.Pending == b.Pending
}
