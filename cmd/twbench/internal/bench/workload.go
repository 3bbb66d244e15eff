package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/pkg/event"
)

// Workload is one cell of the benchmark matrix: a topic of Events events,
// each with Subjects subjects, spread over Entities entities and the
// topic's Partitions partitions.
type Workload struct {
	Subjects   int // per event
	Entities   int
	Partitions int
	Events     int // backlog drained for throughput
	// LiveRate is the events per second published during the latency
	// phase, for LiveFor.
	LiveRate int
	LiveFor  time.Duration
	// Rounds is how many times the ceiling and transferwatch run on the
	// workload, interleaved; the median run by events per second is
	// reported (the baseline runs once). Default 1.
	Rounds int
}

// Name is a short label, e.g. "s1-e10-p4".
func (w Workload) Name() string {
	return fmt.Sprintf("s%d-e%d-p%d", w.Subjects, w.Entities, w.Partitions)
}

// Label is the label of the report table.
func (w Workload) Label() string {
	return fmt.Sprintf("%d subj/ev, %s entities, %d part.", w.Subjects, thousands(w.Entities), w.Partitions)
}

// pubHeader carries the publication time (Unix nanoseconds) of the events
// of the latency phase.
const pubHeader = "bench-pub"

// subjectPool is how many distinct subject identifiers the generator
// draws from: large enough that the sketches of the 10-entity workloads
// grow dense, small enough that the 100-subject workloads repeat people.
const subjectPool = 2_000_000

// generator makes the events of a workload, deterministically from a seed.
type generator struct {
	w    Workload
	rng  *rand.Rand
	now  time.Time
	jan1 time.Time
	seq  int
}

func newGenerator(w Workload, seed uint64, now time.Time, loc *time.Location) *generator {
	return &generator{
		w:    w,
		rng:  rand.New(rand.NewPCG(seed, uint64(w.Subjects)<<32|uint64(w.Entities))),
		now:  now,
		jan1: time.Date(now.In(loc).Year(), time.January, 1, 0, 0, 0, 0, loc),
	}
}

// entityName names entity i.
func entityName(i int) string { return "ent-" + strconv.Itoa(i) }

// next returns the next event: a random entity, a random moment of this
// year so far (a backlog spans the year, and the day curves see every
// day), mostly plain transfers with some processing, sensitive and exempt
// events.
func (g *generator) next(entity string, important bool) event.Event {
	g.seq++
	if entity == "" {
		entity = entityName(g.rng.IntN(g.w.Entities))
	}
	span := g.now.Sub(g.jan1)
	ev := event.Event{
		Schema:        1,
		EventID:       "bench-" + strconv.Itoa(g.seq),
		OccurredAt:    g.jan1.Add(time.Duration(g.rng.Int64N(int64(span)))).UTC().Truncate(time.Millisecond),
		Entity:        entity,
		Kind:          event.KindTransfer,
		Recipient:     "acme-logistics-sg",
		Destination:   "SG",
		Sensitive:     g.rng.IntN(10) == 0,
		ImportantData: important,
		Records:       int64(g.w.Subjects),
		Pipeline:      "crm-export",
	}
	switch r := g.rng.IntN(20); {
	case r < 2:
		ev.Kind, ev.Recipient, ev.Destination = event.KindProcessing, "", ""
	case r == 2:
		ev.Exemption = event.ExemptionContract
	}
	ev.Subjects = make([]string, g.w.Subjects)
	for i := range ev.Subjects {
		ev.Subjects[i] = "customer-" + strconv.Itoa(g.rng.IntN(subjectPool))
	}
	return ev
}

// message encodes ev as a Kafka message (no key: the writer spreads the
// messages over the partitions).
func message(ev event.Event) (kafka.Message, error) {
	v, err := json.Marshal(ev)
	if err != nil {
		return kafka.Message{}, err
	}
	return kafka.Message{Value: v}, nil
}

// thousands formats n with thin separators: 10,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
