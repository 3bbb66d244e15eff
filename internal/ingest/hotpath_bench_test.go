package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/subject"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// benchFlushEvery is how many events the benchmarks gather between two
// (untimed) flushes: about one flush interval of a busy instance.
const benchFlushEvery = 200_000

// BenchmarkHotPath measures the per-message path of the Ingester — decode
// and validate, hash every subject (the partition reader's stage), insert
// into the batch's sketches and day curves, remember the offset (the fetch
// loop's stage) — one stage after the other on one core, and reports events per
// second. The batch is handed over (as a flush would take it, untimed)
// every benchFlushEvery events, so the sketches grow as in a running
// service. Compare runs with the same -benchtime (e.g. 1000000x): the first
// batch of each entity-year is slower (its sketches start sparse).
func BenchmarkHotPath(b *testing.B) {
	for _, tc := range []struct{ subjects, entities int }{{1, 10}, {1, 10_000}, {100, 10}} {
		b.Run(fmt.Sprintf("subjects=%d/entities=%d", tc.subjects, tc.entities), func(b *testing.B) {
			msgs, slots := benchMessages(b, tc.subjects, tc.entities, max(8192, 65536/tc.subjects))
			loc, err := time.LoadLocation("Asia/Shanghai")
			if err != nil {
				b.Fatal(err)
			}
			in := New(nil, nil, nil, prometheus.NewRegistry(), Options{
				Location:   loc,
				Hasher:     subject.New(subject.Key{1, 2, 3}),
				MaxPending: 1 << 62,
			})
			var (
				dec event.Decoder
				it  *item
			)
			sum := in.opts.Hasher.SumBytes
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if i%benchFlushEvery == benchFlushEvery-1 {
					b.StopTimer()
					// What a flush does to the fetch loop's state once the
					// batch reached the store.
					flushed := in.cur
					in.cur = newPending()
					in.dense.Learn(flushed.batch)
					in.hot.Learn(flushed.batch)
					b.StartTimer()
				}
				m := msgs[i%len(msgs)]
				if tc.subjects == 1 {
					// A new person each time, as in a stream of 1-subject
					// events over months (the 100-subject messages hold
					// enough distinct people as they are).
					putDigits(m.Value[slots[i%len(msgs)]:], i)
				}
				it = in.addMessage(&dec, sum, m, it)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.N*tc.subjects)/b.Elapsed().Seconds(), "subjects/s")
		})
	}
}

// addMessage runs the two stages of the hot path on msg, one after the
// other: decode, as the partition's reader does, with dec and sum, into it
// (nil: a new item); then add, as the fetch loop does. It returns the item
// for reuse.
func (in *Ingester) addMessage(dec *event.Decoder, sum func([]byte) uint64, msg kafka.Message, it *item) *item {
	if it == nil {
		it = new(item)
	}
	in.decode(dec, sum, msg, it)
	in.add(it)
	*it = item{hashes: it.hashes[:0]}
	return it
}

// subjectDigits is the width of the number in the benchmark's subject ids.
const subjectDigits = 10

// putDigits writes n in subjectDigits decimal digits at the start of b.
func putDigits(b []byte, n int) {
	for i := subjectDigits - 1; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
}

// benchMessages returns n distinct messages of events with the given number
// of subjects over the given number of entities, on random days of this
// year so far, with the offsets of one partition; and, for each message,
// where the digits of its first subject start in its value.
func benchMessages(b *testing.B, subjects, entities, n int) ([]kafka.Message, []int) {
	rng := rand.New(rand.NewPCG(uint64(subjects), uint64(entities)))
	now := time.Now()
	jan1 := time.Date(now.Year(), time.January, 1, 0, 0, 0, 0, time.UTC)
	msgs := make([]kafka.Message, n)
	slots := make([]int, n)
	for i := range msgs {
		ev := event.Event{
			Schema:     1,
			EventID:    "bench-" + strconv.Itoa(i),
			OccurredAt: jan1.Add(time.Duration(rng.Int64N(int64(now.Sub(jan1))))).Truncate(time.Millisecond),
			Entity:     "ent-" + strconv.Itoa(rng.IntN(entities)),
			Kind:       event.KindTransfer,
			Recipient:  "acme-logistics-sg",
			Sensitive:  rng.IntN(10) == 0,
			Pipeline:   "crm-export",
		}
		for range subjects {
			ev.Subjects = append(ev.Subjects, fmt.Sprintf("customer-%0*d", subjectDigits, rng.IntN(2_000_000)))
		}
		v, err := json.Marshal(ev)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = kafka.Message{Topic: "events", Partition: 0, Offset: int64(i), Value: v, HighWaterMark: int64(n)}
		slots[i] = bytes.Index(v, []byte(`"customer-`)) + len(`"customer-`)
	}
	return msgs, slots
}
