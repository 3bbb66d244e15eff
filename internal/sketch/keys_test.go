package sketch

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/axiomhq/hyperloglog"
)

// TestSparseKeyMatchesAxiomhq: sparseKey is the key axiomhq's sparse
// sketch stores for a hash, at both precisions, for random hashes and for
// those whose bits between p and 25 are all zero (the keys that carry
// their rho).
func TestSparseKeyMatchesAxiomhq(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 14))
	for _, p := range []uint8{Precision, FlowPrecision} {
		hashes := []uint64{0, 1, hashOne, hashHigh, ^uint64(0), 1 << 63}
		for range 2000 {
			hashes = append(hashes, rng.Uint64())
			// Bits 64-p to 64-25 zero: the key holds the leading zeros.
			h := rng.Uint64() &^ ((1<<(25-p) - 1) << (64 - 25))
			hashes = append(hashes, h, h>>rng.IntN(64))
		}
		for _, h := range hashes {
			sk := newSketch(p, false)
			sk.InsertHash(h)
			enc, err := sk.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			want, ok := appendSparseKeys(nil, enc, p)
			if !ok || len(want) != 1 {
				t.Fatalf("p=%d: axiomhq's encoding of %#x not one sparse key: %x", p, h, enc)
			}
			if got := sparseKey(h, p); got != want[0] {
				t.Fatalf("p=%d: sparseKey(%#x) = %#x, axiomhq stores %#x", p, h, got, want[0])
			}
		}
	}
}

// TestMergeKeysMatchesMergeSketch: merging keys into a sketch gives the
// encoding that merging the sparse sketch of the same hashes gives
// (mergeSketch, itself pinned to axiomhq's Merge), sparse or dense, below
// and past the switch, into nothing, a sparse or a dense sketch; with
// repeated hashes; and the keys are left alone.
func TestMergeKeysMatchesMergeSketch(t *testing.T) {
	for _, p := range []uint8{Precision, FlowPrecision} {
		t.Run(fmt.Sprintf("p=%d", p), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(p)))
			sketchOf := func(n int) *hyperloglog.Sketch {
				if n < 0 {
					return nil
				}
				sk := newSketch(p, false)
				for range n {
					sk.InsertHash(rng.Uint64())
				}
				return sk
			}
			sizes := []int{-1, 0, 1, 100, 1000, 2000, 5000, 8000, 40_000}
			for trial := range 60 {
				a := sketchOf(sizes[rng.IntN(len(sizes))])
				n := sizes[2+rng.IntN(len(sizes)-2)] // at least one key
				b := newSketch(p, false)
				var keys []uint32
				for i := range n {
					h := rng.Uint64()
					if i%7 == 3 && len(keys) > 0 { // a subject seen again
						h = 0
						keys = append(keys, keys[rng.IntN(len(keys))])
					} else {
						keys = append(keys, sparseKey(h, p))
					}
					if h != 0 {
						b.InsertHash(h)
					}
				}
				var ac, bc *hyperloglog.Sketch
				if a != nil {
					ac, bc = a.Clone(), a.Clone()
				}
				want, err := mergeSketch(ac, b, p)
				if err != nil {
					t.Fatal(err)
				}
				kept := slices.Clone(keys)
				got, err := mergeKeys(bc, keys, p)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(keys, kept) {
					t.Fatalf("trial %d: the keys were modified", trial)
				}
				if (got == nil) != (want == nil) {
					t.Fatalf("trial %d: got %v, want %v", trial, got, want)
				}
				if got == nil {
					continue
				}
				gotEnc, _ := encodeSketch(got)
				wantEnc, _ := encodeSketch(want)
				if !bytes.Equal(gotEnc, wantEnc) {
					t.Fatalf("trial %d (a %d bytes, %d keys): merged encoding differs (%d bytes, want %d)",
						trial, len(gotEnc), n, len(gotEnc), len(wantEnc))
				}
			}
		})
	}
}

