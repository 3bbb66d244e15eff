// Package demo runs the whole of transferwatch on embedded defaults, with
// nothing to install: `transferwatch demo` (and `make run`).
//
// It starts an in-process Kafka-protocol broker (kfake) with the events,
// dead-letter and decisions topics; runs the real service on it (app.Run:
// ingest, sketches in an in-process store or in Redis when TW_REDIS_ADDRS is
// set, policy, decisions, HTTP API and metrics); feeds it synthetic traffic
// of a handful of entities with different stories (a year-to-date backlog
// sent fast, then steady traffic, and a few malformed events); and shows
// what happens: a live view redrawn in place on a terminal, plain lines
// otherwise, and a summary when it stops.
//
// The demo hashes subjects with a fixed, public key and says so in its
// log: never point it at real data.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/term"

	"github.com/transferwatch/transferwatch/internal/app"
	"github.com/transferwatch/transferwatch/internal/decide"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/store"
	"github.com/transferwatch/transferwatch/internal/store/memstore"
	"github.com/transferwatch/transferwatch/pkg/decision"
)

// Options of a demo run.
type Options struct {
	// ConfigPath, if set, is a configuration file used instead of the
	// defaults; the demo still runs its own broker and adds its entities.
	ConfigPath string
	// HTTPAddr overrides http.addr (default localhost:8080, or a free port
	// when that is busy).
	HTTPAddr string
	// Duration, if positive, stops the demo by itself after this long.
	Duration time.Duration
	// Getenv reads the environment (os.Getenv); nil means none.
	Getenv func(string) string
	// Out receives the view: live and in color when it is a terminal,
	// plain lines otherwise.
	Out io.Writer
	// Logger receives the service's logs (JSON on stderr).
	Logger *slog.Logger
}

// drainTimeout bounds the reading of the last decisions and dead letters
// after the service stopped.
const drainTimeout = 5 * time.Second

