// Package app owns the lifecycle of the transferwatch service: it builds the
// store, the Kafka reader and writers, the ingester, the decider and the
// HTTP server from a validated configuration, runs them as actors of one run
// group (any one ending stops the others), and shuts them down in order
// within a deadline: not-ready first, then stop fetching, flush and commit,
// then close the clients.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/api"
	"github.com/transferwatch/transferwatch/internal/buildinfo"
	"github.com/transferwatch/transferwatch/internal/config"
	"github.com/transferwatch/transferwatch/internal/decide"
	"github.com/transferwatch/transferwatch/internal/dossier"
	"github.com/transferwatch/transferwatch/internal/ingest"
	"github.com/transferwatch/transferwatch/internal/kafkadial"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store"
	"github.com/transferwatch/transferwatch/internal/store/redisstore"
	"github.com/transferwatch/transferwatch/internal/subject"
	"github.com/transferwatch/transferwatch/internal/tlsfiles"
)

// Options of one service instance.
type Options struct {
	Config *config.Config // validated and resolved
	Logger *slog.Logger
	// Registry receives every metric; made in main, never the global one.
	Registry *prometheus.Registry
	// Store overrides the Redis store of the configuration (demo, tests).
	Store store.Store
	// Listener overrides http.addr (tests pass one on port 0).
	Listener net.Listener
	// ShutdownTimeout bounds the drain on shutdown. Default 15s.
	ShutdownTimeout time.Duration
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
	// Started is called once the service is up, with the HTTP address.
	Started func(httpAddr string)
	// Decider, if set, receives the decider once built (the demo's view
	// reads statuses from it).
	Decider func(*decide.Decider)
}

