package demo

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// recorder is a writer that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []kafka.Message
}

func (r *recorder) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msgs...)
	return nil
}

func (r *recorder) messages() []kafka.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]kafka.Message(nil), r.msgs...)
}

func shanghai(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestBacklog checks the year-to-date backlog: every valid event decodes,
// lies between 1 January and now, and is keyed by its entity; each story
// reaches its number of people; exactly one important-data event; the
// malformed events are all invalid; the volume stays modest.
func TestBacklog(t *testing.T) {
	loc := shanghai(t)
	for _, now := range []time.Time{
		time.Date(2026, time.November, 25, 11, 5, 0, 0, loc),
		time.Date(2026, time.January, 1, 0, 30, 0, 0, loc), // first day of the year, before 09:00
		time.Date(2027, time.March, 3, 23, 59, 0, 0, loc),
	} {
		t.Run(now.Format(time.DateTime), func(t *testing.T) {
			rec := &recorder{}
			stats := &trafficStats{}
			st := stories(now)
			g := newGenerator(st, loc, func() time.Time { return now }, rec, stats)
			if err := g.backlog(context.Background()); err != nil {
				t.Fatal(err)
			}
			jan1 := time.Date(now.Year(), time.January, 1, 0, 0, 0, 0, loc)
			people := map[string]map[string]bool{}
			var important, invalid, occurrences int
			for _, m := range rec.messages() {
				e, err := event.Decode(m.Value, now)
				if err != nil {
					if _, ok := errors.AsType[*event.Error](err); !ok {
						t.Errorf("decode error %v is not an *event.Error", err)
					}
					invalid++
					continue
				}
				if string(m.Key) != e.Entity {
					t.Errorf("key %q, entity %q", m.Key, e.Entity)
				}
				if e.OccurredAt.Before(jan1) || e.OccurredAt.After(now) {
					t.Errorf("%s: occurred_at %s outside [%s, %s]", e.Entity, e.OccurredAt, jan1, now)
				}
				if n := len(e.Subjects); n < 1 || n > 1000 {
					t.Errorf("%s: %d subjects", e.Entity, n)
				}
				if e.ImportantData {
					important++
					if e.Entity != entityImportant {
						t.Errorf("important data from %s", e.Entity)
					}
				}
				if e.Kind != event.KindTransfer {
					continue
				}
				if people[e.Entity] == nil {
					people[e.Entity] = map[string]bool{}
				}
				for _, s := range e.Subjects {
					people[e.Entity][s] = true
				}
				occurrences += len(e.Subjects)
			}
			if want := len(malformed(now)); invalid != want || stats.malformed.Load() != int64(want) {
				t.Errorf("invalid events: %d decoded, %d counted; want %d", invalid, stats.malformed.Load(), want)
			}
			if important != 1 {
				t.Errorf("important-data events: %d, want 1", important)
			}
			for _, s := range st {
				if got, want := len(people[s.entity.ID]), s.streams[0].people; got != want {
					t.Errorf("%s: %d distinct people transferred, want %d", s.entity.ID, got, want)
				}
			}
			if occurrences > 400_000 {
				t.Errorf("backlog of %d subject occurrences: too much for a demo on 2 cores", occurrences)
			}
			if stats.events.Load() != int64(len(rec.messages())-invalid) {
				t.Errorf("events counted %d, sent %d", stats.events.Load(), len(rec.messages())-invalid)
			}
		})
	}
}

// TestMalformed checks that each malformed event is invalid for the reason
// it stands for.
func TestMalformed(t *testing.T) {
	now := time.Now()
	wantField := []string{"event", "recipient", "entity", "occurred_at"}
	bad := malformed(now)
	if len(bad) != len(wantField) {
		t.Fatalf("%d malformed events, want %d", len(bad), len(wantField))
	}
	for i, m := range bad {
		_, err := event.Decode(m.Value, now)
		var ee *event.Error
		if !errors.As(err, &ee) || ee.Field != wantField[i] {
			t.Errorf("malformed[%d]: error %v, want one on field %q", i, err, wantField[i])
		}
	}
}

// TestLive checks the live phase: events with occurred_at now, a malformed
// event now and then, and no new people past a stream's maxNew.
func TestLive(t *testing.T) {
	loc := shanghai(t)
	start := time.Date(2026, time.November, 25, 11, 5, 0, 0, loc)
	var mu sync.Mutex
	now := start
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(100 * time.Millisecond) // time runs fast
		return now
	}
	rec := &recorder{}
	stats := &trafficStats{}
	g := newGenerator(stories(start), loc, clock, rec, stats)
	g.malformedEvery = 2 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.live(ctx) }()
	deadline := time.After(30 * time.Second)
	for stats.malformed.Load() < 3 {
		select {
		case <-deadline:
			t.Fatal("no malformed events in the live phase")
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	entities := map[string]int{}
	for _, m := range rec.messages() {
		e, err := event.Decode(m.Value, start.Add(time.Hour))
		if err != nil {
			continue
		}
		if e.OccurredAt.Before(start) {
			t.Errorf("live event of %s at %s, before the live phase", e.Entity, e.OccurredAt)
		}
		entities[e.Entity]++
	}
	for _, s := range stories(start) {
		if entities[s.entity.ID] == 0 {
			t.Errorf("no live event of %s", s.entity.ID)
		}
	}
	for i, s := range g.stories {
		for j, str := range s.streams {
			if g.next[i][j] > max(str.maxNew, str.people) {
				t.Errorf("%s stream %d: %d people, beyond %d", s.entity.ID, j, g.next[i][j], str.maxNew)
			}
		}
	}
}

// TestStoriesCover checks that the stories tell every decision.
func TestStoriesCover(t *testing.T) {
	seen := map[policy.Decision]bool{}
	var ciio, renewal bool
	for _, s := range stories(time.Now()) {
		seen[s.expect] = true
		ciio = ciio || s.entity.CIIO
		for _, a := range s.entity.Approvals {
			renewal = renewal || (a.Status == "approved" && a.ValidUntil.Time(time.UTC).Before(time.Now().AddDate(0, 0, 183)))
		}
		if _, err := json.Marshal(s.entity); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range policy.Decisions() {
		if !seen[d] {
			t.Errorf("no story reaches %s", d)
		}
	}
	if !ciio || !renewal {
		t.Errorf("ciio story %v, renewal story %v", ciio, renewal)
	}
}

func TestCumulative(t *testing.T) {
	for _, tc := range []struct {
		people   int
		shape    float64
		d, total int
		want     int
	}{
		{1000, 1, 1, 10, 100},
		{1000, 2, 5, 10, 250},
		{1000, 2, 10, 10, 1000},
		{1000, 1, 1, 1, 1000},
		{1000, 1, 3, 0, 1000},
	} {
		if got := cumulative(tc.people, tc.shape, tc.d, tc.total); got != tc.want {
			t.Errorf("cumulative(%d, %v, %d, %d) = %d, want %d", tc.people, tc.shape, tc.d, tc.total, got, tc.want)
		}
	}
}