// Run runs the demo until ctx ends or Duration passes, then prints a
// summary. Both are a clean stop: it returns nil. It returns an error when
// the demo cannot start or the service fails.
func Run(ctx context.Context, o Options) error {
	began := time.Now()
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	log := o.Logger.With("component", "demo")

	s, err := loadConfig(o, began)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	cfg := s.cfg
	if s.demoKey {
		log.Warn("demo subject key in use; never use it in production",
			"hint", "the service requires TW_SUBJECT_KEY or subject_key_file")
	}
	if s.ignoredBrokers {
		log.Warn("the demo runs its own in-process broker; TW_KAFKA_BROKERS is ignored",
			"hint", "use `transferwatch run` against a real Kafka")
	}

	cluster, brokerNote, err := startBroker(cfg.Kafka)
	if err != nil {
		return err
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]
	cfg.Kafka.Brokers = []string{broker}

	ln, httpNote, err := listenHTTP(cfg.HTTP.Addr, s.httpExplicit)
	if err != nil {
		return err
	}
	var st store.Store
	storeDesc := "in-process (set TW_REDIS_ADDRS=host:6379 to keep the sketches in Redis)"
	if s.redis {
		storeDesc = fmt.Sprintf("Redis %s (keys %s:*)", strings.Join(cfg.Redis.Addrs, ","), cfg.Redis.KeyPrefix)
	} else {
		st = memstore.New()
	}
	log.Info("demo starting", "broker", broker, "http", ln.Addr().String(), "redis", s.redis,
		"policy", cfg.Policy.Preset, "timezone", cfg.Timezone)

	// The view.
	v := &view{
		out:   o.Out,
		loc:   cfg.Location,
		width: func() int { return 120 },
		info: info{
			broker: broker, brokerNote: brokerNote,
			http: ln.Addr().String(), httpNote: httpNote,
			topic: cfg.Kafka.Topic, dlq: cfg.Kafka.DeadLetterTopic, out: cfg.Kafka.DecisionsTopic,
			store:  storeDesc,
			token:  cfg.APIToken != "",
			policy: cfg.Policy.Preset, timezone: cfg.Timezone,
			duration: o.Duration,
		},
	}
	appLog := o.Logger
	if fd, ok := terminal(o.Out); ok && getenv("TERM") != "dumb" {
		v.tty = true
		v.color = getenv("NO_COLOR") == ""
		v.width = func() int {
			if w, _, err := term.GetSize(fd); err == nil && w > 0 {
				return w
			}
			return 120
		}
		if term.IsTerminal(int(os.Stderr.Fd())) {
			// The logs would scroll the live view away: keep only warnings
			// and errors while it has the terminal.
			log.Info("the live view has the terminal: logs below warn are hidden; redirect stderr to keep them")
			appLog = slog.New(minLevel{h: o.Logger.Handler(), min: slog.LevelWarn})
		}
	}

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	if o.Duration > 0 {
		runCtx, cancelRun = context.WithTimeout(ctx, o.Duration)
		defer cancelRun()
	}

	// The service.
	reg := prometheus.NewRegistry()
	var decider atomic.Pointer[decide.Decider]
	started := make(chan struct{})
	var startOnce sync.Once
	appCtx, stopApp := context.WithCancel(context.WithoutCancel(ctx))
	defer stopApp()
	appDone := make(chan error, 1)
	go func() {
		appDone <- app.Run(appCtx, app.Options{
			Config:   cfg,
			Logger:   appLog,
			Registry: reg,
			Store:    st,
			Listener: ln,
			Started:  func(string) { startOnce.Do(func() { close(started) }) },
			Decider:  func(d *decide.Decider) { decider.Store(d) },
		})
	}()

	// The readers of the decisions and dead-letter topics.
	readCtx, stopRead := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRead()
	decisions := newTail(broker, cfg.Kafka.DecisionsTopic)
	dead := newTail(broker, cfg.Kafka.DeadLetterTopic)
	go decisions.run(readCtx)
	go dead.run(readCtx)

	// The traffic, once the service is up.
	stats := &trafficStats{}
	w := &kafka.Writer{
		Addr:         kafka.TCP(broker),
		Topic:        cfg.Kafka.Topic,
		Balancer:     &kafka.Hash{}, // key = entity
		BatchTimeout: 5 * time.Millisecond,
		BatchSize:    200,
		RequiredAcks: kafka.RequireOne,
	}
	defer w.Close()
	gen := newGenerator(s.stories, cfg.Location, time.Now, w, stats)
	genCtx, stopGen := context.WithCancel(runCtx)
	defer stopGen()
	genDone := make(chan error, 1)
	go func() {
		select {
		case <-started:
			genDone <- gen.Run(genCtx)
		case <-genCtx.Done():
			genDone <- nil
		}
	}()

	// The stop sequence: stop the traffic, stop the service (it flushes and
	// commits), read the last decisions and dead letters, stop the readers.
	// The view keeps consuming meanwhile, so the readers never block.
	result := make(chan error, 1)
	go func() {
		var errs []error
		appStopped := false
		select {
		case <-runCtx.Done():
		case err := <-appDone:
			appStopped = true
			errs = append(errs, serviceError(err))
		case err := <-genDone:
			genDone <- nil // for the wait below
			if err != nil {
				errs = append(errs, err)
			}
		}
		stopGen()
		if err := <-genDone; err != nil { // an error it met before the stop
			errs = append(errs, err)
		}
		stopApp()
		if !appStopped {
			if err := <-appDone; err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, serviceError(err))
			}
		}
		dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		for _, t := range []*tail{decisions, dead} {
			if err := t.catchUp(dctx); err != nil {
				log.Warn("could not read to the end of a topic", "topic", t.topic, "err", err)
			}
		}
		cancel()
		stopRead()
		result <- errors.Join(errs...)
	}()

	v.start()
	every := refreshPlain
	if v.tty {
		every = refreshTTY
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	rates := &rater{}
	snap := func() snapshot {
		now := time.Now()
		sn := snapshot{now: now, up: now.Sub(began)}
		if d := decider.Load(); d != nil {
			sn.statuses = d.Statuses()
		}
		sn.consumed, sn.invalid, sn.subjects = gather(reg)
		sn.rate, sn.subjRate = rates.add(now, sn.consumed, sn.subjects)
		sn.sent, sn.sentSubj, sn.malformed = stats.events.Load(), stats.subjects.Load(), stats.malformed.Load()
		sn.backlog = stats.backlog.Load()
		return sn
	}
	decOut, deadOut := decisions.out, dead.out
	for decOut != nil || deadOut != nil {
		select {
		case m, ok := <-decOut:
			if !ok {
				decOut = nil
				continue
			}
			var sig decision.Signal
			if err := json.Unmarshal(m.Value, &sig); err != nil {
				log.Warn("unreadable decision record", "offset", m.Offset, "err", err)
				continue
			}
			at := m.Time
			if !sig.DecidedAt.IsZero() {
				at = sig.DecidedAt
			}
			v.decision(sig, at)
		case m, ok := <-deadOut:
			if !ok {
				deadOut = nil
				continue
			}
			v.deadLetter(m)
		case <-tick.C:
			v.refresh(snap())
		}
	}
	err = <-result
	last := snap()
	v.last = last
	if v.tty {
		v.frame(last)
	}
	v.stop()
	var final []policy.Status
	if d := decider.Load(); d != nil {
		final = d.Statuses()
	}
	v.summary(o.Out, time.Since(began), final)
	if err != nil {
		return err
	}
	log.Info("demo stopped", "dead_letters", v.deadLetters, "decision_changes", len(v.changes))
	return nil
}

