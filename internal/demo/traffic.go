package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/config"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// story is one synthetic legal entity: what the registry knows of it, whom
// it sends personal information to, and how its traffic grows.
type story struct {
	entity      config.Entity
	recipient   string
	destination string
	pipeline    string
	// expect is the decision the story is written to reach under cac-2024,
	// the default preset (documentation, and the tests' check of the
	// stories).
	expect policy.Decision
	// importantDaysAgo, when > 0, puts one important-data event this many
	// days before today (or on 1 January, whichever is later).
	importantDaysAgo int
	streams          []stream
}

// stream is one flow of events of a story. Subject identifiers are
// "user-<n>" with n counted from 0 in every stream, so two streams of a
// story share people: a stream of processing in China and one of transfers
// abroad count the same customers.
type stream struct {
	kind      event.Kind
	sensitive bool
	exemption event.Exemption

	// Backlog, from 1 January to now.
	people    int     // distinct people by now
	shape     float64 // the cumulative curve is x^shape: 1 steady, 2 accelerating
	returning float64 // returning people sent per new person
	maxSize   int     // subjects per backlog event at most

	// Live traffic, occurred_at = now.
	every   time.Duration // one live event this often
	size    int           // subjects per live event
	newPer  int           // new people per live event ...
	maxNew  int           // ... until the stream has this many distinct people
	initial time.Duration // first live event this long after the live phase starts

	// recipient, destination and pipeline, when set, replace the story's
	// for this stream's transfers: a second data flow.
	recipient, destination, pipeline string
}

// Entity ids of the stories.
const (
	entityQuiet     = "quietbook-bj"
	entityClimbing  = "acme-sh"
	entitySensitive = "kangning-hz"
	entityCIIO      = "jinghua-grid"
	entityImportant = "novamap-gz"
	entityRenewal   = "lotus-sz"
	entityScope     = "orbitmall-sh"
)

