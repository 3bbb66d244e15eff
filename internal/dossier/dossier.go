// Package dossier assembles everything a compliance officer needs about one
// entity at one moment: the entity and its approvals as a timeline, every
// counter and rule, the daily series of distinct people with its thresholds
// and forecast, the start-by dates of an application, the flows, the
// decision history, the counting method and its measured error, the
// process plan, the document checklist, the configuration fingerprint and
// the build. The evidence pack (package report) renders a Dossier as HTML,
// JSON and CSV; the compliance console shows the same Dossier.
//
// A Dossier is built from the store (Source), the policy settings and
// registry of the configuration, and a clock; Build is pure apart from the
// store reads. Everything legal comes from package policy: the dossier
// evaluates the entity with the configured preset exactly as the decider
// does, and derives the forecast line from policy.EstimateGrowth.
//
// Labels are keys of the i18n catalogue (package i18n), so that one Dossier
// reads in English and in Chinese.
package dossier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/transferwatch/transferwatch/internal/buildinfo"
	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// Source is what a dossier reads from the store.
type Source interface {
	History(ctx context.Context, entity string, years ...int) (sketch.History, error)
	Seen(ctx context.Context, entity string) (bool, error)
	Decision(ctx context.Context, entity string) (store.Decision, error)
	DecisionHistory(ctx context.Context, entity string, n int) ([]store.Message, error)
}

var _ Source = store.Store(nil)

// ErrUnknownEntity is returned for an entity neither configured nor in the
// store.
var ErrUnknownEntity = errors.New("entity neither configured nor seen")

// ErrUnverified is returned, wrapping Options.Check's error, when the
// figures cannot be vouched for: a pack would otherwise show a decision
// the service withholds from the pipelines.
var ErrUnverified = errors.New("the figures cannot be vouched for")

// Options of a Builder.
type Options struct {
	Settings policy.Settings
	// Entities is the registry of the configuration.
	Entities []policy.Entity
	// Fingerprint is the sha256 of the effective configuration with its
	// secrets redacted (see Fingerprint).
	Fingerprint string
	// Build is the build of the binary; zero: buildinfo.Get().
	Build buildinfo.Info
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Check, when set, is asked first by Build: an error fails the build
	// with ErrUnverified. The service sets it to the decision endpoint's
	// reasons to answer 503 (not evaluated yet, the store unreachable or
	// its integrity in doubt, figures too old), so that no evidence pack
	// and no console page states a decision the pipelines are not given.
	// A program that verified the store itself (transferwatch report)
	// leaves it nil.
	Check func(id string, now time.Time) error
}

// Builder builds dossiers.
type Builder struct {
	src      Source
	o        Options
	registry map[string]policy.Entity
}

// New returns a Builder reading src.
func New(src Source, o Options) *Builder {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Build == (buildinfo.Info{}) {
		o.Build = buildinfo.Get()
	}
	reg := make(map[string]policy.Entity, len(o.Entities))
	for _, e := range o.Entities {
		reg[e.ID] = e
	}
	return &Builder{src: src, o: o, registry: reg}
}

// Dossier is everything about one entity at GeneratedAt. It marshals to the
// JSON of the evidence pack.
type Dossier struct {
	// GeneratedAt is when the dossier was built, in the configured time
	// zone, whole seconds; Today is its day.
	GeneratedAt time.Time   `json:"generated_at"`
	Today       policy.Date `json:"today"`
	Entity      EntityInfo  `json:"entity"`
	// Status is the entity's EntityStatus evaluated now with the
	// configured preset: decision, reasons, counters, rules, approvals.
	Status policy.Status `json:"status"`
	// Recorded is the decision last recorded in the store (and published);
	// Version 0 when none.
	Recorded Recorded `json:"recorded"`
	// Timeline is the approvals and their dates, and the start-by dates,
	// in date order.
	Timeline []Event `json:"timeline"`
	// Series are the daily series of distinct people, one per counter and
	// window a rule holds (and personal since 1 January).
	Series []Series `json:"series"`
	// StartBy are the application windows of the rules forecast to cross.
	StartBy []StartBy `json:"start_by"`
	// Flows are the flows of the preset's window.
	Flows []policy.FlowReport `json:"flows"`
	// History is the decision history, newest first.
	History []policy.Change `json:"history"`
	Method  Method          `json:"method"`
	// Plans are the applications the entity needs or will need, and the
	// renewals of its security assessments.
	Plans     []Plan          `json:"plans"`
	Checklist []ChecklistItem `json:"checklist"`
	Config    ConfigInfo      `json:"config"`
	Build     buildinfo.Info  `json:"build"`
}