// Run runs the service until ctx ends or an actor fails.
func Run(ctx context.Context, o Options) (err error) {
	cfg := o.Config
	log := o.Logger
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 15 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	reg := o.Registry
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildinfo.Register(reg)

	// Cleanups run in reverse order; their errors join the result.
	// Cleanups run in reverse order within the shutdown timeout (closing a
	// client of a broker that is gone may wait); their errors join the
	// result.
	var cleanups []func() error
	defer func() {
		done := make(chan error, 1)
		go func() {
			var errs error
			for _, cleanup := range slices.Backward(cleanups) {
				errs = errors.Join(errs, cleanup())
			}
			done <- errs
		}()
		select {
		case cerr := <-done:
			err = errors.Join(err, cerr)
		case <-time.After(o.ShutdownTimeout):
			err = errors.Join(err, fmt.Errorf("closing the clients took longer than %s; stopped anyway", o.ShutdownTimeout))
		}
	}()

	st := o.Store
	if st == nil {
		rs, err := OpenStore(cfg)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, rs.Close)
		st = rs
	}

	kset, err := kafkadial.New(cfg.Kafka)
	if err != nil {
		return err
	}
	consumer, err := ingest.NewConsumer(ingest.ConsumerConfig{
		Brokers:        cfg.Kafka.Brokers,
		Topic:          cfg.Kafka.Topic,
		GroupID:        cfg.Kafka.GroupID,
		Dialer:         kset.Dialer(),
		Transport:      kset.Transport(),
		SessionTimeout: cfg.Kafka.SessionTimeout,
		Logger:         log.With("component", "consumer"),
	})
	if err != nil {
		return err
	}
	cleanups = append(cleanups, consumer.Close)
	checker := ingest.NewChecker(consumer.Admin, st, reg, 0, log.With("component", "integrity"))
	writer := func(topic string) *kafka.Writer {
		w := &kafka.Writer{
			Addr:         kafka.TCP(cfg.Kafka.Brokers...),
			Topic:        topic,
			Balancer:     &kafka.Hash{},
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: 5 * time.Millisecond,
			// Room for a dead letter of the largest event read (MaxBytes
			// above); the broker may still refuse it, see ingest.
			BatchBytes: 16 << 20,
			Transport:  kset.Transport(),
		}
		cleanups = append(cleanups, w.Close)
		return w
	}
	dlq := writer(cfg.Kafka.DeadLetterTopic)
	// The decider's own writer gives up within decide.PublishTimeout, so a
	// write never lands after its publishing lease lapsed.
	decTr := kset.Transport()
	decisions := decide.NewWriter(kafka.TCP(cfg.Kafka.Brokers...), cfg.Kafka.DecisionsTopic, decTr)
	cleanups = append(cleanups, func() error { decTr.CloseIdleConnections(); return nil }, decisions.Close)

	settings, err := PolicySettings(cfg)
	if err != nil {
		return err
	}
	dec := decide.New(st, decisions, reg, decide.Options{
		Settings:     settings,
		Entities:     Registry(cfg),
		Topic:        decide.NewTopicReader(kafka.TCP(cfg.Kafka.Brokers...), cfg.Kafka.DecisionsTopic, decTr),
		Reannounce:   cfg.Decisions.ReannounceInterval,
		MaxStaleness: cfg.HTTP.MaxStaleness,
		StoreOK:      checker.OK,
		Verify:       checker.Check,
		Now:          o.Now,
		Logger:       log.With("component", "decide"),
	})
	if o.Decider != nil {
		o.Decider(dec)
	}
	// Decide again as soon as the store is verified whole again, rather
	// than at the next refresh (decisions answer 503 until then).
	checker.OnVerified(dec.Nudge)
	configured := make(map[string]bool, len(cfg.Entities))
	for _, e := range cfg.Entities {
		configured[e.ID] = true
	}
	in := ingest.New(consumer, dlq, st, reg, ingest.Options{
		Location:      cfg.Location,
		Hasher:        subject.New(subject.Key(cfg.SubjectKey)),
		FlushInterval: cfg.FlushInterval,
		MaxEntities:   cfg.Limits.MaxEntities,
		MaxFlows:      cfg.Limits.MaxFlowsPerEntity,
		Configured:    func(id string) bool { return configured[id] },
		RejectUnknown: cfg.Policy.UnknownEntities == config.UnknownDeadLetter,
		OnStoreBehind: checker.Behind,
		Now:           o.Now,
		Logger:        log.With("component", "ingest"),
		OnFlush: func(ctx context.Context, entities []string) {
			if err := dec.Evaluate(ctx, entities); err != nil {
				log.Warn("evaluation after flush failed", "err", err)
			}
		},
	})

	ln := o.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.HTTP.Addr); err != nil {
			return fmt.Errorf("http.addr: %w", err)
		}
	}
	var draining atomic.Bool
	srv := api.NewServer(api.Handler(api.Options{
		Logger:     log.With("component", "console"),
		Statuses:   dec,
		Gatherer:   reg,
		Registerer: reg,
		Token:      string(cfg.APIToken),
		Pprof:      cfg.HTTP.Pprof,
		Now:        o.Now,
		Dossiers: dossier.New(st, dossier.Options{
			Settings: settings, Entities: Registry(cfg), Fingerprint: cfg.Fingerprint(), Now: o.Now,
			// A pack or page states a decision only when the decision
			// endpoint would answer it (CONTRACT §6): fail closed alike.
			Check: func(id string, now time.Time) error {
				_, err := dec.Verdict(id, now)
				return err
			},
		}),
		Ready: func(r *http.Request) error {
			if draining.Load() {
				return errors.New("shutting down")
			}
			// The causes first (a store or broker that does not
			// answer), then what follows from them.
			pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := st.Ping(pctx); err != nil {
				return fmt.Errorf("store: %w", err)
			}
			if err := brokerAnswers(pctx, kset.Dialer(), cfg.Kafka.Brokers); err != nil {
				return err
			}
			if err := in.Ready(); err != nil {
				return err
			}
			return checker.OK()
		},
	}), log)

	var g run.Group
	// The run group returns only the first actor's error; the ingester's
	// (a failed final flush, say) must not be lost behind a clean signal.
	var ingestErr error
	{
		ictx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		g.Add(actor(ctx, "ingest", func() (err error) {
			defer func() { ingestErr = err }()
			return in.Run(ictx)
		}), func(error) {
			draining.Store(true)
			cancel()
		})
	}
	{
		dctx, cancel := context.WithCancel(ctx)
		g.Add(actor(ctx, "decide", func() error {
			// Start-up: read the decisions topic, evaluate every known
			// entity and announce its decision, then evaluate every
			// refresh. The store or the broker may be down: wait for them
			// (not ready, decisions 503, but alive) rather than fail. The
			// consumer runs meanwhile, so that its own errors show.
			if err := retry(dctx, log, "start-up evaluation", func() error { return dec.Start(dctx) }); err != nil {
				return err
			}
			return dec.Run(dctx)
		}), func(error) { cancel() })
	}
	g.Add(actor(ctx, "http", func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	}), func(error) {
		sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	{
		cctx, cancel := context.WithCancel(ctx)
		g.Add(actor(ctx, "integrity", func() error { return checker.Run(cctx) }), func(error) { cancel() })
	}
	{
		sctx, cancel := context.WithCancel(ctx)
		g.Add(func() error {
			<-sctx.Done()
			if ctx.Err() != nil {
				log.Info("shutting down: stop fetching, flush, commit")
			}
			return nil
		}, func(error) { cancel() })
	}
	log.Info("transferwatch running", "http", ln.Addr().String(), "topic", cfg.Kafka.Topic,
		"group", cfg.Kafka.GroupID, "policy", settings.Preset.Name)
	if o.Started != nil {
		o.Started(ln.Addr().String())
	}
	err = g.Run()
	if ingestErr != nil && !errors.Is(err, ingestErr) {
		err = errors.Join(err, ingestErr)
	}
	return err
}

