package redisstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store/storetest"
	"github.com/transferwatch/transferwatch/internal/testutil/redistest"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// The flush benchmarks: a flush carries benchSubjects new subjects for
// each of benchEntities entities. In the "existing" variants every entity
// already holds benchHistory subjects spread over benchToday days, as in a
// running service late in the year, and each flush adds to day benchToday;
// in the "fresh" variants each flush goes to entities with no data yet
// (the first flush of a year). The state of "existing" grows by one flush
// per iteration, so compare runs with the same -benchtime, e.g. 20x.
const (
	benchEntities = 1000
	benchSubjects = 100 // per entity and flush
	benchHistory  = 2000
	benchToday    = 300
)

var (
	cellPlain     = sketch.CellOf(event.KindTransfer, false, false)
	cellSensitive = sketch.CellOf(event.KindTransfer, true, false)
)

// flushData is the subjects of one flush, by entity: three in four in the
// plain transfer cell, one in four in the sensitive one.
type flushData struct {
	entity []string
	hashes [][]uint64
	day    []int // by subject index
}

// newFlush returns n subjects per entity, numbered from first, on days
// spread over [0, days) (or all on day benchToday if days is 0), for
// entities named with the prefix.
func newFlush(prefix string, first, n, days int) flushData {
	f := flushData{entity: make([]string, benchEntities), hashes: make([][]uint64, benchEntities), day: make([]int, n)}
	for j := range n {
		f.day[j] = benchToday
		if days > 0 {
			f.day[j] = j * days / n
		}
	}
	for e := range benchEntities {
		f.entity[e] = fmt.Sprintf("%sentity-%04d", prefix, e)
		f.hashes[e] = make([]uint64, n)
		for j := range n {
			f.hashes[e][j] = storetest.Hash(first + e*1_000_000 + j)
		}
	}
	return f
}

func cellOf(j int) sketch.Cell {
	if j%4 == 0 {
		return cellSensitive
	}
	return cellPlain
}

// batch turns the flush into what the aggregator hands the store.
func (f flushData) batch(year int) sketch.Batch {
	b := make(sketch.Batch, benchEntities)
	for e, id := range f.entity {
		y := &sketch.Year{}
		for j, h := range f.hashes[e] {
			y.Insert(cellOf(j), f.day[j], h)
		}
		b[sketch.Key{Entity: id, Year: year}] = y
	}
	return b
}

// benchFlushes times flush over b.N flushes and reports entities/s.
func benchFlushes(b *testing.B, existing bool, flush func(context.Context, flushData) error) {
	ctx := b.Context()
	if existing {
		if err := flush(ctx, newFlush("", 0, benchHistory, benchToday)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		prefix := ""
		if !existing {
			prefix = fmt.Sprintf("r%d-", i)
		}
		f := newFlush(prefix, benchHistory+i*benchSubjects, benchSubjects, 0)
		b.StartTimer()
		if err := flush(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchEntities*b.N)/b.Elapsed().Seconds(), "entities/s")
}

// BenchmarkFlush1000Entities merges flushes of 1,000 entities, each with
// 100 new subjects in two cells, into a real redis-server through Store.
func BenchmarkFlush1000Entities(b *testing.B) {
	for _, existing := range []bool{true, false} {
		b.Run(variant(existing), func(b *testing.B) {
			in := redistest.Server(b)
			s := open(b, Options{Addrs: []string{in.Addr()}})
			y := thisYear()
			benchFlushes(b, existing, func(ctx context.Context, f flushData) error {
				b.StopTimer()
				batch := f.batch(y) // the aggregator's work, not the store's
				b.StartTimer()
				return s.Merge(ctx, batch)
			})
		})
	}
}

// BenchmarkFlush1000EntitiesPFADD is the baseline of
// BenchmarkFlush1000Entities: the same subjects added with Redis' own
// HyperLogLog, one PFADD per entity and cell, all in one pipeline. It keeps
// no day curves, no important flags and nothing our sketches can read; it
// shows what the read-merge-write of Store costs in comparison.
func BenchmarkFlush1000EntitiesPFADD(b *testing.B) {
	for _, existing := range []bool{true, false} {
		b.Run(variant(existing), func(b *testing.B) {
			in := redistest.Server(b)
			c := redis.NewClient(&redis.Options{Addr: in.Addr()})
			b.Cleanup(func() { c.Close() })
			y := thisYear()
			benchFlushes(b, existing, func(ctx context.Context, f flushData) error {
				pipe := c.Pipeline()
				for e, id := range f.entity {
					var cells [sketch.NumCells][]any
					for j, h := range f.hashes[e] {
						cells[cellOf(j)] = append(cells[cellOf(j)], string(binary.BigEndian.AppendUint64(nil, h)))
					}
					for cell, elems := range cells {
						if len(elems) > 0 {
							pipe.PFAdd(ctx, fmt.Sprintf("pf:{%s}:y%d:c%d", id, y, cell), elems...)
						}
					}
				}
				_, err := pipe.Exec(ctx)
				return err
			})
		})
	}
}

func variant(existing bool) string {
	if existing {
		return "existing"
	}
	return "fresh"
}
