package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transferwatch/transferwatch/internal/redistest"
)

// TestEvidencePack: a service counts real events and records its decision
// changes; the API serves the history and the pack; with the service
// stopped, `transferwatch report` reads the same store and writes a pack
// with the same figures and history, in Chinese on request.
func TestEvidencePack(t *testing.T) {
	c := cluster(t, 1)
	rds := redistest.Server(t)
	cfg := serviceConfig(t, c.Addr(), rds.Addr(), "tw", "tw", `policy: {preset: cac-2024}
entities:
  - id: acme-sh
    name: Acme (Shanghai) Co., Ltd.
    approvals:
      - {mechanism: security_assessment, status: pending, reference: CAC-PENDING-1}
`)
	svc := start(t, cfg)
	msgs := sensitiveEvents(t, "acme-sh", 0, 1200)
	c.Produce(topic, msgs...)
	eventually(t, "every message committed", func() bool { return drained(c, "tw", len(msgs)) })

	type change struct {
		Version  int64    `json:"version"`
		Decision string   `json:"decision"`
		Previous string   `json:"previous"`
		Reasons  []string `json:"reasons"`
		Rules    []struct {
			ID       string `json:"id"`
			Estimate uint64 `json:"estimate"`
		} `json:"rules"`
	}
	sensitive := func(c change) uint64 {
		for _, r := range c.Rules {
			if r.ID == "sensitive-any" {
				return r.Estimate
			}
		}
		return 0
	}
	var hist struct {
		Entity  string   `json:"entity"`
		Changes []change `json:"changes"`
	}
	var st status
	eventually(t, "a block recorded with its figures, and the status evaluated", func() bool {
		code, body := svc.get("/v1/entities/acme-sh/history")
		if code != 200 || json.Unmarshal([]byte(body), &hist) != nil || len(hist.Changes) == 0 || hist.Changes[0].Decision != "block" {
			return false
		}
		code, body = svc.get("/v1/entities/acme-sh")
		return code == 200 && json.Unmarshal([]byte(body), &st) == nil && st.estimate("sensitive", "current_year") >= 1100
	})
	// The figures behind the change: what the service held when it
	// blocked (one flush or more before the last).
	if n := sensitive(hist.Changes[0]); n == 0 || n > st.estimate("sensitive", "current_year") {
		t.Errorf("sensitive-any held %d at the change, %d now", n, st.estimate("sensitive", "current_year"))
	}
	if len(hist.Changes[0].Rules) == 0 || len(hist.Changes[0].Reasons) == 0 {
		t.Errorf("the change carries no figures or reasons: %+v", hist.Changes[0])
	}
	code, body := svc.get("/v1/entities/acme-sh/report")
	if code != 200 || !strings.Contains(body, "Evidence pack") || strings.Contains(body, "https://") || strings.Contains(body, "http://") {
		t.Fatalf("GET report: %d\n%.300s", code, body)
	}
	var fromAPI struct {
		Status  status   `json:"status"`
		History []change `json:"history"`
	}
	if code, body := svc.get("/v1/entities/acme-sh/report?format=json"); code != 200 || json.Unmarshal([]byte(body), &fromAPI) != nil || !sameCounters(fromAPI.Status, st) {
		t.Fatalf("GET report?format=json: %d, counters %+v, want %+v", code, fromAPI.Status.Counters, st.Counters)
	}

	// The service is down; the pack comes from the store.
	svc.stop()
	dir := filepath.Join(t.TempDir(), "pack")
	code, out, errOut := cli(t, nil, "report", "--config", cfg, "--entity", "acme-sh", "--out", dir, "--lang", "zh")
	if code != 0 {
		t.Fatalf("report: exit %d\n%s%s", code, out, errOut)
	}
	for _, name := range []string{"report.html", "report.json", "rules.csv", "series.csv", "history.csv", "checklist.csv"} {
		if !strings.Contains(out, filepath.Join(dir, name)) {
			t.Errorf("report does not list %s:\n%s", name, out)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pack struct {
		Entity struct {
			ID string `json:"id"`
		} `json:"entity"`
		Status  status   `json:"status"`
		History []change `json:"history"`
		Config  struct {
			Fingerprint string `json:"fingerprint"`
		} `json:"config"`
	}
	if err := json.Unmarshal(raw, &pack); err != nil {
		t.Fatal(err)
	}
	if pack.Entity.ID != "acme-sh" || !sameCounters(pack.Status, st) || pack.Status.Decision != st.Decision {
		t.Errorf("the pack from the store: %+v\nthe service said: %+v", pack.Status, st)
	}
	if len(pack.History) != len(hist.Changes) || pack.History[0].Version != hist.Changes[0].Version || len(pack.Config.Fingerprint) != 64 {
		t.Errorf("pack history %+v, fingerprint %q; the API's history %+v", pack.History, pack.Config.Fingerprint, hist.Changes)
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil || !strings.Contains(string(html), "证据包") || !strings.Contains(string(html), `lang="zh-Hans"`) {
		t.Errorf("report.html in Chinese: %v\n%.300s", err, html)
	}
	if strings.Contains(string(html)+string(raw), "person-") {
		t.Error("a subject identifier is in the pack")
	}
	code, _, errOut = cli(t, nil, "report", "--config", cfg, "--entity", "nobody-sh", "--out", dir)
	if code != 1 || !strings.Contains(errOut, "neither configured") {
		t.Errorf("unknown entity: exit %d, %q", code, errOut)
	}
}
