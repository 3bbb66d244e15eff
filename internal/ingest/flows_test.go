package ingest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/subject"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// TestFlows feeds events to the hot path and reads the flows of the batch:
// one per category that applies, none for processing, replays counted
// once, new flows past the cap in the flow "other".
func TestFlows(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	in := New(nil, nil, nil, prometheus.NewRegistry(), Options{
		Hasher: subject.New(subject.Key{1}), MaxFlows: 3, Now: func() time.Time { return now },
	})
	off := int64(0)
	var dec event.Decoder
	send := func(ev event.Event, replay bool) {
		t.Helper()
		ev.Entity, ev.OccurredAt = "acme-sh", now.Add(-time.Duration(off)*time.Hour)
		v, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if replay {
			off--
		}
		in.addMessage(&dec, in.opts.Hasher.SumBytes, kafka.Message{Topic: "events", Partition: 1, Offset: off, Value: v}, nil)
		off++
	}
	us := event.Event{Kind: event.KindTransfer, Recipient: "acme-inc-us", Destination: "US", Pipeline: "crm", Subjects: []string{"a", "b"}}
	send(us, false)
	send(us, true) // the same offset again: a replay
	sens := us
	sens.Sensitive, sens.ImportantData, sens.Pipeline, sens.Subjects = true, true, "hr", []string{"c"}
	send(sens, false)
	send(event.Event{Kind: event.KindProcessing, Subjects: []string{"d"}}, false)
	send(event.Event{Kind: event.KindTransfer, Recipient: "newco-sg", Destination: "SG", Subjects: []string{"e"}}, false)
	send(event.Event{Kind: event.KindTransfer, Recipient: "newco-sg", Destination: "SG", Subjects: []string{"f"}}, false)

	y := in.cur.batch[sketch.Key{Entity: "acme-sh", Year: 2026}]
	if y == nil {
		t.Fatal("no entity-year in the batch")
	}
	type want struct {
		people, events uint64
		pipelines      int
	}
	key := func(r, d string, c sketch.Category) sketch.FlowKey {
		return sketch.FlowKey{Recipient: r, Destination: d, Category: c}
	}
	wants := map[sketch.FlowKey]want{
		key("acme-inc-us", "US", sketch.CategoryPersonal):       {3, 2, 2},
		key("acme-inc-us", "US", sketch.CategorySensitive):      {1, 1, 1},
		key("acme-inc-us", "US", sketch.CategoryImportantData):  {1, 1, 1},
		key(sketch.OtherRecipient, "", sketch.CategoryPersonal): {2, 2, 0},
	}
	if len(y.Flows) != len(wants) {
		t.Fatalf("flows = %v, want %d", keys(y.Flows), len(wants))
	}
	for k, w := range wants {
		f := y.Flows[k]
		if f == nil {
			t.Fatalf("no flow %+v among %v", k, keys(y.Flows))
		}
		people, events := f.Sketches() // a batch's flow holds keys until merged
		if got := (want{people.Estimate(), events.Estimate(), len(f.Pipelines)}); got != w {
			t.Errorf("flow %+v: %+v, want %+v", k, got, w)
		}
		if f.First > f.Last || f.First == 0 {
			t.Errorf("flow %+v: first %d last %d", k, f.First, f.Last)
		}
	}
	if got := testutil.ToFloat64(in.m.flowOverflow); got != 2 {
		t.Errorf("flow overflow events = %v, want 2", got)
	}
}

func keys(m map[sketch.FlowKey]*sketch.Flow) []sketch.FlowKey {
	var ks []sketch.FlowKey
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
