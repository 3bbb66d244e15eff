package decide

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/transferwatch/transferwatch/internal/policy"
)

type metrics struct {
	estimate   *prometheus.GaugeVec
	ratio      *prometheus.GaugeVec
	level      *prometheus.GaugeVec
	decision   *prometheus.GaugeVec
	forecastAt *prometheus.GaugeVec
	expiresAt  *prometheus.GaugeVec
	changes    *prometheus.CounterVec
	// publishErrors counts decisions-topic messages whose write failed;
	// each stays in the store and is written again.
	publishErrors prometheus.Counter
	compacted     prometheus.Gauge
	// flows and flowsOutside count an entity's flows (no flow label:
	// recipients are unbounded).
	flows        *prometheus.GaugeVec
	flowsOutside *prometheus.GaugeVec
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

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		estimate: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transferwatch_subjects_estimate",
			Help: "Estimated distinct data subjects, by entity, counter and window.",
		}, []string{"entity", "counter", "window"}),
		ratio: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transferwatch_rule_ratio",
			Help: "Figure held against a rule's threshold, divided by the threshold.",
		}, []string{"entity", "rule"}),
		level: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transferwatch_rule_level",
			Help: "Level of a rule: 0 ok, 1 notice, 2 warning, 3 critical, 4 breached.",
		}, []string{"entity", "rule"}),
		decision: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transferwatch_entity_decision",
			Help: "1 for the entity's current decision (allow, warn, block), 0 for the others.",
		}, []string{"entity", "decision"}),
		forecastAt: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transferwatch_rule_forecast_crossing_timestamp_seconds",
			Help: "Unix time of 00:00 (in the configured time zone) of the day a rule's threshold is forecast to be crossed; present only while a crossing is forecast.",
		}, []string{"entity", "rule"}),
		expiresAt: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transferwatch_approval_expiry_timestamp_seconds",
			Help: "Unix time at which the entity's longest-running approved approval of a mechanism stops covering: 00:00 (in the configured time zone) of its valid_until.",
		}, []string{"entity", "mechanism"}),
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
		flows: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transferwatch_flows",
			Help: "Data flows (recipient, destination, category) of the entity in the preset's window.",
		}, []string{"entity"}),
		flowsOutside: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transferwatch_flows_outside_scope",
			Help: "Flows of the entity outside the scope of every approval covering a breached rule that counts them.",
		}, []string{"entity"}),
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

// observe sets every per-entity gauge from s.
func (m *metrics) observe(s policy.Status) {
	loc := s.UpdatedAt.Location()
	m.flows.WithLabelValues(s.Entity).Set(float64(s.FlowsTotal))
	m.flowsOutside.WithLabelValues(s.Entity).Set(float64(s.FlowsOutsideScope))
	for _, c := range s.Counters {
		m.estimate.WithLabelValues(s.Entity, string(c.Counter), string(c.Window)).Set(float64(c.Estimate))
	}
	for _, r := range s.Rules {
		m.ratio.WithLabelValues(s.Entity, r.ID).Set(r.Ratio)
		m.level.WithLabelValues(s.Entity, r.ID).Set(float64(r.Level.Value()))
		if r.ForecastCrossing != nil {
			m.forecastAt.WithLabelValues(s.Entity, r.ID).Set(float64(r.ForecastCrossing.In(loc).Unix()))
		} else {
			m.forecastAt.DeleteLabelValues(s.Entity, r.ID)
		}
	}
	for _, d := range policy.Decisions() {
		v := 0.0
		if d == s.Decision {
			v = 1
		}
		m.decision.WithLabelValues(s.Entity, string(d)).Set(v)
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
		m.expiresAt.WithLabelValues(s.Entity, string(mech)).Set(float64(until.Unix()))
	}
}
