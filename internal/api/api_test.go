package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/transferwatch/transferwatch/internal/api"
	"github.com/transferwatch/transferwatch/internal/decide"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/pkg/decision"
)

// statuses is a fixed cache; the decider behind the real one is tested in
// its own package. Its verdicts are those of the statuses, at version 3,
// decided at decidedAt and as of asOf, unless verdictErr is set.
type statuses map[string]policy.Status

var (
	decidedAt  = time.Date(2026, 11, 25, 10, 0, 1, 0, time.FixedZone("CST", 8*3600))
	asOf       = decidedAt.Add(time.Minute)
	verdictErr error
)

func (s statuses) Status(id string) (policy.Status, bool) { st, ok := s[id]; return st, ok }
func (s statuses) Statuses() []policy.Status {
	out := []policy.Status{}
	for _, id := range []string{"a-co", "b-co", "c-co"} {
		if st, ok := s[id]; ok {
			out = append(out, st)
		}
	}
	return out
}
func (s statuses) Verdict(id string, now time.Time) (decision.Verdict, error) {
	if !now.Equal(asOf.Add(time.Second)) {
		return decision.Verdict{}, errors.New("wrong clock")
	}
	if verdictErr != nil {
		return decision.Verdict{}, verdictErr
	}
	st, ok := s[id]
	if !ok {
		st = policy.Status{Entity: id, Decision: policy.Allow, RequiredMechanism: policy.MechanismNone}
	}
	v := st.Verdict()
	v.AsOf = asOf
	if ok {
		v.Version, v.DecidedAt = 3, &decidedAt
	}
	return v, nil
}

func server(t *testing.T, token string, ready error) *httptest.Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "transferwatch_test_total", Help: "x"}))
	srv := httptest.NewServer(api.Handler(api.Options{
		Statuses: statuses{
			"a-co": {Entity: "a-co", Decision: policy.Block, RequiredMechanism: policy.SecurityAssessment, Reasons: []string{"personal-100k breached"}, UpdatedAt: asOf,
				FlowsTotal: 1, FlowsOutsideScope: 1, Flows: []policy.FlowReport{{
					Recipient: "newco-sg", Destination: "SG", Category: "personal", Pipelines: []string{"crm-sync"},
					Estimate: 20114, UpperBound: 21100, Window: "current_year", Events: 31000,
					FirstSeen: decidedAt, LastSeen: asOf, Approvals: []string{}, InsideScope: false}}},
			"b-co": {Entity: "b-co", Decision: policy.Allow, RequiredMechanism: policy.MechanismNone, UpdatedAt: asOf},
			// Configured, not evaluated yet.
			"c-co": {Entity: "c-co", Name: "C Co.", Policy: "cac-2024", Reasons: []string{}},
		},
		Now:      func() time.Time { return asOf.Add(time.Second) },
		Ready:    func(*http.Request) error { return ready },
		Gatherer: reg,
		Token:    token,
	}))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	srv := server(t, "", nil)
	cases := []struct {
		path string
		code int
		want string
	}{
		{"/healthz", 200, "ok"},
		{"/readyz", 200, "ready"},
		{"/metrics", 200, "transferwatch_test_total 0"},
		{"/v1/entities", 200, `{"entities":[{"entity":"a-co"`},
		{"/v1/entities/a-co", 200, `"decision":"block"`},
		{"/v1/entities/a-co", 200, `"evaluated":true`},
		{"/v1/entities/c-co", 200, `"decision":null,"required_mechanism":null,"updated_at":null,"evaluated":false`},
		{"/v1/entities/c-co", 200, `"reasons":["not evaluated yet since the service started"]`},
		{"/v1/entities/a-co", 200, `"flows_total":1,"flows_outside_scope":1,`},
		{"/v1/entities/a-co/flows", 200, `{"entity":"a-co","flows":[{"recipient":"newco-sg","destination":"SG","category":"personal","pipelines":["crm-sync"],"estimate":20114,"upper_bound":21100,"window":"current_year","events":31000,"first_seen":"2026-11-25T10:00:01+08:00","last_seen":"2026-11-25T10:01:01+08:00","approvals":[],"inside_scope":false}]}`},
		{"/v1/entities/b-co/flows", 200, `{"entity":"b-co","flows":[]}`},
		{"/v1/entities/nobody/flows", 404, `{"error":"entity \"nobody\" is neither configured nor seen"}`},
		{"/v1/entities/nobody", 404, `{"error":"entity \"nobody\" is neither configured nor seen"}`},
		{"/v1/entities/a-co/decision", 200, `{"entity":"a-co","decision":"block","required_mechanism":"security_assessment","reasons":["personal-100k breached"],"version":3,"decided_at":"2026-11-25T10:00:01+08:00","as_of":"2026-11-25T10:01:01+08:00"}`},
		{"/v1/entities/nobody/decision", 200, `{"entity":"nobody","decision":"allow","required_mechanism":"none","reasons":[],"version":0,"decided_at":null,"as_of":"2026-11-25T10:01:01+08:00"}`},
		{"/v1/entities/bad%20id/decision", 400, `"error"`},
		{"/v1/nothing", 404, `{"error":"no such endpoint"}`},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			code, body := get(t, srv.URL+c.path, "")
			if code != c.code || !strings.Contains(body, c.want) {
				t.Errorf("GET %s = %d %s, want %d containing %s", c.path, code, body, c.code, c.want)
			}
			if strings.HasPrefix(c.path, "/v1/") && !json.Valid([]byte(body)) {
				t.Errorf("not JSON: %s", body)
			}
		})
	}
}

