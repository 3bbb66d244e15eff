package sketch

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The sketch benchmarks: the per-event insert of the hot path, and what a
// flush does per entity-year (decode the stored parts, merge the batch in,
// encode), on a curve of a small entity (100 subjects) and of a large one
// (50,000 subjects: every register has its full staircase).

func benchCurves(b *testing.B, f func(b *testing.B, c *Curve, evs []curveEvent)) {
	for _, n := range []int{100, 50_000} {
		b.Run(fmt.Sprintf("subjects=%d", n), func(b *testing.B) {
			evs := curveEvents(uint64(n), n)
			f(b, curveOf(evs), evs)
		})
	}
}

func BenchmarkCurveInsert(b *testing.B) {
	benchCurves(b, func(b *testing.B, c *Curve, _ []curveEvent) {
		rng := rand.New(rand.NewPCG(1, 2))
		hs := make([]uint64, 4096)
		for i := range hs {
			hs[i] = rng.Uint64()
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c.InsertHash(hs[i%len(hs)], i%365)
			i++
		}
	})
}

func BenchmarkCurveMarshal(b *testing.B) {
	benchCurves(b, func(b *testing.B, c *Curve, _ []curveEvent) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.MarshalBinary(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCurveUnmarshal(b *testing.B) {
	benchCurves(b, func(b *testing.B, c *Curve, _ []curveEvent) {
		data := curveBytes(b, c)
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var d Curve
			if err := d.UnmarshalBinary(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCurveMerge merges a flush's worth (100 new subjects) into the
// stored curve.
func BenchmarkCurveMerge(b *testing.B) {
	benchCurves(b, func(b *testing.B, c *Curve, _ []curveEvent) {
		batch := curveOf(curveEvents(99, 100))
		b.ReportAllocs()
		for b.Loop() {
			m := c.Clone()
			m.Merge(batch)
		}
	})
}

func BenchmarkCurveSeries(b *testing.B) {
	benchCurves(b, func(b *testing.B, c *Curve, _ []curveEvent) {
		b.ReportAllocs()
		for b.Loop() {
			c.Series(nil, MaxDay)
		}
	})
}

// BenchmarkYearFlush is the store's work on one entity-year in a flush:
// decode the stored parts, merge the batch's year in, encode.
func BenchmarkYearFlush(b *testing.B) {
	for _, n := range []int{100, 50_000} {
		b.Run(fmt.Sprintf("subjects=%d", n), func(b *testing.B) {
			stored := encodeYear(b, yearOf(uint64(n), n, 0, 2))
			batch := yearOf(7, 100, 0, 2)
			b.ReportAllocs()
			for b.Loop() {
				y, err := DecodeYear(stored)
				if err != nil {
					b.Fatal(err)
				}
				if err := y.Merge(batch); err != nil {
					b.Fatal(err)
				}
				if _, err := y.Encode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHistoryFigure computes the eight figures (four counters, two
// windows) of an entity holding 3,000 subjects (sparse sketches) or 50,000
// (dense) in each of two years, as an evaluation does, from years decoded
// from the store (a batch's years, which hold keys, are not evaluated).
func BenchmarkHistoryFigure(b *testing.B) {
	for _, n := range []int{3000, 50_000} {
		b.Run(fmt.Sprintf("subjects=%d", n), func(b *testing.B) {
			// As an evaluation reads them: decoded from the store.
			h := History{}
			for yr, seed := range map[int]uint64{2025: uint64(n), 2026: uint64(n) + 1} {
				y, err := DecodeYear(encodeYear(b, yearOf(seed, n, 0, 2, 4)))
				if err != nil {
					b.Fatal(err)
				}
				h[yr] = y
			}
			b.ReportAllocs()
			for b.Loop() {
				for _, w := range Windows {
					for _, k := range Counters {
						h.Figure(k, w, 2026, true)
					}
				}
			}
		})
	}
}