// EntityInfo is the registry entry of the entity.
type EntityInfo struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	CIIO              bool   `json:"ciio"`
	FTZ               string `json:"ftz"`
	Employees         int    `json:"employees"`
	ProcessedSubjects uint64 `json:"processed_subjects"`
	// Configured: the entity is in the configuration (else only seen in
	// the store: no approvals).
	Configured bool `json:"configured"`
}

// Recorded is the decision record of the store.
type Recorded struct {
	Version   int64      `json:"version"`
	Decision  string     `json:"decision"`
	DecidedAt *time.Time `json:"decided_at"`
	// Pending is how many change messages wait to be published.
	Pending int `json:"pending"`
}

// ConfigInfo is what of the configuration the dossier rests on.
type ConfigInfo struct {
	Preset           string `json:"preset"`
	Estimate         string `json:"estimate"` // upper_bound | point
	Levels           Levels `json:"levels"`
	RenewalLeadDays  int    `json:"renewal_lead_days"`
	ForecastLeadDays int    `json:"forecast_lead_days"`
	Timezone         string `json:"timezone"`
	// Fingerprint is the sha256 (hex) of the effective configuration
	// with secrets redacted.
	Fingerprint string `json:"fingerprint"`
}

// Build returns the dossier of entity id now. It returns ErrUnknownEntity
// for an entity neither configured nor in the store, and the store's error
// when it cannot be read.
func (b *Builder) Build(ctx context.Context, id string) (*Dossier, error) {
	return b.BuildAt(ctx, id, b.o.Now())
}

// BuildAt is Build at time now.
func (b *Builder) BuildAt(ctx context.Context, id string, now time.Time) (*Dossier, error) {
	s := b.o.Settings
	loc := s.Location
	if loc == nil {
		loc = time.UTC
	}
	now = now.In(loc).Truncate(time.Second)
	if !event.ValidEntityID(id) { // 404 before any check or store read
		return nil, fmt.Errorf("%w: %q is not an entity id", ErrUnknownEntity, id)
	}
	if b.o.Check != nil {
		if err := b.o.Check(id, now); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnverified, err)
		}
	}
	e, configured, err := b.entity(ctx, id)
	if err != nil {
		return nil, err
	}
	thisYear, day := sketch.DayOf(now, loc)
	hist, err := b.src.History(ctx, id, thisYear-1, thisYear)
	if err != nil {
		return nil, fmt.Errorf("read the sketches: %w", err)
	}
	need := chartSeries(s.Preset)
	obs := policy.Observe(s, e, hist, thisYear, day, func(w sketch.Window, k sketch.Counter) bool { return need[seriesKey{w, k}] })
	st := policy.Evaluate(s, e, obs, now)

	rec, err := b.src.Decision(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read the decision record: %w", err)
	}
	changes, err := History(ctx, b.src, id, store.DecisionHistoryLen)
	if err != nil {
		return nil, err
	}

	today := civil.DateOf(now)
	d := &Dossier{
		GeneratedAt: now,
		Today:       today,
		Entity: EntityInfo{ID: e.ID, Name: e.Name, CIIO: e.CIIO, FTZ: e.FTZ, Employees: e.Employees,
			ProcessedSubjects: e.ProcessedSubjects, Configured: configured},
		Status:   st,
		Recorded: Recorded{Version: rec.Version, Decision: rec.Decision, Pending: rec.Pending},
		Flows:    st.Flows,
		History:  changes,
		Method:   NewMethod(),
		Config: ConfigInfo{
			Preset: s.Preset.Name, Estimate: "upper_bound", Levels: levelsOf(s.Levels),
			RenewalLeadDays: s.RenewalLeadDays, ForecastLeadDays: s.ForecastLeadDays,
			Timezone: loc.String(), Fingerprint: b.o.Fingerprint,
		},
		Build: b.o.Build,
	}
	if s.UsePoint {
		d.Config.Estimate = "point"
	}
	if d.Flows == nil {
		d.Flows = []policy.FlowReport{}
	}
	if !rec.DecidedAt.IsZero() {
		at := rec.DecidedAt.In(loc)
		d.Recorded.DecidedAt = &at
	}
	d.Series = NewSeries(s, st, obs, today)
	d.StartBy = StartByDates(st, today)
	d.Plans = NewPlans(s.Preset.Name, st, d.StartBy, today)
	d.Timeline = NewTimeline(e, st, d.StartBy)
	d.Checklist = Checklist()
	return d, nil
}