// TestBatchYearMergesLikeSketches: a batch's year, which keeps its
// subjects as keys and turns them into a sketch past maxPendingKeys,
// merges into the store's year (nothing, sparse or dense) to exactly what
// a year built with an axiomhq sketch per cell gives, and its Sketch,
// Fields and Encode agree with it.
func TestBatchYearMergesLikeSketches(t *testing.T) {
	for _, n := range []int{1, 300, 4000, 5000, 9000, 30_000} {
		for _, storedN := range []int{0, 2000, 40_000} {
			t.Run(fmt.Sprintf("batch=%d/stored=%d", n, storedN), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(n), uint64(storedN)))
				batch := &Year{}
				plain := &Year{} // one axiomhq sketch per cell, as before keys
				for i := range n {
					c := Cell(i % 2 * 4)
					h, day := rng.Uint64(), rng.IntN(365)
					batch.Insert(c, day, h)
					if plain.Sketches[c] == nil {
						plain.Sketches[c], plain.Curves[c] = newSketch(Precision, false), NewCurve()
					}
					plain.Sketches[c].InsertHash(h)
					plain.Curves[c].InsertHash(h, day)
				}
				if !slices.Equal(batch.Fields(), plain.Fields()) {
					t.Fatalf("fields %v, want %v", batch.Fields(), plain.Fields())
				}
				for c := range Cell(NumCells) {
					g, w := batch.Sketch(c), plain.Sketches[c]
					if (g == nil) != (w == nil) || g != nil && g.Clone().Estimate() != w.Clone().Estimate() {
						t.Fatalf("cell %s: Sketch differs from the sketch of the same subjects", c)
					}
				}
				stored := encodeYear(t, yearOf(uint64(storedN), storedN, 0, 4))
				if storedN == 0 {
					stored = map[string][]byte{}
				}
				got, err := DecodeYear(stored)
				if err != nil {
					t.Fatal(err)
				}
				want, err := DecodeYear(stored)
				if err != nil {
					t.Fatal(err)
				}
				if err := got.Merge(batch); err != nil {
					t.Fatal(err)
				}
				if err := want.Merge(plain); err != nil {
					t.Fatal(err)
				}
				if !sameEncoding(encodeYear(t, got), encodeYear(t, want)) {
					t.Fatal("merging the batch's year differs from merging its sketches")
				}
				// Merged again (a retried flush), nothing changes.
				if err := got.Merge(batch); err != nil {
					t.Fatal(err)
				}
				if !sameEncoding(encodeYear(t, got), encodeYear(t, want)) {
					t.Fatal("merging the batch's year twice differs from once")
				}
			})
		}
	}
}