// stories returns the demo's entities; today is the demo's first day in
// the configured time zone (approval dates are relative to it so that the
// stories hold whenever the demo runs).
func stories(today time.Time) []story {
	date := civil.DateOf
	renewalUntil := today.AddDate(0, 0, 60) // within renewal_lead_days (183)
	ciioFrom := today.AddDate(-1, 0, -35)
	contractFrom := today.AddDate(0, 0, -200)
	return []story{
		{
			// Small and steady: a UK office reads the customer list of a
			// publisher that processes many more readers in China.
			entity:      config.Entity{ID: entityQuiet, Name: "Quietbook Publishing (Beijing) Co., Ltd."},
			recipient:   "quietbook-uk",
			destination: "GB",
			pipeline:    "newsletter-export",
			expect:      policy.Allow,
			streams: []stream{
				{kind: event.KindTransfer, people: 3_000, shape: 1, returning: 1, maxSize: 500,
					every: 2 * time.Second, size: 100, newPer: 3, maxNew: 5_000},
				{kind: event.KindProcessing, people: 30_000, shape: 1, returning: 0.2, maxSize: 1000,
					every: 3 * time.Second, size: 200, newPer: 10, maxNew: 40_000, initial: time.Second},
			},
		},
		{
			// Growing fast: its CRM sync to the US parent is at warning
			// level after the backlog and crosses 100,000 people during the
			// demo, with no standard contract: block.
			entity:      config.Entity{ID: entityClimbing, Name: "Acme (Shanghai) Co., Ltd."},
			recipient:   "acme-inc-us",
			destination: "US",
			pipeline:    "crm-sync",
			expect:      policy.Block,
			streams: []stream{
				{kind: event.KindTransfer, people: 86_000, shape: 2, returning: 0.3, maxSize: 1000,
					every: 250 * time.Millisecond, size: 400, newPer: 300, maxNew: 104_000},
			},
		},
		{
			// Health records to a research partner: sensitive personal
			// information of nearly 10,000 patients. Its filed standard
			// contract covers sensitive-any; at 10,000 the law wants a
			// security assessment: warning, then critical.
			entity: config.Entity{ID: entitySensitive, Name: "Kangning Health (Hangzhou) Co., Ltd.", Employees: 2_400,
				Approvals: []config.Approval{{
					Mechanism: config.MechanismStandardContract, Status: config.StatusApproved,
					Reference:  fmt.Sprintf("SC-ZJ-%d-0219", contractFrom.Year()),
					ValidFrom:  date(contractFrom),
					ValidUntil: date(contractFrom.AddDate(3, 0, 0)),
					FiledOn:    date(contractFrom.AddDate(0, 0, 5)), // within 10 working days
				}}},
			recipient:   "kangning-research-sg",
			destination: "SG",
			pipeline:    "clinical-trials-export",
			expect:      policy.Warn,
			streams: []stream{
				{kind: event.KindTransfer, sensitive: true, people: 8_700, shape: 1.5, returning: 0.5, maxSize: 500,
					every: time.Second, size: 120, newPer: 25, maxNew: 9_300},
			},
		},
		{
			// A critical information infrastructure operator: the ciio rule
			// is breached before its first transfer, and its security
			// assessment covers it: allow.
			entity: config.Entity{ID: entityCIIO, Name: "Jinghua Grid Operations Co., Ltd.", CIIO: true,
				Approvals: []config.Approval{{
					Mechanism: config.MechanismSecurityAssessment, Status: config.StatusApproved,
					Reference:  fmt.Sprintf("CAC-%d-0107", ciioFrom.Year()),
					ValidFrom:  date(ciioFrom),
					ValidUntil: date(ciioFrom.AddDate(2, 0, 0)), // legal under both presets
				}}},
			recipient:   "gridsoft-de",
			destination: "DE",
			pipeline:    "meter-support-tickets",
			expect:      policy.Allow,
			streams: []stream{
				{kind: event.KindTransfer, people: 1_500, shape: 1, returning: 1, maxSize: 300,
					every: 3 * time.Second, size: 100, newPer: 2, maxNew: 2_000},
			},
		},
		{
			// A surveying company that once sent survey data classified as
			// important data (重要数据) abroad: block until assessed,
			// whatever exemption the pipeline claims.
			entity:           config.Entity{ID: entityImportant, Name: "NovaMap Surveying (Guangzhou) Co., Ltd."},
			recipient:        "novamap-cloud-us",
			destination:      "US",
			pipeline:         "field-survey-upload",
			expect:           policy.Block,
			importantDaysAgo: 60,
			streams: []stream{
				{kind: event.KindTransfer, people: 6_000, shape: 1, returning: 0.5, maxSize: 500,
					every: 2 * time.Second, size: 150, newPer: 5, maxNew: 8_000},
			},
		},
		{
			// Hotel bookings abroad (necessary to perform a contract, 2024
			// Provisions Art. 5(1)) under a security assessment that expires
			// in 60 days, past its re-application deadline; the renewal is
			// pending, which covers nothing but is the successor applied
			// for: warn.
			entity: config.Entity{ID: entityRenewal, Name: "Lotus Travel (Shenzhen) Co., Ltd.",
				Approvals: []config.Approval{
					{
						Mechanism: config.MechanismSecurityAssessment, Status: config.StatusApproved,
						Reference:  fmt.Sprintf("CAC-%d-0311", renewalUntil.Year()-2),
						ValidFrom:  date(renewalUntil.AddDate(-2, 0, 0)),
						ValidUntil: date(renewalUntil),
					},
					{
						Mechanism: config.MechanismSecurityAssessment, Status: config.StatusPending,
						Reference: fmt.Sprintf("CAC-%d-R0311", today.Year()),
					},
				}},
			recipient:   "lotus-hotels-jp",
			destination: "JP",
			pipeline:    "booking-confirmations",
			expect:      policy.Warn,
			streams: []stream{
				{kind: event.KindTransfer, exemption: event.ExemptionContract, people: 20_000, shape: 1.2, returning: 0.3, maxSize: 800,
					every: time.Second, size: 150, newPer: 10, maxNew: 24_000},
			},
		},
		{
			// An online shop whose standard contract, filed in time, was
			// granted for its US parent only. Its loyalty programme starts
			// sending members to a new partner in Singapore: that flow lies
			// outside the contract's scope, and personal-100k is breached,
			// so the contract does not cover it: block (rule scope).
			entity: config.Entity{ID: entityScope, Name: "Orbit Mall (Shanghai) E-commerce Co., Ltd.",
				Approvals: []config.Approval{{
					Mechanism: config.MechanismStandardContract, Status: config.StatusApproved,
					Reference:  fmt.Sprintf("SC-SH-%d-0588", contractFrom.Year()),
					ValidFrom:  date(contractFrom),
					ValidUntil: date(contractFrom.AddDate(3, 0, 0)),
					FiledOn:    date(contractFrom.AddDate(0, 0, 5)),
					Scope: &config.Scope{Recipients: []string{"orbit-inc-us"}, Destinations: []string{"US"},
						Categories: []string{"personal"}, MaxSubjects: 400_000},
				}}},
			recipient:   "orbit-inc-us",
			destination: "US",
			pipeline:    "order-sync",
			expect:      policy.Block,
			streams: []stream{
				{kind: event.KindTransfer, people: 130_000, shape: 1, returning: 0.2, maxSize: 1000,
					every: time.Second, size: 200, newPer: 20, maxNew: 140_000},
				{kind: event.KindTransfer, people: 20_000, shape: 3, returning: 0.1, maxSize: 500,
					every: 2 * time.Second, size: 100, newPer: 10, maxNew: 25_000,
					recipient: "newco-sg", destination: "SG", pipeline: "loyalty-sync"},
			},
		},
	}
}