// serviceError wraps an error of the service.
func serviceError(err error) error {
	if err == nil {
		return errors.New("the service stopped by itself")
	}
	return fmt.Errorf("service: %w", err)
}

// terminal reports whether w is a terminal, and its file descriptor.
func terminal(w io.Writer) (int, bool) {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// gather reads the ingest counters from the service's registry: events
// consumed (valid and invalid), invalid events, subject occurrences.
func gather(g prometheus.Gatherer) (consumed, invalid, subjects float64) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, 0, 0
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "transferwatch_events_total":
			for _, m := range mf.GetMetric() {
				v := m.GetCounter().GetValue()
				consumed += v
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" && l.GetValue() == "invalid" {
						invalid += v
					}
				}
			}
		case "transferwatch_subjects_total":
			for _, m := range mf.GetMetric() {
				subjects += m.GetCounter().GetValue()
			}
		}
	}
	return consumed, invalid, subjects
}

// rater turns counter samples into recent rates per second.
type rater struct {
	samples []sample
}

// sample is one reading of the ingest counters.
type sample struct {
	at               time.Time
	events, subjects float64
}

// rateWindow is how far back the rates look.
const rateWindow = 3 * time.Second

// add records a sample and returns the rates over the last rateWindow.
func (r *rater) add(at time.Time, events, subjects float64) (eventRate, subjectRate float64) {
	r.samples = append(r.samples, sample{at: at, events: events, subjects: subjects})
	for len(r.samples) > 2 && at.Sub(r.samples[1].at) >= rateWindow {
		r.samples = r.samples[1:]
	}
	first := r.samples[0]
	dt := at.Sub(first.at).Seconds()
	if dt <= 0 {
		return 0, 0
	}
	return (events - first.events) / dt, (subjects - first.subjects) / dt
}

// minLevel is a slog handler that drops records below a level.
type minLevel struct {
	h   slog.Handler
	min slog.Level
}

var _ slog.Handler = minLevel{}

// Enabled implements slog.Handler.
func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (m minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }

// WithAttrs implements slog.Handler.
func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h: m.h.WithAttrs(as), min: m.min}
}

// WithGroup implements slog.Handler.
func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h: m.h.WithGroup(name), min: m.min}
}