// actor wraps the body of a run-group actor: an actor that ends while ctx
// (the service's) has not is an error naming it, even if it returned nil,
// so that the process exits non-zero instead of running on without it.
func actor(ctx context.Context, name string, run func() error) func() error {
	return func() error {
		err := run()
		if ctx.Err() != nil {
			return err
		}
		if err == nil {
			err = errors.New("ended unexpectedly")
		}
		return fmt.Errorf("%s: %w", name, err)
	}
}

// brokerAnswers reports whether any broker accepts a connection (with TLS
// and SASL as configured). The reader retries on its own and says nothing
// while the broker is gone, so readiness asks directly.
func brokerAnswers(ctx context.Context, d *kafka.Dialer, brokers []string) error {
	var errs []error
	for _, b := range brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err == nil {
			return conn.Close()
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("kafka: no broker answers: %w", errors.Join(errs...))
}

// retry calls f until it succeeds or ctx ends, backing off up to 10 s.
func retry(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	backoff := 100 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		log.Warn(what+" failed; retrying", "err", err, "backoff", backoff.String())
		select {
		case <-ctx.Done():
			// Stopped while waiting: a clean stop, not a failure.
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// OpenStore returns the Redis store of cfg (it does not connect yet).
func OpenStore(cfg *config.Config) (*redisstore.Store, error) {
	o := redisstore.Options{
		Addrs:     cfg.Redis.Addrs,
		Username:  cfg.Redis.Username,
		Password:  string(cfg.Redis.Password),
		DB:        cfg.Redis.DB,
		KeyPrefix: cfg.Redis.KeyPrefix,
	}
	if cfg.Redis.TLS.Enabled {
		c, err := tlsfiles.Client(cfg.Redis.TLS.CAFile, "", "", cfg.Redis.TLS.InsecureSkipVerify)
		if err != nil {
			return nil, fmt.Errorf("redis.tls: %w", err)
		}
		o.TLS = c
	}
	return redisstore.New(o)
}

// NewAdmin returns the Kafka admin client of cfg's topic and group: it
// reads offsets without joining the group.
func NewAdmin(cfg *config.Config) (*ingest.Admin, error) {
	kset, err := kafkadial.New(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	return ingest.NewAdmin(ingest.ConsumerConfig{
		Brokers: cfg.Kafka.Brokers, Topic: cfg.Kafka.Topic, GroupID: cfg.Kafka.GroupID,
		Dialer: kset.Dialer(), Transport: kset.Transport(),
	}), nil
}

// PolicySettings returns the policy settings of cfg.
func PolicySettings(cfg *config.Config) (policy.Settings, error) {
	preset, err := policy.PresetByName(cfg.Policy.Preset)
	if err != nil {
		return policy.Settings{}, err
	}
	return policy.Settings{
		Preset: preset,
		Levels: policy.Levels{
			Notice:   cfg.Policy.Levels.Notice,
			Warning:  cfg.Policy.Levels.Warning,
			Critical: cfg.Policy.Levels.Critical,
		},
		UsePoint:         cfg.Policy.Estimate == config.EstimatePoint,
		RenewalLeadDays:  cfg.Policy.RenewalLeadDays,
		ForecastLeadDays: cfg.Policy.ForecastLeadDays,
		Location:         cfg.Location,
	}, nil
}

// Registry returns the entity registry of cfg.
func Registry(cfg *config.Config) []policy.Entity {
	out := make([]policy.Entity, 0, len(cfg.Entities))
	for _, e := range cfg.Entities {
		pe := policy.Entity{
			ID: e.ID, Name: e.Name, CIIO: e.CIIO,
			FTZ:               e.FTZ,
			Employees:         max(e.Employees, 0),
			ProcessedSubjects: uint64(max(e.ProcessedSubjects, 0)),
		}
		for _, a := range e.Approvals {
			pa := policy.Approval{
				Mechanism: policy.Mechanism(a.Mechanism),
				Status:    policy.ApprovalState(a.Status),
				Reference: a.Reference,
			}
			if !a.ValidFrom.IsZero() {
				pa.ValidFrom = a.ValidFrom.Time(cfg.Location)
			}
			if !a.ValidUntil.IsZero() {
				pa.ValidUntil = a.ValidUntil.Time(cfg.Location)
			}
			if !a.FiledOn.IsZero() {
				pa.FiledOn = a.FiledOn.Time(cfg.Location)
			}
			if a.Scope != nil {
				pa.Scope = &policy.Scope{
					Recipients:   a.Scope.Recipients,
					Destinations: a.Scope.Destinations,
					MaxSubjects:  uint64(max(a.Scope.MaxSubjects, 0)),
				}
				for _, c := range a.Scope.Categories {
					if cat, ok := sketch.ParseCategory(c); ok {
						pa.Scope.Categories = append(pa.Scope.Categories, cat)
					}
				}
			}
			pe.Approvals = append(pe.Approvals, pa)
		}
		out = append(out, pe)
	}
	return out
}