// malformed returns the invalid events the demo sends, each with its key:
// they must reach the dead-letter topic and never stop consumption. None
// carries a real subject.
func malformed(now time.Time) []kafka.Message {
	at := func(t time.Time) string { return t.Format(time.RFC3339) }
	return []kafka.Message{
		{ // not JSON: a producer cut the document short
			Key:   []byte(entityQuiet),
			Value: []byte(`{"schema":1,"entity":"` + entityQuiet + `","occurred_at":"` + at(now) + `","subj`),
		},
		{ // missing fields: no recipient, no subjects
			Key:   []byte(entityClimbing),
			Value: []byte(`{"schema":1,"occurred_at":"` + at(now) + `","entity":"` + entityClimbing + `","kind":"transfer"}`),
		},
		{ // bad entity: a display name where the id belongs
			Key: []byte("Acme Shanghai"),
			Value: []byte(`{"schema":1,"occurred_at":"` + at(now) + `","entity":"Acme (Shanghai) Co., Ltd.",` +
				`"recipient":"acme-inc-us","subjects":["demo-invalid-1"]}`),
		},
		{ // a clock three days ahead
			Key: []byte(entityRenewal),
			Value: []byte(`{"schema":1,"occurred_at":"` + at(now.Add(72*time.Hour)) + `","entity":"` + entityRenewal + `",` +
				`"recipient":"lotus-hotels-jp","subjects":["demo-invalid-2"]}`),
		},
	}
}

// trafficStats are the generator's counters, read by the view.
type trafficStats struct {
	events    atomic.Int64 // valid events sent
	subjects  atomic.Int64 // subject occurrences in them
	malformed atomic.Int64 // invalid events sent
	backlog   atomic.Bool  // the year-to-date backlog has been sent
}

// generator produces the stories' events.
type generator struct {
	stories []story
	loc     *time.Location
	now     func() time.Time
	w       writer
	stats   *trafficStats
	rnd     *rand.Rand
	// next[i][j] is the next new person of stream j of story i.
	next [][]int
	seq  int64
	// malformedEvery: one more invalid event this often during live traffic.
	malformedEvery time.Duration
}

// writer is what the generator writes to: *kafka.Writer.
type writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

var _ writer = (*kafka.Writer)(nil)

func newGenerator(st []story, loc *time.Location, now func() time.Time, w writer, stats *trafficStats) *generator {
	g := &generator{
		stories: st, loc: loc, now: now, w: w, stats: stats,
		rnd:            rand.New(rand.NewPCG(20_221_101, 20_240_322)), // reproducible runs
		malformedEvery: 15 * time.Second,
	}
	for _, s := range st {
		g.next = append(g.next, make([]int, len(s.streams)))
	}
	return g
}

