package sketch_test

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/subject"
)

var accuracyScale = flag.Float64("accuracy.scale", 1, "multiply the number of trials of TestAccuracy (docs/accuracy.md uses 5)")

// TestAccuracy measures the relative error of the legal figure over 10^3 to
// 10^6 distinct subjects, many seeds, with duplicates mixed in, through the
// production path (keyed hashing, Year.Insert, History.Figure). The 99th
// percentile of the relative error must stay within three standard errors
// (2.44% at precision 14). `go test ./internal/sketch -run TestAccuracy -v
// -accuracy.scale 5` prints the table of docs/accuracy.md.
func TestAccuracy(t *testing.T) {
	bound := 3 * sketch.StdError
	cases := []struct {
		n      int
		trials int
	}{
		{1_000, 100}, {3_000, 100}, {10_000, 100}, {30_000, 40},
		{100_000, 20}, {300_000, 8}, {1_000_000, 4},
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| distinct subjects | trials | mean error | p99 error | max error |\n|---:|---:|---:|---:|---:|\n")
	var all []float64
	for _, c := range cases {
		trials := max(1, int(float64(c.trials)**accuracyScale))
		errs := make([]float64, 0, trials)
		for seed := range trials {
			rng := rand.New(rand.NewPCG(uint64(c.n), uint64(seed)))
			var key subject.Key
			for i := range key {
				key[i] = byte(rng.Uint32())
			}
			h := subject.New(key)
			y := &sketch.Year{}
			buf := make([]byte, 0, 32)
			for i := range c.n {
				buf = strconv.AppendInt(append(buf[:0], "user-"...), int64(i), 10)
				hash := h.Sum(string(buf))
				y.Insert(0, i%365, hash)
				if rng.IntN(4) == 0 { // a quarter of the subjects appear again
					y.Insert(0, rng.IntN(365), hash)
				}
			}
			est := sketch.History{2026: y}.Figure(sketch.Personal, sketch.CurrentYear, 2026, true).Estimate
			errs = append(errs, math.Abs(float64(est)-float64(c.n))/float64(c.n))
		}
		all = append(all, errs...)
		slices.Sort(errs)
		p99 := errs[int(math.Ceil(0.99*float64(len(errs))))-1]
		mean := 0.0
		for _, e := range errs {
			mean += e / float64(len(errs))
		}
		fmt.Fprintf(&table, "| %d | %d | %.2f%% | %.2f%% | %.2f%% |\n", c.n, trials, 100*mean, 100*p99, 100*errs[len(errs)-1])
		if p99 > bound {
			t.Errorf("n=%d: p99 relative error %.3f%% exceeds three standard errors %.3f%%", c.n, 100*p99, 100*bound)
		}
	}
	slices.Sort(all)
	overall := all[int(math.Ceil(0.99*float64(len(all))))-1]
	fmt.Fprintf(&table, "\nAll %d trials: p99 %.2f%%, bound (3σ) %.2f%%.\n", len(all), 100*overall, 100*bound)
	t.Log("\n" + table.String())
}

// TestUpperBoundCoversTruth checks the figure a compliance officer defends:
// the upper bound is at least the true count in (nearly) every trial.
func TestUpperBoundCoversTruth(t *testing.T) {
	const n, trials = 50_000, 30
	misses := 0
	for seed := range trials {
		rng := rand.New(rand.NewPCG(7, uint64(seed)))
		y := &sketch.Year{}
		for range n {
			y.Insert(0, 0, rng.Uint64())
		}
		f := sketch.History{2026: y}.Figure(sketch.Personal, sketch.CurrentYear, 2026, false)
		if f.UpperBound < f.Estimate {
			t.Fatalf("upper bound %d below estimate %d", f.UpperBound, f.Estimate)
		}
		if f.UpperBound < n {
			misses++
		}
	}
	// Three standard errors: a miss has probability about 0.13% per trial.
	if misses > 1 {
		t.Errorf("upper bound below the true count in %d of %d trials", misses, trials)
	}
}
