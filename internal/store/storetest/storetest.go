// Package storetest is the conformance suite every store.Store
// implementation passes: Run it from the implementation's tests.
package storetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store"
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
	t.Run("SeveralYears", func(t *testing.T) { testSeveralYears(t, open) })
	t.Run("ConcurrentWriters", func(t *testing.T) { testConcurrentWriters(t, open) })
	t.Run("Offsets", func(t *testing.T) { testOffsets(t, open) })
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
			if (gy.Sketches[c] == nil) != (wy.Sketches[c] == nil) {
				problems = append(problems, fmt.Sprintf("%d %s: sketch present = %t, want %t", yr, c, gy.Sketches[c] != nil, wy.Sketches[c] != nil))
			} else if wy.Sketches[c] != nil {
				if g, w := gy.Sketches[c].Clone().Estimate(), wy.Sketches[c].Clone().Estimate(); g != w {
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
	b.Merge(small.Batch("globex.bj"))
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
		b.Merge(Subjects{From: 1000, To: 1010}.Batch(id))
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
}

func testDecisionCAS(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	swap := func(prev, next store.Decision, want bool) {
		t.Helper()
		ok, err := s.SwapDecision(ctx, "acme-sh", prev, next)
		if err != nil || ok != want {
			t.Fatalf("SwapDecision(%+v → %+v) = %t, %v; want %t", prev, next, ok, err, want)
		}
	}
	get := func(entity string, want store.Decision) {
		t.Helper()
		d, err := s.Decision(ctx, entity)
		if err != nil || d != want {
			t.Fatalf("Decision(%q) = %+v, %v; want %+v", entity, d, err, want)
		}
	}
	get("acme-sh", store.Decision{})
	v1 := store.Decision{Version: 1, Decision: "warn"}
	v2 := store.Decision{Version: 2, Decision: "block"}
	swap(store.Decision{}, v1, true)
	get("acme-sh", v1)
	swap(store.Decision{}, store.Decision{Version: 1, Decision: "block"}, false) // stale
	get("acme-sh", v1)
	swap(v1, v2, true)
	swap(v1, store.Decision{Version: 2, Decision: "allow"}, false) // stale
	get("acme-sh", v2)
	get("globex.bj", store.Decision{}) // decisions are per entity
	if d, err := open(t).Decision(ctx, "acme-sh"); err != nil || d != v2 {
		t.Fatalf("another client reads %+v, %v; want %+v", d, err, v2)
	}

	// Many instances see the same change: exactly one swap succeeds.
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
			won[i], errs[i] = c.SwapDecision(ctx, "acme-sh", v2, store.Decision{Version: 3, Decision: fmt.Sprint("allow-", i)})
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
			get("acme-sh", store.Decision{Version: 3, Decision: fmt.Sprint("allow-", i)})
		}
	}
	if winners != 1 {
		t.Fatalf("%d concurrent swaps from the same version succeeded, want exactly 1", winners)
	}
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
	b.Merge(this.Batch("acme-sh"))
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
