package decide_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/transferwatch/transferwatch/internal/decide"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store/redisstore"
	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
	"github.com/transferwatch/transferwatch/internal/testutil/redistest"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// BenchmarkRound measures a periodic round over n entities of a real
// redis-server with nothing changed (re-confirmed from their stamps)
// against the same round made to evaluate every entity again (as every
// round did before), interleaved in the same run: the figures to compare
// are the ratios, wall time and the decider's own CPU time.
//
//	go test -run '^$' -bench 'Round/entities=10000' -benchtime 5x ./internal/decide/
func BenchmarkRound(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) { benchRound(b, n) })
	}
}

func benchRound(b *testing.B, n int) {
	c := kafkatest.New(b, 1, decisions)
	rds := redistest.Server(b)
	st, err := redisstore.New(redisstore.Options{Addrs: []string{rds.Addr()}})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	// Each entity: a few people on a few days, last year and this year.
	plain := sketch.CellOf(event.KindTransfer, false, false)
	for lo := 0; lo < n; lo += 5_000 {
		batch := sketch.Batch{}
		for i := lo; i < min(lo+5_000, n); i++ {
			id := fmt.Sprintf("entity-%06d", i)
			for d := range 5 {
				batch.Add(id, 2026, 300+d*5, plain, false, subjects(i*100+d*10, 10))
			}
			batch.Add(id, 2025, 200, plain, false, subjects(i*100+50, 20))
		}
		if err := st.Merge(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	w := writer(c)
	defer w.Close()
	now := day
	d := decide.New(st, w, prometheus.NewRegistry(), decide.Options{
		Settings: settings(b, "cac-2024"),
		Now:      func() time.Time { return now },
	})
	if err := d.Start(ctx); err != nil {
		b.Fatal(err)
	}
	var wall [2]time.Duration
	var cpu [2]time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range 2 {
			now = now.Add(time.Second)
			if k == 1 {
				d.ForgetBases()
			}
			c0, t0 := cpuTime(), time.Now()
			if err := d.Round(ctx, false); err != nil {
				b.Fatal(err)
			}
			wall[k] += time.Since(t0)
			cpu[k] += cpuTime() - c0
		}
	}
	b.StopTimer()
	per := func(x time.Duration) float64 { return float64(x.Milliseconds()) / float64(b.N) }
	b.ReportMetric(per(wall[0]), "reconfirm-ms/round")
	b.ReportMetric(per(wall[1]), "full-ms/round")
	b.ReportMetric(float64(wall[0])/float64(wall[1]), "wall-ratio")
	b.ReportMetric(per(cpu[0]), "reconfirm-cpu-ms/round")
	b.ReportMetric(per(cpu[1]), "full-cpu-ms/round")
	b.ReportMetric(float64(cpu[0])/float64(max(cpu[1], 1)), "cpu-ratio")
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
