package ingest_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/ingest"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/subject"
)

// TestPartitionsDecodedInParallel: with four partitions, each decoded by
// its own reader, every valid event is counted, every invalid one reaches
// the dead-letter topic whole and in its partition's order, and the group
// commits the end of every partition.
func TestPartitionsDecodedInParallel(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	r := newRigOn(t, 4, 20*time.Millisecond, now, ingest.Options{})
	const n = 4000
	var msgs []kafka.Message
	invalid := 0
	for i := range n {
		m := ev(t, "acme-sh", now, "user-"+strconv.Itoa(i), `esc"aped-`+strconv.Itoa(i))
		m.Key = []byte("k" + strconv.Itoa(i%16))
		if i%97 == 0 {
			m.Value = []byte(`{"entity":"acme-sh","seq":` + strconv.Itoa(i) + `}`) // no occurred_at
			invalid++
		}
		msgs = append(msgs, m)
	}
	r.c.Produce(in, msgs...)
	eventually(t, "every partition committed to its end", func() bool { return r.committed() == n })

	dead := r.c.ReadAll(dlq, invalid, 30*time.Second)
	if len(dead) != invalid {
		t.Fatalf("%d dead letters, want %d", len(dead), invalid)
	}
	lastOffset := map[string]int64{}
	for _, d := range dead {
		h := map[string]string{}
		for _, x := range d.Headers {
			h[x.Key] = string(x.Value)
		}
		if h["tw-error"] != "occurred_at: required" {
			t.Errorf("tw-error %q", h["tw-error"])
		}
		off, _ := strconv.ParseInt(h["tw-source-offset"], 10, 64)
		if prev, ok := lastOffset[h["tw-source-partition"]]; ok && off <= prev {
			t.Errorf("partition %s: dead letter of offset %d after that of %d", h["tw-source-partition"], off, prev)
		}
		lastOffset[h["tw-source-partition"]] = off
		if len(d.Value) < len(`{"entity":"acme-sh","seq":0}`) || d.Value[0] != '{' {
			t.Errorf("dead letter value %q is not the raw event", d.Value)
		}
	}
	if got := testutil.ToFloat64(counter(t, r.reg, "transferwatch_events_total", "accepted")); got != n-float64(invalid) {
		t.Errorf("accepted %v, want %d", got, n-invalid)
	}

	key, _ := subject.ParseKey("000102030405060708090a0b0c0d0e0f")
	h := subject.New(key)
	want := sketch.Batch{}
	loc, err := time.LoadLocation("Asia/Shanghai") // the rig's
	if err != nil {
		t.Fatal(err)
	}
	day := now.In(loc).YearDay() - 1
	for i := range n {
		if i%97 != 0 {
			want.Add("acme-sh", 2026, day, 0, false, []uint64{h.Sum("user-" + strconv.Itoa(i)), h.Sum(`esc"aped-` + strconv.Itoa(i))})
		}
	}
	wantFig := sketch.History{2026: want[sketch.Key{Entity: "acme-sh", Year: 2026}]}.Figure(sketch.Personal, sketch.CurrentYear, 2026, true)
	hist, err := r.store.History(context.Background(), "acme-sh", 2026)
	if err != nil {
		t.Fatal(err)
	}
	if got := hist.Figure(sketch.Personal, sketch.CurrentYear, 2026, true); got != wantFig {
		t.Errorf("counted %+v, want %+v", got, wantFig)
	}
}