// BenchmarkBatchAdd fills a flush batch as the hot path does: events of
// one subject over 10,000 entities, a few per entity-year and cell (the
// 10,000-entity workloads of twbench), or 100 subjects per event. It
// reports the heap the batch holds per entity-year, after a collection.
func BenchmarkBatchAdd(b *testing.B) {
	const entities = 10_000
	for _, subjects := range []int{1, 100} {
		b.Run(fmt.Sprintf("subjects=%d", subjects), func(b *testing.B) {
			ids := make([]string, entities)
			for i := range ids {
				ids[i] = fmt.Sprintf("entity-%05d", i)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			hs := make([]uint64, subjects)
			const events = 20 * entities
			b.ReportAllocs()
			var held float64
			for b.Loop() {
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				batch := Batch{}
				for i := range events / subjects {
					for j := range hs {
						hs[j] = rng.Uint64()
					}
					c := Cell(i % 3 * 2)
					batch.Add(ids[i%entities], 2026, i%365, c, false, hs)
				}
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				held = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(len(batch))
				runtime.KeepAlive(batch)
			}
			b.ReportMetric(held, "heapB/entity-year")
		})
	}
}

// TestBatchFlowMergesLikeSketches: a batch's flow, which keeps its people
// and events as keys, encodes and merges into the store's flow (none, or
// one of a few or many people) to exactly what a flow built with axiomhq
// sketches gives.
func TestBatchFlowMergesLikeSketches(t *testing.T) {
	k := FlowKey{Recipient: "acme-inc-us", Destination: "US"}
	for _, n := range []int{1, 500, 1500, 3000, 20_000} {
		for _, storedN := range []int{0, 300, 30_000} {
			t.Run(fmt.Sprintf("batch=%d/stored=%d", n, storedN), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(n), uint64(storedN)))
				batch, plain := Batch{}, &Year{}
				for i := range n {
					hs := []uint64{rng.Uint64(), rng.Uint64()}
					ev := EventHash("events", 0, int64(i))
					batch.AddFlow("e", 2026, k, ev, int64(1_767_225_600+i), "crm", hs)
					plain.AddFlow(k, ev, int64(1_767_225_600+i), "crm", hs)
				}
				by := batch[Key{Entity: "e", Year: 2026}]
				if !by.Flows[k].keyed || plain.Flows[k].keyed {
					t.Fatal("a batch's flow should keep keys, a plain year's flow sketches")
				}
				if !sameEncoding(encodeYear(t, by), encodeYear(t, plain)) {
					t.Fatal("the batch's flow encodes differently from the same flow built with sketches")
				}
				stored := &Year{}
				for i := range storedN {
					stored.AddFlow(k, EventHash("old", 0, int64(i)), 1_767_225_600, "hr", []uint64{rng.Uint64()})
				}
				enc := encodeYear(t, stored)
				got, err := DecodeYear(enc)
				if err != nil {
					t.Fatal(err)
				}
				want, err := DecodeYear(enc)
				if err != nil {
					t.Fatal(err)
				}
				if err := got.Merge(by); err != nil {
					t.Fatal(err)
				}
				if err := want.Merge(plain); err != nil {
					t.Fatal(err)
				}
				if !sameEncoding(encodeYear(t, got), encodeYear(t, want)) {
					t.Fatal("merging the batch's flow differs from merging the same flow built with sketches")
				}
				gp, ge := got.Flows[k].Sketches()
				wp, we := want.Flows[k].Sketches()
				if gp.Estimate() != wp.Estimate() || ge.Estimate() != we.Estimate() {
					t.Fatal("merged estimates differ")
				}
			})
		}
	}
}

// FuzzMergeKeys: a batch's keys merge into whatever stored sketch decodes
// (the bytes come from Redis) as the sparse sketch of the same hashes
// does, or both fail; the stored sketch's precision is checked at decoding.
func FuzzMergeKeys(f *testing.F) {
	for _, n := range []int{0, 3, 700, 20_000} {
		y := yearOf(uint64(n), n, 0)
		if n == 0 {
			y = &Year{}
			y.Sketches[0] = newSketch(Precision, false)
		}
		enc, err := encodeSketch(y.Sketch(0))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc, uint64(n), uint16(n%500))
	}
	f.Add([]byte{2, Precision, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint64(1), uint16(5))
	f.Fuzz(func(t *testing.T, stored []byte, seed uint64, n uint16) {
		a, err := decodeSketch(stored, Precision)
		if err != nil {
			return
		}
		rng := rand.New(rand.NewPCG(seed, 1))
		b := newSketch(Precision, false)
		keys := make([]uint32, 0, int(n)%3000)
		for range cap(keys) {
			h := rng.Uint64()
			b.InsertHash(h)
			keys = append(keys, sparseKey(h, Precision))
		}
		want, wantErr := mergeSketch(a.Clone(), b, Precision)
		got, gotErr := mergeKeys(a.Clone(), keys, Precision)
		if len(keys) == 0 {
			return // nothing to merge: mergeKeys leaves a as it is
		}
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("mergeKeys error %v, mergeSketch error %v", gotErr, wantErr)
		}
		if gotErr != nil {
			return
		}
		g, err1 := encodeSketch(got)
		w, err2 := encodeSketch(want)
		if err1 != nil || err2 != nil || !bytes.Equal(g, w) {
			t.Fatalf("merged encodings differ (%d bytes, want %d; %v %v)", len(g), len(w), err1, err2)
		}
	})
}
