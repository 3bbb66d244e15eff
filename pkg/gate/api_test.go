package gate_test

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/pkg/decision"
	"github.com/transferwatch/transferwatch/pkg/gate"
)

// fakeAPI is a test double of transferwatch's HTTP API (CONTRACT §6): it
// serves GET /v1/entities and GET /v1/entities/{id}/decision from a map,
// behind the optional bearer token, and can be told to fail.
type fakeAPI struct {
	token    string
	requests atomic.Int64

	mu       sync.Mutex
	verdicts map[string]decision.Verdict
	fail     func(w http.ResponseWriter, r *http.Request) bool // answers instead when it returns true
}

func newFakeAPI(token string, verdicts ...decision.Verdict) *fakeAPI {
	a := &fakeAPI{token: token, verdicts: map[string]decision.Verdict{}}
	for _, v := range verdicts {
		a.verdicts[v.Entity] = v
	}
	return a
}

func (a *fakeAPI) set(v decision.Verdict) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.verdicts[v.Entity] = v
}

func (a *fakeAPI) failWith(f func(w http.ResponseWriter, r *http.Request) bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fail = f
}

func (a *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.requests.Add(1)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil && a.fail(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if a.token != "" && r.Header.Get("Authorization") != "Bearer "+a.token {
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "missing or wrong bearer token"})
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/entities", func(w http.ResponseWriter, _ *http.Request) {
		type status struct { // the fields of EntityStatus the client reads, and one it does not
			decision.Verdict
			Policy string `json:"policy"`
			CIIO   bool   `json:"ciio"`
		}
		list := []status{}
		for _, id := range slices.Sorted(maps.Keys(a.verdicts)) {
			list = append(list, status{Verdict: a.verdicts[id], Policy: "cac-2022"})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"entities": list})
	})
	mux.HandleFunc("GET /v1/entities/{id}/decision", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		v, ok := a.verdicts[id]
		if !ok {
			v = decision.Verdict{Entity: id, Decision: gate.Allow, RequiredMechanism: "none", Reasons: []string{}}
		}
		_ = json.NewEncoder(w).Encode(v)
	})
	mux.ServeHTTP(w, r)
}

// requestsSeen waits until the API has answered n more requests than now,
// so that the gate has processed at least n-1 of them (it polls one
// request at a time).
func requestsSeen(t *testing.T, api *fakeAPI, n int64) {
	t.Helper()
	target := api.requests.Load() + n
	eventually(t, "the gate polls again", func() bool { return api.requests.Load() >= target })
}

var (
	acmeBlocked = decision.Verdict{Entity: "acme-sh", Decision: gate.Block, RequiredMechanism: "security_assessment",
		Reasons: []string{"personal-100k breached: 100412 >= 100000 since 2025-01-01"}}
	betaWarned = decision.Verdict{Entity: "beta-bj", Decision: gate.Warn, RequiredMechanism: "none", Reasons: []string{"near"}}
)

// apiGate returns a running gate on a real HTTP server serving api.
func apiGate(t *testing.T, api *fakeAPI, o gate.APIOptions) (*httptest.Server, *gate.Gate, *fakeClock) {
	t.Helper()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	clock := newFakeClock()
	o.BaseURL, o.Now = srv.URL, clock.Now
	o.PollInterval = 5 * time.Millisecond
	if o.MaxStaleness == 0 {
		o.MaxStaleness = time.Minute
	}
	g, err := gate.NewFromAPI(o)
	if err != nil {
		t.Fatal(err)
	}
	run(t, g)
	return srv, g, clock
}

func TestAPIAllEntities(t *testing.T) {
	api := newFakeAPI("s3cret", acmeBlocked, betaWarned)
	_, g, _ := apiGate(t, api, gate.APIOptions{Token: "s3cret"})
	wait(t, g)
	check(t, g,
		want{entity: "acme-sh", decision: gate.Block, known: true},
		want{entity: "beta-bj", decision: gate.Warn, allowed: true, known: true},
		// Under cac-2022 an entity never seen needs a standard contract for
		// its first transfer, as transferwatch's own answer says.
		want{entity: "never-seen", decision: gate.Block},
	)
	if a := g.Decision("acme-sh"); a.Policy != "cac-2022" || a.RequiredMechanism != "security_assessment" ||
		!slices.Equal(a.Reasons, acmeBlocked.Reasons) {
		t.Errorf("acme-sh = %+v", a)
	}

	api.set(decision.Verdict{Entity: "acme-sh", Decision: gate.Allow})
	eventually(t, "acme-sh is allowed", func() bool { _, ok := g.Allowed("acme-sh"); return ok })
}

