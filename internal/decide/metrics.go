package decide

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/transferwatch/transferwatch/internal/policy"
)

type metrics struct {
	changes *prometheus.CounterVec
	// publishErrors counts decisions-topic messages whose write failed;
	// each stays in the store and is written again.
	publishErrors prometheus.Counter
	compacted     prometheus.Gauge
	// evaluations counts the entities rounds and flushes asked to
	// evaluate, by trigger and outcome; roundDuration times complete
	// rounds.
	evaluations   *prometheus.CounterVec
	roundDuration prometheus.Histogram
}

// Triggers and outcomes of transferwatch_evaluations_total.
const (
	triggerRound = "round" // the periodic round over every known entity
	triggerFlush = "flush" // a flush touched the entity

	outcomeEvaluated = "evaluated"   // read and evaluated again
	outcomeConfirmed = "reconfirmed" // round: unchanged, the time of its figures raised
	outcomeUnchanged = "unchanged"   // flush: unchanged since its last evaluation, left as is
	outcomeFailed    = "failed"      // round: its stamp could not be read, neither
)

func newMetrics(reg prometheus.Registerer, statuses func() []policy.Status) *metrics {
	if reg != nil {
		reg.MustRegister(newEntityCollector(statuses))
	}
	f := promauto.With(reg)
	m := &metrics{
		changes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "transferwatch_decision_changes_total",
			Help: "Decision changes this instance published, by new decision.",
		}, []string{"decision"}),
		publishErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "transferwatch_decision_publish_errors_total",
			Help: "Decisions-topic messages whose publication failed; each is kept in the store and published again.",
		}),
		compacted: f.NewGauge(prometheus.GaugeOpts{
			Name: "transferwatch_decisions_topic_compacted",
			Help: "1 when the decisions topic's cleanup.policy is compact, 0 when it is not or cannot be read.",
		}),
		evaluations: f.NewCounterVec(prometheus.CounterOpts{
			Name: "transferwatch_evaluations_total",
			Help: "Entities the periodic rounds (trigger round) and flushes (trigger flush) asked to evaluate, by outcome: evaluated (read and evaluated: new, or their figures, decision record or date changed), reconfirmed (round: unchanged, the time of their figures raised without reading them), unchanged (flush: nothing new since their last evaluation) or failed (round: their stamps could not be read).",
		}, []string{"trigger", "outcome"}),
		roundDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "transferwatch_round_duration_seconds",
			Help:    "Duration of complete periodic evaluation rounds over every known entity; above http.max_staleness, decisions answer 503 stale.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 12), // 10 ms to about 4 min
		}),
	}
	for _, d := range policy.Decisions() {
		m.changes.WithLabelValues(string(d))
	}
	for _, o := range []string{outcomeEvaluated, outcomeConfirmed, outcomeFailed} {
		m.evaluations.WithLabelValues(triggerRound, o)
	}
	for _, o := range []string{outcomeEvaluated, outcomeUnchanged} {
		m.evaluations.WithLabelValues(triggerFlush, o)
	}
	return m
}

// entityCollector exports the per-entity series from the statuses the
// decider holds, when Prometheus scrapes: an entity's series cost nothing
// between scrapes (at 10,000 entities, gauges kept for them held some 70
// MiB), evaluating sets no gauge, and a series disappears with what it
// describes (a forecast crossing, an approval).
type entityCollector struct {
	statuses func() []policy.Status // of the evaluated entities

	estimate, ratio, level, decision, forecastAt, expiresAt, flows, flowsOutside *prometheus.Desc
}

func newEntityCollector(statuses func() []policy.Status) *entityCollector {
	return &entityCollector{
		statuses: statuses,
		estimate: prometheus.NewDesc("transferwatch_subjects_estimate",
			"Estimated distinct data subjects, by entity, counter and window.",
			[]string{"entity", "counter", "window"}, nil),
		ratio: prometheus.NewDesc("transferwatch_rule_ratio",
			"Figure held against a rule's threshold, divided by the threshold.",
			[]string{"entity", "rule"}, nil),
		level: prometheus.NewDesc("transferwatch_rule_level",
			"Level of a rule: 0 ok, 1 notice, 2 warning, 3 critical, 4 breached.",
			[]string{"entity", "rule"}, nil),
		decision: prometheus.NewDesc("transferwatch_entity_decision",
			"1 for the entity's current decision (allow, warn, block), 0 for the others.",
			[]string{"entity", "decision"}, nil),
		forecastAt: prometheus.NewDesc("transferwatch_rule_forecast_crossing_timestamp_seconds",
			"Unix time of 00:00 (in the configured time zone) of the day a rule's threshold is forecast to be crossed; present only while a crossing is forecast.",
			[]string{"entity", "rule"}, nil),
		expiresAt: prometheus.NewDesc("transferwatch_approval_expiry_timestamp_seconds",
			"Unix time at which the entity's longest-running approved approval of a mechanism stops covering: 00:00 (in the configured time zone) of its valid_until.",
			[]string{"entity", "mechanism"}, nil),
		// No flow label: recipients are unbounded.
		flows: prometheus.NewDesc("transferwatch_flows",
			"Data flows (recipient, destination, category) of the entity in the preset's window.",
			[]string{"entity"}, nil),
		flowsOutside: prometheus.NewDesc("transferwatch_flows_outside_scope",
			"Flows of the entity outside the scope of every approval covering a breached rule that counts them.",
			[]string{"entity"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *entityCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.estimate, c.ratio, c.level, c.decision, c.forecastAt, c.expiresAt, c.flows, c.flowsOutside} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *entityCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, s := range c.statuses() {
		loc := s.UpdatedAt.Location()
		gauge(c.flows, float64(s.FlowsTotal), s.Entity)
		gauge(c.flowsOutside, float64(s.FlowsOutsideScope), s.Entity)
		for _, k := range s.Counters {
			gauge(c.estimate, float64(k.Estimate), s.Entity, string(k.Counter), string(k.Window))
		}
		for _, r := range s.Rules {
			gauge(c.ratio, r.Ratio, s.Entity, r.ID)
			gauge(c.level, float64(r.Level.Value()), s.Entity, r.ID)
			if r.ForecastCrossing != nil {
				gauge(c.forecastAt, float64(r.ForecastCrossing.In(loc).Unix()), s.Entity, r.ID)
			}
		}
		for _, d := range policy.Decisions() {
			v := 0.0
			if d == s.Decision {
				v = 1
			}
			gauge(c.decision, v, s.Entity, string(d))
		}
		best := make(map[policy.Mechanism]time.Time)
		for _, a := range s.Approvals {
			if a.Status != policy.Approved || a.ValidUntil == nil {
				continue
			}
			until := a.ValidUntil.In(loc)
			if cur, ok := best[a.Mechanism]; !ok || until.After(cur) {
				best[a.Mechanism] = until
			}
		}
		for mech, until := range best {
			gauge(c.expiresAt, float64(until.Unix()), s.Entity, string(mech))
		}
	}
}
