package api_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/transferwatch/transferwatch/internal/api"
	"github.com/transferwatch/transferwatch/internal/policy"
)

// instrumented serves the handler with request metrics in a registry of
// its own, returned.
func instrumented(t *testing.T, o api.Options) (*httptest.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Statuses = statuses{"a-co": {Entity: "a-co", Decision: policy.Block, RequiredMechanism: policy.SecurityAssessment}}
	o.Ready = func(*http.Request) error { return nil }
	o.Gatherer, o.Registerer = reg, reg
	srv := httptest.NewServer(api.Handler(o))
	t.Cleanup(srv.Close)
	return srv, reg
}

// durationCounts returns the number of observations of the request
// duration histogram by handler label.
func durationCounts(t *testing.T, reg prometheus.Gatherer) map[string]uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "transferwatch_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "handler" {
					out[l.GetValue()] = m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return out
}

func TestRequestMetrics(t *testing.T) {
	srv, reg := instrumented(t, api.Options{Token: "s3cret"})
	for _, r := range []struct {
		path, auth string
		code       int
	}{
		{"/healthz", "", 200},
		{"/healthz", "", 200},
		{"/v1/entities/a-co", "Bearer s3cret", 200},
		{"/v1/entities/zz-co", "Bearer s3cret", 404},
		{"/v1/entities/a-co", "", 401},
		{"/v1/entities/a-co/decision", "Bearer s3cret", 0}, // its answer is another test's business
		{"/v1/no/such/thing", "Bearer s3cret", 404},
	} {
		if code, body := get(t, srv.URL+r.path, r.auth); r.code != 0 && code != r.code {
			t.Fatalf("GET %s = %d %s, want %d", r.path, code, body, r.code)
		}
	}

	// One series per route and code, labelled with the route's pattern.
	want := `
# HELP transferwatch_http_requests_total HTTP requests answered, by route (handler) and status code.
# TYPE transferwatch_http_requests_total counter
transferwatch_http_requests_total{code="200",handler="/healthz"} 2
transferwatch_http_requests_total{code="200",handler="/v1/entities/{id}"} 1
transferwatch_http_requests_total{code="401",handler="/v1/entities/{id}"} 1
transferwatch_http_requests_total{code="404",handler="/v1/entities/{id}"} 1
transferwatch_http_requests_total{code="404",handler="/v1/"} 1
`
	// The decision endpoint's code is left out of the comparison.
	if n := requests(t, reg, "/v1/entities/{id}/decision"); n != 1 {
		t.Errorf("requests of /v1/entities/{id}/decision = %v, want 1", n)
	}
	if err := testutil.GatherAndCompare(without(reg, "/v1/entities/{id}/decision"), strings.NewReader(want), "transferwatch_http_requests_total"); err != nil {
		t.Error(err)
	}

	counts := durationCounts(t, reg)
	for handler, n := range map[string]uint64{
		"/healthz": 2, "/v1/entities/{id}": 3, "/v1/entities/{id}/decision": 1, "/v1/": 1,
		"/readyz": 0, "/metrics": 0, "/v1/entities": 0, // every route has its series from the start
	} {
		if c, ok := counts[handler]; !ok || c != n {
			t.Errorf("duration observations of %s = %d (series present: %v), want %d", handler, c, ok, n)
		}
	}
	for handler := range counts {
		if strings.Contains(handler, "a-co") || strings.Contains(handler, "zz-co") || strings.Contains(handler, "such") {
			t.Errorf("handler label %q carries a request path", handler)
		}
	}
}

func TestNoRequestMetricsWithoutRegisterer(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(api.Handler(api.Options{
		Statuses: statuses{},
		Ready:    func(*http.Request) error { return nil },
		Gatherer: reg,
	}))
	defer srv.Close()
	get(t, srv.URL+"/healthz", "")
	if code, body := get(t, srv.URL+"/metrics", ""); code != 200 || strings.Contains(body, "transferwatch_http_") {
		t.Errorf("/metrics = %d, want 200 without request metrics:\n%s", code, body)
	}
}

func TestPprof(t *testing.T) {
	srv, reg := instrumented(t, api.Options{Token: "s3cret", Pprof: true})
	for _, r := range []struct {
		path, auth string
		code       int
		want       string
	}{
		{"/debug/pprof/", "", 401, `"error"`},
		{"/debug/pprof/heap?debug=1", "Bearer wrong", 401, `"error"`},
		{"/debug/pprof/", "Bearer s3cret", 200, "goroutine"},
		{"/debug/pprof/heap?debug=1", "Bearer s3cret", 200, "heap profile"},
		{"/debug/pprof/goroutine?debug=1", "Bearer s3cret", 200, "goroutine profile"},
		{"/debug/pprof/cmdline", "Bearer s3cret", 200, ""},
		{"/debug/pprof/symbol", "Bearer s3cret", 200, "num_symbols"},
	} {
		if code, body := get(t, srv.URL+r.path, r.auth); code != r.code || !strings.Contains(body, r.want) {
			t.Errorf("GET %s (%q) = %d %.200s, want %d containing %q", r.path, r.auth, code, body, r.code, r.want)
		}
	}
	if n := requests(t, reg, "/debug/pprof/"); n != 5 {
		t.Errorf("requests of /debug/pprof/ = %v, want 5 (one label for every named profile)", n)
	}

	off, _ := instrumented(t, api.Options{Token: "s3cret"})
	if code, _ := get(t, off.URL+"/debug/pprof/", "Bearer s3cret"); code != 404 {
		t.Errorf("/debug/pprof/ without Pprof = %d, want 404", code)
	}
}

// without is reg less the series of one handler.
func without(reg prometheus.Gatherer, handler string) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := reg.Gather()
		for _, mf := range mfs {
			mf.Metric = slices.DeleteFunc(mf.Metric, func(m *dto.Metric) bool {
				return slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
					return l.GetName() == "handler" && l.GetValue() == handler
				})
			})
		}
		return mfs, err
	})
}

// requests sums transferwatch_http_requests_total of one handler over
// every code.
func requests(t *testing.T, reg prometheus.Gatherer, handler string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "transferwatch_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "handler" && l.GetValue() == handler {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
