package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/api"
	"github.com/transferwatch/transferwatch/internal/dossier"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/report"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store"
	"github.com/transferwatch/transferwatch/internal/store/memstore"
	"github.com/transferwatch/transferwatch/internal/store/storetest"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// dossierServer serves a store holding a-co's people and three decision
// changes, with c-co configured and never decided, behind token "tok".
func dossierServer(t *testing.T) *httptest.Server {
	t.Helper()
	st := memstore.New()
	b := sketch.Batch{}
	hashes := make([]uint64, 5000)
	for i := range hashes {
		hashes[i] = storetest.Hash(i)
	}
	b.Add("a-co", 2026, 300, sketch.CellOf(event.KindTransfer, true, false), false, hashes)
	if err := st.Merge(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	prev := store.Decision{}
	for v, dec := range []policy.Decision{policy.Allow, policy.Warn, policy.Block} {
		s := policy.Status{Entity: "a-co", Decision: dec, Policy: "cac-2024", Reasons: []string{"reason " + string(dec)},
			RequiredMechanism: policy.MechanismNone, UpdatedAt: decidedAt.Add(time.Duration(v) * time.Hour),
			Rules: []policy.RuleReport{{ID: "sensitive-10k", Threshold: 10000, Estimate: uint64(4000 + 1000*v)}}}
		change, _ := json.Marshal(s.Change(policy.Decision(prev.Decision), int64(v+1)))
		msg, _ := json.Marshal(s.Signal(policy.Decision(prev.Decision), int64(v+1)))
		next := store.Decision{Version: int64(v + 1), Decision: string(dec), DecidedAt: s.UpdatedAt, Change: string(change)}
		if ok, err := st.SwapDecision(context.Background(), "a-co", prev, next, msg); !ok || err != nil {
			t.Fatal(ok, err)
		}
		prev = next
	}
	preset, _ := policy.PresetByName(policy.PresetCAC2024)
	srv := httptest.NewServer(api.Handler(api.Options{
		Statuses: statuses{},
		Ready:    func(*http.Request) error { return nil },
		Token:    "tok",
		Dossiers: dossier.New(st, dossier.Options{
			Settings: policy.Settings{Preset: preset, Location: decidedAt.Location()},
			Entities: []policy.Entity{{ID: "c-co", Name: "C Co."}},
			Now:      func() time.Time { return asOf },
		}),
	}))
	t.Cleanup(srv.Close)
	return srv
}

func fetch(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestHistory(t *testing.T) {
	srv := dossierServer(t)
	resp, body := fetch(t, srv.URL+"/v1/entities/a-co/history")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("history: %d %s", resp.StatusCode, body)
	}
	var h struct {
		Entity  string           `json:"entity"`
		Changes []map[string]any `json:"changes"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatal(err)
	}
	if h.Entity != "a-co" || len(h.Changes) != 3 {
		t.Fatalf("history %s", body)
	}
	for i, want := range []struct {
		version            float64
		decision, previous string
	}{{3, "block", "warn"}, {2, "warn", "allow"}, {1, "allow", ""}} {
		c := h.Changes[i]
		for _, k := range []string{"version", "decision", "previous", "reasons", "decided_at", "rules"} {
			if _, ok := c[k]; !ok {
				t.Errorf("change %d lacks %q: %v", i, k, c)
			}
		}
		if c["version"] != want.version || c["decision"] != want.decision || c["previous"] != want.previous {
			t.Errorf("change %d = %v, want %+v", i, c, want)
		}
	}
	if r := h.Changes[0]["rules"].([]any)[0].(map[string]any); r["id"] != "sensitive-10k" || r["estimate"] != 6000.0 {
		t.Errorf("figures behind the last change: %v", r)
	}

	if _, body := fetch(t, srv.URL+"/v1/entities/a-co/history?limit=1"); strings.Count(string(body), `"version"`) != 1 || !strings.Contains(string(body), `"version":3`) {
		t.Errorf("limit=1: %s", body)
	}
	for _, bad := range []string{"0", "-1", "x", "1001"} {
		if resp, body := fetch(t, srv.URL+"/v1/entities/a-co/history?limit="+bad); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"error"`) {
			t.Errorf("limit=%s: %d %s", bad, resp.StatusCode, body)
		}
	}
	if resp, body := fetch(t, srv.URL+"/v1/entities/c-co/history"); resp.StatusCode != http.StatusOK || string(body) != `{"entity":"c-co","changes":[]}`+"\n" {
		t.Errorf("configured, never decided: %d %s", resp.StatusCode, body)
	}
	if resp, body := fetch(t, srv.URL+"/v1/entities/nobody/history"); resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `"error"`) {
		t.Errorf("unknown: %d %s", resp.StatusCode, body)
	}
	if code, _ := get(t, srv.URL+"/v1/entities/a-co/history", ""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d", code)
	}
}

