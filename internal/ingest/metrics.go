package ingest

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	accepted      prometheus.Counter
	invalid       prometheus.Counter
	subjects      prometheus.Counter
	flushDuration prometheus.Histogram
	flushErrors   prometheus.Counter
	lag           *prometheus.GaugeVec
	entities      prometheus.Gauge
	entityLimit   prometheus.Gauge
	flowOverflow  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	events := f.NewCounterVec(prometheus.CounterOpts{
		Name: "transferwatch_events_total",
		Help: "Transfer events consumed, by result (accepted or invalid).",
	}, []string{"result"})
	return &metrics{
		accepted: events.WithLabelValues("accepted"),
		invalid:  events.WithLabelValues("invalid"),
		subjects: f.NewCounter(prometheus.CounterOpts{
			Name: "transferwatch_subjects_total",
			Help: "Subject occurrences in accepted events.",
		}),
		flushDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "transferwatch_flush_duration_seconds",
			Help:    "Time to merge aggregated sketches into the store, write dead letters and commit offsets.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		flushErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "transferwatch_flush_errors_total",
			Help: "Flushes that failed and will be retried.",
		}),
		lag: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transferwatch_consumer_lag",
			Help: "Messages of a partition this instance reads not yet counted in the store: the high watermark less the next offset flushed.",
		}, []string{"partition"}),
		entities: f.NewGauge(prometheus.GaugeOpts{
			Name: "transferwatch_entities",
			Help: "Entities counted (see limits.max_entities).",
		}),
		entityLimit: f.NewGauge(prometheus.GaugeOpts{
			Name: "transferwatch_entities_limit",
			Help: "limits.max_entities: past it, events of new entities go to the dead-letter topic.",
		}),
		flowOverflow: f.NewCounter(prometheus.CounterOpts{
			Name: "transferwatch_flow_overflow_events_total",
			Help: "Transfer events of new flows past limits.max_flows_per_entity, counted in the flow of recipient \"other\".",
		}),
	}
}

func (m *metrics) setLag(partition int, lag int64) {
	m.lag.WithLabelValues(strconv.Itoa(partition)).Set(float64(max(lag, 0)))
}