// entity returns the registry entry of id, or the entry of an entity seen
// in the store but not configured; ErrUnknownEntity if neither.
func (b *Builder) entity(ctx context.Context, id string) (e policy.Entity, configured bool, err error) {
	if !event.ValidEntityID(id) {
		return policy.Entity{}, false, fmt.Errorf("%w: %q is not an entity id", ErrUnknownEntity, id)
	}
	if e, ok := b.registry[id]; ok {
		return e, true, nil
	}
	seen, err := b.src.Seen(ctx, id)
	if err != nil {
		return policy.Entity{}, false, fmt.Errorf("read the store: %w", err)
	}
	if !seen {
		return policy.Entity{}, false, fmt.Errorf("%w: %q", ErrUnknownEntity, id)
	}
	return policy.Entity{ID: id}, false, nil
}

// History returns up to n of the entity's decision changes, newest first
// (an empty list for an entity never decided); ErrUnknownEntity for an
// entity neither configured nor in the store.
func (b *Builder) History(ctx context.Context, id string, n int) ([]policy.Change, error) {
	if _, _, err := b.entity(ctx, id); err != nil {
		return nil, err
	}
	return History(ctx, b.src, id, n)
}

// HistoryReader reads the decision history of the store.
type HistoryReader interface {
	DecisionHistory(ctx context.Context, entity string, n int) ([]store.Message, error)
}

// History returns up to n of the entity's decision changes, newest first,
// as the store keeps them (never nil).
func History(ctx context.Context, src HistoryReader, id string, n int) ([]policy.Change, error) {
	msgs, err := src.DecisionHistory(ctx, id, n)
	if err != nil {
		return nil, fmt.Errorf("read the decision history: %w", err)
	}
	out := make([]policy.Change, 0, len(msgs))
	for _, m := range msgs {
		var c policy.Change
		if err := json.Unmarshal(m.Value, &c); err != nil {
			return nil, fmt.Errorf("decision history of %q, version %d: %w", id, m.Version, err)
		}
		c.Version = m.Version
		if c.Reasons == nil {
			c.Reasons = []string{}
		}
		out = append(out, c)
	}
	return out, nil
}

// Levels are the fractions of a threshold of the levels notice, warning
// and critical.
type Levels struct {
	Notice   float64 `json:"notice"`
	Warning  float64 `json:"warning"`
	Critical float64 `json:"critical"`
}

func levelsOf(l policy.Levels) Levels {
	if l == (policy.Levels{}) {
		l = policy.DefaultLevels()
	}
	return Levels{Notice: l.Notice, Warning: l.Warning, Critical: l.Critical}
}

// seriesKey names one daily series: a counter over a window.
type seriesKey struct {
	w sketch.Window
	k sketch.Counter
}

// chartSeries returns the series a dossier draws: those the preset's rules
// forecast from, and personal since 1 January.
func chartSeries(p policy.Preset) map[seriesKey]bool {
	need := map[seriesKey]bool{{sketch.CurrentYear, sketch.Personal}: true}
	for _, r := range p.Rules {
		if forecastable(r) {
			need[seriesKey{r.Window, r.Counter}] = true
		}
	}
	return need
}

// forecastable reports whether policy.Evaluate forecasts rule r.
func forecastable(r policy.Rule) bool {
	return !r.ImportantData && !r.Binary() && r.Exemption == "" && !r.CIIOOnly
}

// round returns v rounded to a whole number of people (0 for NaN).
func round(v float64) uint64 {
	if math.IsNaN(v) || v <= 0 {
		return 0
	}
	if v >= math.MaxUint64/2 {
		return math.MaxUint64 / 2
	}
	return uint64(math.Round(v))
}
