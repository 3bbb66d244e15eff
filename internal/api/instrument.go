package api

import (
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the request metrics of the HTTP API (CONTRACT §7 v2).
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newMetrics registers the request metrics with reg; nil reg means none.
func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	f := promauto.With(reg)
	return &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "transferwatch_http_requests_total",
			Help: "HTTP requests answered, by route (handler) and status code.",
		}, []string{"handler", "code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "transferwatch_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route (handler).",
			Buckets: prometheus.DefBuckets,
		}, []string{"handler"}),
	}
}

// instrument counts and times h under the label handler.
func (m *metrics) instrument(handler string, h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	l := prometheus.Labels{"handler": handler}
	m.duration.With(l) // the route's series exist before its first request
	return promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(l),
		promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(l), h))
}

// routes is a ServeMux whose every route is counted and timed under its
// pattern's path, such as "/v1/entities/{id}/decision" (never the path of
// the request, so that the label's values are as few as the routes), and
// passed through guard, if any, inside the instrumentation (so refused
// requests are counted too).
type routes struct {
	*http.ServeMux
	m     *metrics
	guard func(http.Handler) http.Handler
}

// newRoutes returns an empty ServeMux that records request metrics in reg
// (nil: none).
func newRoutes(reg prometheus.Registerer) routes {
	return routes{ServeMux: http.NewServeMux(), m: newMetrics(reg)}
}

// guarded returns the same ServeMux, whose routes registered through the
// result pass through guard.
func (r routes) guarded(guard func(http.Handler) http.Handler) routes {
	r.guard = guard
	return r
}

// Handle registers h for pattern, instrumented.
func (r routes) Handle(pattern string, h http.Handler) {
	if r.guard != nil {
		h = r.guard(h)
	}
	r.ServeMux.Handle(pattern, r.m.instrument(routeLabel(pattern), h))
}

// HandleFunc registers f for pattern, instrumented.
func (r routes) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	r.Handle(pattern, http.HandlerFunc(f))
}

// routeLabel is the path of a ServeMux pattern: "GET /v1/entities/{id}"
// gives "/v1/entities/{id}".
func routeLabel(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return strings.TrimSpace(path)
	}
	return pattern
}

// handlePprof serves the runtime profiles under /debug/pprof/. The handlers
// are registered here explicitly: importing net/http/pprof also registers
// them on http.DefaultServeMux, which transferwatch never serves.
func handlePprof(r routes) {
	r.HandleFunc("/debug/pprof/", pprof.Index) // the index and every named profile
	r.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	r.HandleFunc("/debug/pprof/profile", pprof.Profile)
	r.HandleFunc("/debug/pprof/symbol", pprof.Symbol) // GET and POST
	r.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
