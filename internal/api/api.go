// Package api serves transferwatch's HTTP interface: health and readiness
// probes, Prometheus metrics, and the /v1 entity API that pipelines and
// compliance officers read (CONTRACT §6). The /v1 answers come from the
// decider's in-memory cache and never wait on the store.
package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/transferwatch/transferwatch/internal/console"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/report"
	"github.com/transferwatch/transferwatch/internal/webauth"
	"github.com/transferwatch/transferwatch/pkg/decision"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// Statuses is the decider's cache.
type Statuses interface {
	// Status returns an entity's status; a configured entity not evaluated
	// yet has one with a zero UpdatedAt.
	Status(id string) (policy.Status, bool)
	Statuses() []policy.Status
	// Verdict returns the entity's decision answer at now, or an error
	// saying why it is not known.
	Verdict(id string, now time.Time) (decision.Verdict, error)
}

// Options of the handler.
type Options struct {
	Statuses Statuses
	// Logger receives what the console could not render; nil: discarded.
	Logger *slog.Logger
	// Ready returns nil when the service is ready for traffic.
	Ready func(*http.Request) error
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	// Token, when set, is required on /v1 and the console (/ui/): as
	// "Authorization: Bearer <token>", or as the session cookie the
	// console's login form sets (package webauth).
	Token string
	// Registerer, when set, receives the request metrics of every route.
	Registerer prometheus.Registerer
	// Pprof serves /debug/pprof/, behind Token like /v1.
	Pprof bool
	// Now is the clock of the decision answers' staleness. Default
	// time.Now.
	Now func() time.Time
	// Dossiers, when set, serves GET /v1/entities/{id}/history and
	// GET /v1/entities/{id}/report, rendered by Reports (nil: the default
	// renderer), and the console's Entity page (nil: not found).
	Dossiers Dossiers
	Reports  *report.Renderer
}

// Handler returns the HTTP handler.
func Handler(o Options) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Reports == nil {
		o.Reports = report.MustNew()
	}
	mux := newRoutes(o.Registerer)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := o.Ready(r); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}))

	guard := webauth.New(o.Token)
	// The console checks the token itself: without it, a browser is sent
	// to the login form rather than answered 401.
	mux.Handle(console.Prefix, console.Handler(console.Options{
		Statuses: o.Statuses, Dossiers: o.Dossiers, Guard: guard, Now: o.Now, Log: o.Logger,
	}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, console.Prefix, http.StatusSeeOther)
	})

	v1 := mux.guarded(func(h http.Handler) http.Handler { return requireToken(guard, h) })
	v1.HandleFunc("GET /v1/entities", func(w http.ResponseWriter, _ *http.Request) {
		list := o.Statuses.Statuses()
		out := make([]any, len(list))
		for i, s := range list {
			out[i] = entityStatus(s)
		}
		writeJSON(w, http.StatusOK, struct {
			Entities []any `json:"entities"`
		}{out})
	})
	v1.HandleFunc("GET /v1/entities/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		s, ok := o.Statuses.Status(id)
		if !ok {
			writeError(w, http.StatusNotFound, "entity "+quote(id)+" is neither configured nor seen")
			return
		}
		writeJSON(w, http.StatusOK, entityStatus(s))
	})
	v1.HandleFunc("GET /v1/entities/{id}/flows", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		s, ok := o.Statuses.Status(id)
		if !ok {
			writeError(w, http.StatusNotFound, "entity "+quote(id)+" is neither configured nor seen")
			return
		}
		flows := s.Flows
		if flows == nil {
			flows = []policy.FlowReport{}
		}
		writeJSON(w, http.StatusOK, struct {
			Entity string              `json:"entity"`
			Flows  []policy.FlowReport `json:"flows"`
		}{id, flows})
	})
	v1.HandleFunc("GET /v1/entities/{id}/decision", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !event.ValidEntityID(id) {
			writeError(w, http.StatusBadRequest, "entity id must be "+event.EntityIDRule)
			return
		}
		// Fail closed: when the service does not know, the pipeline is
		// told to wait, never allowed.
		v, err := o.Statuses.Verdict(id, o.Now())
		if err != nil {
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, "no decision for entity "+quote(id)+" now: "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
	if o.Dossiers != nil {
		handleDossiers(v1, o.Dossiers, o.Reports)
	}
	v1.HandleFunc("/v1/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
	if o.Pprof {
		handlePprof(v1)
	}
	return mux
}

// evaluatedStatus is the EntityStatus of an evaluated entity.
type evaluatedStatus struct {
	policy.Status
	Evaluated bool `json:"evaluated"`
}

// pendingStatus is the EntityStatus of a configured entity before its
// first evaluation: what the configuration says of it, no figures, and a
// null decision, so that nobody reads it as allow.
type pendingStatus struct {
	policy.Status
	Decision          *policy.Decision  `json:"decision"`
	RequiredMechanism *policy.Mechanism `json:"required_mechanism"`
	UpdatedAt         *time.Time        `json:"updated_at"`
	Evaluated         bool              `json:"evaluated"`
}

// entityStatus returns the answer for s.
func entityStatus(s policy.Status) any {
	if s.UpdatedAt.IsZero() {
		s.Reasons = []string{"not evaluated yet since the service started"}
		return pendingStatus{Status: s}
	}
	return evaluatedStatus{Status: s, Evaluated: true}
}

// requireToken answers 401 to a request without the token (bearer header
// or console session cookie).
func requireToken(g *webauth.Guard, next http.Handler) http.Handler {
	if !g.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.Allowed(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="transferwatch"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func quote(s string) string {
	if len(s) > 140 {
		s = s[:140] + "…"
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
