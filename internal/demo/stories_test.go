package demo

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/app"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/subject"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// TestStoriesDecide sends the year-to-date backlog through sketches and
// the policy of the demo's configuration (the default preset, cac-2024)
// and checks what each story reaches: its expected decision, except the
// climbing entity, which is at warning after the backlog and crosses into
// block during the live phase.
func TestStoriesDecide(t *testing.T) {
	loc := shanghai(t)
	now := time.Date(2026, time.November, 25, 11, 5, 0, 0, loc)
	s, err := loadConfig(Options{Getenv: func(string) string { return "" }}, now)
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.Policy.Preset != policy.PresetCAC2024 {
		t.Fatalf("demo preset %s, want the default cac-2024", s.cfg.Policy.Preset)
	}
	settings, err := app.PolicySettings(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	registry := map[string]policy.Entity{}
	for _, e := range app.Registry(s.cfg) {
		registry[e.ID] = e
	}

	rec := &recorder{}
	g := newGenerator(s.stories, loc, func() time.Time { return now }, rec, &trafficStats{})
	if err := g.backlog(context.Background()); err != nil {
		t.Fatal(err)
	}
	hasher := subject.New(subject.Key(s.cfg.SubjectKey))
	batch := sketch.Batch{}
	for i, m := range rec.messages() {
		e, err := event.Decode(m.Value, now)
		if err != nil {
			continue // the malformed ones
		}
		year, day := sketch.DayOf(e.OccurredAt, loc)
		hashes := hasher.AppendSums(nil, e.Subjects)
		batch.Add(e.Entity, year, day, sketch.CellOf(e.Kind, e.Sensitive, e.Exempt()), e.ImportantData, hashes)
		if e.Kind == event.KindTransfer {
			batch.AddFlow(e.Entity, year, sketch.FlowKey{Recipient: e.Recipient, Destination: e.Destination, Exempt: e.Exempt()},
				sketch.EventHash("events", 0, int64(i)), e.OccurredAt.Unix(), e.Pipeline, hashes)
		}
	}
	thisYear, today := sketch.DayOf(now, loc)
	for _, st := range s.stories {
		t.Run(st.entity.ID, func(t *testing.T) {
			h := sketch.History{}
			for k, y := range batch {
				if k.Entity == st.entity.ID {
					h[k.Year] = y
				}
			}
			e := registry[st.entity.ID]
			status := policy.Evaluate(settings, e, policy.Observe(settings, e, h, thisYear, today, nil), now)
			want := st.expect
			if st.entity.ID == entityClimbing {
				want = policy.Warn
				if st.streams[0].maxNew < 100_000 {
					t.Errorf("%s reaches only %d people live: never block", st.entity.ID, st.streams[0].maxNew)
				}
			}
			if status.Decision != want {
				t.Errorf("%s after the backlog: %s, want %s; reasons %q", st.entity.ID, status.Decision, want, status.Reasons)
			}
			if st.entity.ID == entityScope && !slices.ContainsFunc(status.Reasons, func(r string) bool {
				return strings.HasPrefix(r, "scope breached: transfer to newco-sg (SG), personal, ") &&
					strings.HasSuffix(r, " is outside the scope of SC-SH-"+strconv.Itoa(now.AddDate(0, 0, -200).Year())+"-0588")
			}) {
				t.Errorf("%s: no scope reason naming newco-sg in %q", st.entity.ID, status.Reasons)
			}
		})
	}
}
