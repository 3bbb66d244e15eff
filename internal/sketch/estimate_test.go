package sketch

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/axiomhq/hyperloglog"
)

// TestEstimateMatchesAxiomhq: the fast dense estimate returns exactly what
// axiomhq's Estimate returns, sparse and dense, from empty to saturated.
func TestEstimateMatchesAxiomhq(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 10, 1000, 20_000, 40_000, 100_000, 1_000_000} {
		for trial := range 3 {
			sk := hyperloglog.New14()
			for range n {
				sk.InsertHash(rng.Uint64())
			}
			dense := hyperloglog.NewNoSparse()
			if err := dense.Merge(sk); err != nil {
				t.Fatal(err)
			}
			for _, s := range []*hyperloglog.Sketch{sk, dense} {
				want := s.Clone().Estimate()
				if got := estimate(s.Clone()); got != want {
					t.Fatalf("n=%d trial %d: estimate %d, axiomhq %d", n, trial, got, want)
				}
			}
		}
	}
	// Every register value, including the largest.
	regs := make([]byte, 1<<Precision)
	for i := range regs {
		regs[i] = byte(i % (64 - Precision + 2))
	}
	data := append([]byte{2, Precision, 0, 0, 0, 0, 0x40, 0}, regs...)
	sk := hyperloglog.New14()
	if err := sk.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if got, want := estimate(sk), sk.Clone().Estimate(); got != want {
		t.Fatalf("all register values: estimate %d, axiomhq %d", got, want)
	}
}

// TestQueryMatchesHistory: a Query answers what History answers, for every
// counter, window and exemption setting, whether or not last year or some
// cells are empty.
func TestQueryMatchesHistory(t *testing.T) {
	for _, h := range []History{
		{},
		{2026: yearOf(1, 3000, 0)},
		{2026: yearOf(2, 30_000, 0, 2, 4), 2025: yearOf(3, 500, 1)},
		{2025: yearOf(4, 20_000, 0, 1, 2, 3, 4, 5, 6, 7)},
		{2026: yearOf(5, 50_000, 0, 1, 2, 3, 4, 5, 6, 7), 2025: yearOf(6, 50_000, 0, 1, 2, 3, 4, 5, 6, 7)},
	} {
		q := h.Query()
		for _, exempt := range []bool{true, false} {
			for _, w := range Windows {
				for _, k := range Counters {
					if got, want := q.Figure(k, w, 2026, exempt), h.Figure(k, w, 2026, exempt); got != want {
						t.Fatalf("%s %s exempt=%t: query %+v, history %+v", k, w, exempt, got, want)
					}
					got, want := q.Series(k, w, 2026, 200, exempt), h.Series(k, w, 2026, 200, exempt)
					if len(got) != len(want) {
						t.Fatalf("%s %s: series of %d days, want %d", k, w, len(got), len(want))
					}
					for d := range got {
						if got[d] != want[d] {
							t.Fatalf("%s %s day %d: query %f, history %f", k, w, d, got[d], want[d])
						}
					}
				}
			}
		}
	}
}