func TestReport(t *testing.T) {
	srv := dossierServer(t)
	resp, body := fetch(t, srv.URL+"/v1/entities/a-co/report")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
		!strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("html: %d %v", resp.StatusCode, resp.Header)
	}
	if !bytes.Contains(body, []byte(`<html lang="en">`)) || !bytes.Contains(body, []byte("Evidence pack")) || bytes.Contains(body, []byte("https://")) {
		t.Errorf("html report:\n%.400s", body)
	}
	if _, body := fetch(t, srv.URL+"/v1/entities/a-co/report?format=html&lang=zh"); !bytes.Contains(body, []byte(`<html lang="zh-Hans">`)) || !bytes.Contains(body, []byte("证据包")) {
		t.Errorf("zh report:\n%.400s", body)
	}

	resp, body = fetch(t, srv.URL+"/v1/entities/a-co/report?format=json")
	var d dossier.Dossier
	if err := json.Unmarshal(body, &d); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("json: %v %s", err, resp.Header.Get("Content-Type"))
	}
	i := -1
	for j, c := range d.Status.Counters {
		if c.Counter == sketch.Sensitive && c.Window == sketch.CurrentYear {
			i = j
		}
	}
	if d.Entity.ID != "a-co" || i < 0 || d.Status.Counters[i].Estimate < 4900 || d.Status.Counters[i].Estimate > 5100 || len(d.History) != 3 {
		t.Errorf("json dossier: entity %s counters %+v history %d", d.Entity.ID, d.Status.Counters, len(d.History))
	}

	resp, body = fetch(t, srv.URL+"/v1/entities/a-co/report?format=csv&lang=zh")
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil || resp.Header.Get("Content-Type") != "application/zip" || !strings.Contains(resp.Header.Get("Content-Disposition"), ".zip") {
		t.Fatalf("csv: %v %v", err, resp.Header)
	}
	if len(zr.File) != len(report.CSVNames()) {
		t.Errorf("zip holds %d files, want %d", len(zr.File), len(report.CSVNames()))
	}

	for _, bad := range []string{"format=pdf", "lang=fr"} {
		if resp, body := fetch(t, srv.URL+"/v1/entities/a-co/report?"+bad); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"error"`) {
			t.Errorf("%s: %d %s", bad, resp.StatusCode, body)
		}
	}
	if resp, _ := fetch(t, srv.URL+"/v1/entities/nobody/report"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown entity: %d", resp.StatusCode)
	}
	if resp, _ := fetch(t, srv.URL+"/v1/entities/c-co/report?format=json"); resp.StatusCode != http.StatusOK {
		t.Errorf("configured entity: %d", resp.StatusCode)
	}
}

// TestReportWithheld: when the decision endpoint would withhold the
// entity's decision (here: not evaluated yet), so does the evidence pack,
// with 503 and Retry-After, in every format; a bad id is 404 before any
// store read.
func TestReportWithheld(t *testing.T) {
	preset, _ := policy.PresetByName(policy.PresetCAC2024)
	srv := httptest.NewServer(api.Handler(api.Options{
		Statuses: statuses{},
		Ready:    func(*http.Request) error { return nil },
		Dossiers: dossier.New(memstore.New(), dossier.Options{
			Settings: policy.Settings{Preset: preset, Location: decidedAt.Location()},
			Entities: []policy.Entity{{ID: "c-co", Name: "C Co."}},
			Now:      func() time.Time { return asOf },
			Check:    func(string, time.Time) error { return errors.New("entity c-co was not evaluated yet") },
		}),
	}))
	t.Cleanup(srv.Close)
	for _, f := range []string{"html", "json", "csv"} {
		resp, body := fetch(t, srv.URL+"/v1/entities/c-co/report?format="+f)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			!strings.Contains(string(body), "not evaluated yet") || strings.Contains(string(body), "allow") {
			t.Errorf("report?format=%s = %d (Retry-After %q) %s, want 503 naming the cause", f, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	if resp, _ := fetch(t, srv.URL+"/v1/entities/not%20an%20id/report"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("report of a bad id = %d, want 404", resp.StatusCode)
	}
}

// blockingDossiers builds nothing until release is closed, and tells
// started of each build it holds.
type blockingDossiers struct {
	started chan struct{}
	release chan struct{}
}

func (b blockingDossiers) Build(ctx context.Context, _ string) (*dossier.Dossier, error) {
	b.started <- struct{}{}
	<-b.release
	return nil, dossier.ErrUnknownEntity
}

func (blockingDossiers) History(context.Context, string, int) ([]policy.Change, error) {
	return nil, nil
}

// TestReportsAtOnce: beyond api.MaxReportsAtOnce packs being built, a
// request is answered 503 with Retry-After at once; once one finishes, the
// next is built.
func TestReportsAtOnce(t *testing.T) {
	ds := blockingDossiers{started: make(chan struct{}), release: make(chan struct{})}
	srv := httptest.NewServer(api.Handler(api.Options{
		Statuses: statuses{}, Ready: func(*http.Request) error { return nil }, Dossiers: ds,
	}))
	t.Cleanup(srv.Close)
	done := make(chan int, api.MaxReportsAtOnce)
	for range api.MaxReportsAtOnce {
		go func() {
			resp, _ := http.Get(srv.URL + "/v1/entities/a-co/report")
			if resp != nil {
				resp.Body.Close()
				done <- resp.StatusCode
				return
			}
			done <- 0
		}()
		<-ds.started
	}
	resp, body := fetch(t, srv.URL+"/v1/entities/a-co/report")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("report beyond %d at once = %d %s, want 503 with Retry-After", api.MaxReportsAtOnce, resp.StatusCode, body)
	}
	close(ds.release)
	for range api.MaxReportsAtOnce {
		if code := <-done; code != http.StatusNotFound {
			t.Errorf("a held report ended %d, want the build's 404", code)
		}
	}
	go func() { <-ds.started }()
	if resp, _ := fetch(t, srv.URL+"/v1/entities/a-co/report"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("report after the others finished = %d, want the build's 404", resp.StatusCode)
	}
}