func TestAPIListedEntities(t *testing.T) {
	api := newFakeAPI("", acmeBlocked, betaWarned)
	_, g, _ := apiGate(t, api, gate.APIOptions{Entities: []string{"acme-sh", "beta-bj", "new-one"}})
	wait(t, g)
	check(t, g,
		want{entity: "acme-sh", decision: gate.Block, known: true},
		want{entity: "beta-bj", decision: gate.Warn, allowed: true, known: true},
		// transferwatch answers allow for an entity it has never seen.
		want{entity: "new-one", decision: gate.Allow, allowed: true, known: true},
		// The gate knows nothing of an entity it does not poll.
		want{entity: "not-listed", err: gate.ErrNotFollowed},
	)
	if a := g.Decision("not-listed"); !a.Fresh {
		t.Errorf("not-listed: %+v, want a fresh cache", a)
	}
}

func TestAPIWrongToken(t *testing.T) {
	for name, token := range map[string]string{"no token": "", "wrong token": "guess"} {
		t.Run(name, func(t *testing.T) {
			api := newFakeAPI("s3cret", betaWarned)
			_, g, _ := apiGate(t, api, gate.APIOptions{Token: token})
			requestsSeen(t, api, 3)
			check(t, g, want{entity: "beta-bj", err: gate.ErrNotSynced},
				want{entity: "never-seen", err: gate.ErrNotSynced})
		})
	}
}

func TestAPIFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		name       string
		listedOnly bool // only with a list of entities
		fail       func(w http.ResponseWriter, r *http.Request) bool
	}{
		{name: "503", fail: func(w http.ResponseWriter, _ *http.Request) bool {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"not ready"}`))
			return true
		}},
		{name: "token rotated", fail: func(w http.ResponseWriter, _ *http.Request) bool {
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}},
		{name: "not json", fail: func(w http.ResponseWriter, _ *http.Request) bool {
			_, _ = w.Write([]byte("<html>proxy error</html>"))
			return true
		}},
		{name: "error body with 200", fail: func(w http.ResponseWriter, _ *http.Request) bool {
			_, _ = w.Write([]byte(`{"error":"oops"}`))
			return true
		}},
		{name: "one entity fails", listedOnly: true, fail: func(w http.ResponseWriter, r *http.Request) bool {
			if r.PathValue("id") == "acme-sh" || strings.Contains(r.URL.Path, "acme-sh") {
				w.WriteHeader(http.StatusInternalServerError)
				return true
			}
			return false
		}},
	} {
		for _, entities := range [][]string{nil, {"acme-sh", "beta-bj"}} {
			if tc.listedOnly && entities == nil {
				continue
			}
			mode := "all"
			if entities != nil {
				mode = "listed"
			}
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				api := newFakeAPI("s3cret", acmeBlocked, betaWarned)
				_, g, clock := apiGate(t, api, gate.APIOptions{Token: "s3cret", Entities: entities})
				wait(t, g)
				check(t, g, want{entity: "beta-bj", decision: gate.Warn, allowed: true, known: true})

				api.failWith(tc.fail)
				// Polls starting from now fail, so the cache stays as of
				// before this.
				clock.Advance(time.Minute + time.Nanosecond)
				requestsSeen(t, api, 3)
				check(t, g,
					want{entity: "acme-sh", decision: gate.Block, err: gate.ErrStale, known: true},
					want{entity: "beta-bj", decision: gate.Warn, err: gate.ErrStale, known: true},
				)

				api.failWith(nil)
				eventually(t, "the gate recovers", func() bool { _, ok := g.Allowed("beta-bj"); return ok })
			})
		}
	}
}

func TestAPIFailsClosedWhenServerGone(t *testing.T) {
	api := newFakeAPI("", betaWarned)
	srv, g, clock := apiGate(t, api, gate.APIOptions{})
	wait(t, g)
	check(t, g, want{entity: "beta-bj", decision: gate.Warn, allowed: true, known: true})

	srv.Close() // waits for the requests under way
	clock.Advance(time.Minute + time.Nanosecond)
	check(t, g, want{entity: "beta-bj", decision: gate.Warn, err: gate.ErrStale, known: true},
		want{entity: "never-seen", err: gate.ErrStale})
}

func TestNewFromAPIRejectsBadOptions(t *testing.T) {
	for name, o := range map[string]gate.APIOptions{
		"no URL":                  {},
		"relative URL":            {BaseURL: "transferwatch:8080"},
		"not http":                {BaseURL: "ftp://transferwatch"},
		"token with newline":      {BaseURL: "http://tw", Token: "a\nb"},
		"staleness below polling": {BaseURL: "http://tw", PollInterval: time.Minute, MaxStaleness: time.Second},
		"bad entity":              {BaseURL: "http://tw", Entities: []string{"acme/sh"}},
		"negative poll interval":  {BaseURL: "http://tw", PollInterval: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := gate.NewFromAPI(o); !errors.Is(err, gate.ErrInvalidOptions) {
				t.Errorf("NewFromAPI = %v, want ErrInvalidOptions", err)
			}
		})
	}
}