// TestDenseHintSameResult: a batch whose cells start dense, because Dense
// learned they are dense in the store, merges into the store's year to
// exactly what the same batch built sparse gives.
func TestDenseHintSameResult(t *testing.T) {
	stored := yearOf(11, 40_000, 0, 2) // cells 0 and 2 dense, as stored
	first := Batch{{Entity: "e", Year: 2026}: stored}
	d := Dense{}
	d.Learn(first)
	if got := d[Key{Entity: "e", Year: 2026}]; got != 1|1<<2 {
		t.Fatalf("dense cells %08b, want cells 0 and 2", got)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	plain, hinted := Batch{}, Batch{}
	for i := range 5000 {
		h := []uint64{rng.Uint64()}
		c := []Cell{0, 2, 5}[i%3] // cell 5 is not dense: it stays sparse
		plain.Add("e", 2026, i%300, c, false, h)
		hinted.AddDense(d, "e", 2026, i%300, c, false, h)
	}
	k := Key{Entity: "e", Year: 2026}
	if b := encodeYear(t, hinted[k]); b["s0"][3] != 0 || b["s5"][3] != 1 {
		t.Fatal("the hinted cells should start dense and the others sparse")
	}
	want, err := DecodeYear(encodeYear(t, stored))
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeYear(encodeYear(t, stored))
	if err != nil {
		t.Fatal(err)
	}
	if err := want.Merge(plain[k]); err != nil {
		t.Fatal(err)
	}
	if err := got.Merge(hinted[k]); err != nil {
		t.Fatal(err)
	}
	if !sameEncoding(encodeYear(t, got), encodeYear(t, want)) {
		t.Fatal("merging the hinted batch differs from merging the plain one")
	}
	// Entity-years more than a year older than the newest are forgotten.
	d.Learn(Batch{{Entity: "f", Year: 2028}: yearOf(12, 10, 0)})
	if _, ok := d[k]; ok {
		t.Fatal("2026 should be forgotten once 2028 is seen")
	}
}

// TestUnionEstimateMatchesAxiomhq: the estimate of a union equals merging
// the sketches into an empty New14 sketch with axiomhq and estimating it,
// for sparse unions below and above the switch to dense, with tmp sets not
// yet compacted, and with dense members.
func TestUnionEstimateMatchesAxiomhq(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	shared := make([]uint64, 20_000)
	for i := range shared {
		shared[i] = rng.Uint64()
	}
	sketchOf := func(n int, compact bool) *hyperloglog.Sketch {
		sk := hyperloglog.New14()
		for range n {
			if rng.IntN(3) == 0 {
				sk.InsertHash(shared[rng.IntN(len(shared))]) // overlaps between members
			} else {
				sk.InsertHash(rng.Uint64())
			}
		}
		if compact {
			sk.Estimate()
		}
		return sk
	}
	for trial := range 60 {
		var sks []*hyperloglog.Sketch
		for range rng.IntN(5) {
			n := []int{0, 1, 50, 150, 1000, 3000, 6000, 9000, 30_000}[rng.IntN(9)]
			sks = append(sks, sketchOf(n, rng.IntN(2) == 0))
		}
		u := hyperloglog.New14()
		for _, sk := range sks {
			if err := u.Merge(sk.Clone()); err != nil {
				t.Fatal(err)
			}
		}
		want := u.Estimate()
		if got := unionEstimate(sks); got != want {
			t.Fatalf("trial %d (%d sketches): union estimate %d, axiomhq %d", trial, len(sks), got, want)
		}
	}
}

// TestMergeSketchMatchesAxiomhq: merging a sketch into another gives the
// encoding axiomhq's Merge gives once compacted, sparse or dense, below and
// past the switch, into nothing or into something.
func TestMergeSketchMatchesAxiomhq(t *testing.T) {
	for _, p := range []uint8{Precision, FlowPrecision} {
		t.Run(fmt.Sprintf("p=%d", p), func(t *testing.T) { testMergeSketchMatchesAxiomhq(t, p) })
	}
}

func testMergeSketchMatchesAxiomhq(t *testing.T, p uint8) {
	rng := rand.New(rand.NewPCG(9, uint64(p)))
	sketchOf := func(n int) *hyperloglog.Sketch {
		if n < 0 {
			return nil
		}
		sk := newSketch(p, false)
		for range n {
			sk.InsertHash(rng.Uint64())
		}
		if rng.IntN(2) == 0 {
			sk.Estimate() // compacted, or with a tmp set
		}
		return sk
	}
	sizes := []int{-1, 0, 1, 100, 2000, 5000, 8000, 40_000}
	for trial := range 80 {
		a, b := sketchOf(sizes[rng.IntN(len(sizes))]), sketchOf(sizes[1+rng.IntN(len(sizes)-1)])
		want := newSketch(p, false)
		if a != nil {
			want = a.Clone()
		}
		if err := want.Merge(b); err != nil {
			t.Fatal(err)
		}
		want.Estimate()
		wantEnc, _ := want.MarshalBinary()
		var ac *hyperloglog.Sketch
		if a != nil {
			ac = a.Clone()
		}
		bBefore, _ := b.MarshalBinary()
		got, err := mergeSketch(ac, b, p)
		if err != nil {
			t.Fatal(err)
		}
		got.Estimate()
		gotEnc, _ := got.MarshalBinary()
		if !bytes.Equal(gotEnc, wantEnc) {
			t.Fatalf("trial %d: merged encoding differs (%d bytes, want %d)", trial, len(gotEnc), len(wantEnc))
		}
		if bAfter, _ := b.MarshalBinary(); !bytes.Equal(bAfter, bBefore) {
			t.Fatalf("trial %d: the merged sketch was modified", trial)
		}
	}
}