// Run sends the backlog, then live traffic until ctx ends.
// An end of ctx is not an error, even in the middle of the backlog.
func (g *generator) Run(ctx context.Context) error {
	err := g.backlog(ctx)
	if err == nil {
		g.stats.backlog.Store(true)
		err = g.live(ctx)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// backlog sends, day by day since 1 January, every story's events with
// occurred_at on that day, then the malformed events.
func (g *generator) backlog(ctx context.Context) error {
	now := g.now().In(g.loc)
	jan1 := time.Date(now.Year(), time.January, 1, 0, 0, 0, 0, g.loc)
	days := now.YearDay() // day indexes 0 .. days-1; the last is today
	var batch []kafka.Message
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := g.write(ctx, batch...)
		batch = batch[:0]
		return err
	}
	for d := range days {
		dayStart := time.Date(jan1.Year(), jan1.Month(), jan1.Day()+d, 0, 0, 0, 0, g.loc)
		for i, s := range g.stories {
			importantDay := -1
			if s.importantDaysAgo > 0 {
				importantDay = max(0, days-1-s.importantDaysAgo)
			}
			for j, str := range s.streams {
				target := cumulative(str.people, str.shape, d+1, days)
				fresh := target - g.next[i][j]
				ret := 0
				if g.next[i][j] > 0 {
					ret = int(math.Round(float64(fresh) * str.returning))
				}
				total := fresh + ret
				for n := 0; total > 0; n++ {
					size := min(total, str.maxSize)
					newHere := min(fresh, size)
					at := occurredAt(dayStart, now, n)
					e := g.event(i, j, at, newHere, size-newHere)
					e.ImportantData = d == importantDay && j == 0 && n == 0
					fresh -= newHere
					total -= size
					batch = append(batch, g.message(e))
				}
			}
		}
		if len(batch) >= 200 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	bad := malformed(now)
	if err := g.write(ctx, bad...); err != nil {
		return err
	}
	g.stats.malformed.Add(int64(len(bad)))
	return nil
}

// live sends each stream's events at its pace, with occurred_at now, and
// one malformed event every malformedEvery.
func (g *generator) live(ctx context.Context) error {
	start := g.now()
	due := make([][]time.Time, len(g.stories))
	for i, s := range g.stories {
		for _, str := range s.streams {
			due[i] = append(due[i], start.Add(str.initial))
		}
	}
	nextBad := start.Add(g.malformedEvery)
	badIdx := 0
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		now := g.now()
		var batch []kafka.Message
		for i, s := range g.stories {
			for j, str := range s.streams {
				if now.Before(due[i][j]) {
					continue
				}
				due[i][j] = due[i][j].Add(str.every)
				if due[i][j].Before(now) { // fell behind: do not burst
					due[i][j] = now.Add(str.every)
				}
				fresh := max(0, min(str.newPer, str.maxNew-g.next[i][j]))
				batch = append(batch, g.message(g.event(i, j, now, fresh, str.size-fresh)))
			}
		}
		if !now.Before(nextBad) {
			nextBad = nextBad.Add(g.malformedEvery)
			bad := malformed(now)
			batch = append(batch, bad[badIdx%len(bad)])
			badIdx++
			g.stats.malformed.Add(1)
		}
		if len(batch) > 0 {
			if err := g.write(ctx, batch...); err != nil {
				return err
			}
		}
	}
}

// write sends messages and counts the valid ones.
func (g *generator) write(ctx context.Context, msgs ...kafka.Message) error {
	if err := g.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("send synthetic events: %w", err)
	}
	return nil
}

// event builds an event of stream j of story i with fresh new people and
// ret returning ones.
func (g *generator) event(i, j int, at time.Time, fresh, ret int) event.Event {
	s, str := g.stories[i], g.stories[i].streams[j]
	subjects := make([]string, 0, fresh+ret)
	first := g.next[i][j]
	for n := range fresh {
		subjects = append(subjects, subjectID(first+n))
	}
	g.next[i][j] += fresh
	if first > 0 {
		for range ret {
			subjects = append(subjects, subjectID(g.rnd.IntN(first)))
		}
	}
	g.seq++
	e := event.Event{
		Schema:     1,
		EventID:    "demo-" + strconv.FormatInt(g.seq, 10),
		OccurredAt: at.In(g.loc).Truncate(time.Millisecond),
		Entity:     s.entity.ID,
		Kind:       str.kind,
		Subjects:   subjects,
		Sensitive:  str.sensitive,
		Exemption:  str.exemption,
		Records:    int64(len(subjects)) * 3,
		Pipeline:   s.pipeline,
	}
	if str.kind == event.KindTransfer {
		e.Recipient, e.Destination = s.recipient, s.destination
		if str.recipient != "" {
			e.Recipient, e.Destination = str.recipient, str.destination
		}
	}
	if str.pipeline != "" {
		e.Pipeline = str.pipeline
	}
	return e
}

// message encodes a valid event, keyed by its entity, and counts it.
func (g *generator) message(e event.Event) kafka.Message {
	v, err := json.Marshal(e)
	if err != nil { // cannot happen: every field marshals
		panic(fmt.Sprintf("demo: encode event: %v", err))
	}
	g.stats.events.Add(1)
	g.stats.subjects.Add(int64(len(e.Subjects)))
	return kafka.Message{Key: []byte(e.Entity), Value: v}
}

// subjectID is the identifier of synthetic person n.
func subjectID(n int) string { return "user-" + strconv.Itoa(n) }

// cumulative returns how many distinct people a stream of people by day
// total has reached by the end of day d (1 ≤ d ≤ total) on the curve
// (d/total)^shape.
func cumulative(people int, shape float64, d, total int) int {
	if total <= 0 || d >= total {
		return people
	}
	return int(math.Round(float64(people) * math.Pow(float64(d)/float64(total), shape)))
}

// occurredAt returns the time of the n-th backlog event of a day: during
// working hours, or spread over the part of today already past.
func occurredAt(dayStart, now time.Time, n int) time.Time {
	t := dayStart.Add(9*time.Hour + time.Duration(n)*7*time.Minute)
	if !t.Before(now) {
		// Today, before 09:00 or late in the series: somewhere in the past.
		span := now.Sub(dayStart)
		t = dayStart.Add(span * time.Duration(n+1) / time.Duration(n+2))
	}
	return t
}