// TestDecisionFailsClosed: whatever the reason the decider does not know,
// the decision endpoint answers 503 with the reason, never allow.
func TestDecisionFailsClosed(t *testing.T) {
	srv := server(t, "", nil)
	for _, why := range []error{
		decide.ErrNotReady,
		fmt.Errorf("%w: dial tcp: connection refused", decide.ErrStoreUnavailable),
		fmt.Errorf("%w: offsets missing", decide.ErrStoreIntegrity),
		fmt.Errorf("%w: they are 3m0s old", decide.ErrStale),
	} {
		verdictErr = why
		for _, id := range []string{"a-co", "b-co", "nobody"} {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/entities/"+id+"/decision", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e struct{ Error string }
			if resp.StatusCode != 503 || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, why.Error()) || strings.Contains(string(body), "allow") {
				t.Errorf("%s while %v: %d %s, want 503 with the reason", id, why, resp.StatusCode, body)
			}
			if resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s: 503 without Retry-After", id)
			}
		}
	}
	verdictErr = nil
	if code, _ := get(t, srv.URL+"/v1/entities/a-co/decision", ""); code != 200 {
		t.Errorf("decision once known: %d", code)
	}
}

func TestNotReady(t *testing.T) {
	srv := server(t, "", errors.New("store: connection refused"))
	if code, body := get(t, srv.URL+"/readyz", ""); code != 503 || !strings.Contains(body, "connection refused") {
		t.Errorf("/readyz = %d %s", code, body)
	}
}

func TestBearerToken(t *testing.T) {
	srv := server(t, "s3cret", nil)
	for _, auth := range []string{"", "Bearer wrong", "Bearer s3cret2", "s3cret", "Basic s3cret"} {
		if code, body := get(t, srv.URL+"/v1/entities", auth); code != 401 || !strings.Contains(body, `"error"`) {
			t.Errorf("Authorization %q: %d %s, want 401", auth, code, body)
		}
	}
	if code, _ := get(t, srv.URL+"/v1/entities", "Bearer s3cret"); code != 200 {
		t.Errorf("right token: %d", code)
	}
	// The probes and metrics stay open: orchestrators and Prometheus use them.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _ := get(t, srv.URL+p, ""); code != 200 {
			t.Errorf("%s without token: %d", p, code)
		}
	}
}
