// Package api serves transferwatch's HTTP interface: health and readiness
// probes, Prometheus metrics, and the /v1 entity API that pipelines and
// compliance officers read (CONTRACT §6). The /v1 answers come from the
// decider's in-memory cache and never wait on the store.
package api

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/transferwatch/transferwatch/internal/policy"
)

// Statuses is the decider's cache.
type Statuses interface {
	Status(id string) (policy.Status, bool)
	Statuses() []policy.Status
}

// Options of the handler.
type Options struct {
	Statuses Statuses
	// Ready returns nil when the service is ready for traffic.
	Ready func(*http.Request) error
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	// Token, when set, is required as "Authorization: Bearer <token>" on /v1.
	Token string
	// Registerer, when set, receives the request metrics of every route.
	Registerer prometheus.Registerer
	// Pprof serves /debug/pprof/, behind Token like /v1.
	Pprof bool
}

var entityID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// Handler returns the HTTP handler.
func Handler(o Options) http.Handler {
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

	v1 := mux.guarded(func(h http.Handler) http.Handler { return requireToken(o.Token, h) })
	v1.HandleFunc("GET /v1/entities", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, struct {
			Entities []policy.Status `json:"entities"`
		}{o.Statuses.Statuses()})
	})
	v1.HandleFunc("GET /v1/entities/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		s, ok := o.Statuses.Status(id)
		if !ok {
			writeError(w, http.StatusNotFound, "entity "+quote(id)+" is neither configured nor seen")
			return
		}
		writeJSON(w, http.StatusOK, s)
	})
	v1.HandleFunc("GET /v1/entities/{id}/decision", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !entityID.MatchString(id) {
			writeError(w, http.StatusBadRequest, "entity id must be 1-128 characters of A-Za-z0-9._:-")
			return
		}
		s, ok := o.Statuses.Status(id)
		if !ok {
			// Never seen: nothing counted, so nothing to hold back.
			s = policy.Status{Entity: id, Decision: policy.Allow, RequiredMechanism: policy.MechanismNone}
		}
		writeJSON(w, http.StatusOK, s.Verdict())
	})
	v1.HandleFunc("/v1/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
	if o.Pprof {
		handlePprof(v1)
	}
	return mux
}

func requireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
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
