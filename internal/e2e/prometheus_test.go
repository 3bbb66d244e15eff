package e2e

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/testutil/poll"
	"github.com/transferwatch/transferwatch/internal/testutil/redistest"
)

// Paths of the operations artifacts, relative to this package.
const (
	alertRulesPath = "../../deploy/prometheus/alerts.yaml"
	dashboardPath  = "../../deploy/grafana/transferwatch.json"
)

// The entities of the Prometheus scenario, each producing what some panels
// and alerts show.
const (
	blockedEntity  = "acme-sh"  // 10,400 sensitive subjects today: sensitive-10k breached, block
	forecastEntity = "gamma-gz" // weekly batches below the threshold: a crossing forecast
	approvedEntity = "beta-bj"  // an approval expiring within the renewal lead
)

// TestPrometheusAlertsAndDashboard runs the service as in production with a
// real Prometheus (Debian's package) scraping it on loopback and evaluating
// deploy/prometheus/alerts.yaml. After the scenario (an entity blocked,
// another forecast to cross a threshold, a third with an expiring approval,
// an invalid event), the alerts it must raise are firing in Prometheus's own
// API, the service-health alerts are not, and every query of every panel of
// deploy/grafana/transferwatch.json returns data.
func TestPrometheusAlertsAndDashboard(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus not found (%v): install prometheus: make deps", err)
	}

	zone := forecastableZone(time.Now())
	loc := must(time.LoadLocation(zone))
	today := time.Now().In(loc)
	validUntil := today.AddDate(0, 0, 90)
	c := cluster(t, 1)
	rds := redistest.Server(t)
	svc := start(t, serviceConfig(t, c.Addr(), rds.Addr(), "tw", "tw", fmt.Sprintf(`timezone: %s
policy: {preset: cac-2022}
entities:
  - id: %s
    approvals:
      - mechanism: security_assessment
        status: approved
        reference: CAC-E2E-1
        valid_from: %s
        valid_until: %s
`, zone, approvedEntity, today.AddDate(-1, 0, 0).Format(time.DateOnly), validUntil.Format(time.DateOnly))))
	prom := startPrometheus(t, promBin, svc.addr, forZero(t, alertRulesPath))
	// A counter's first sample is no increase: let Prometheus scrape the
	// service before any event, as it would a service running for long.
	eventually(t, "a first scrape", func() bool {
		return len(prom.query(t, `transferwatch_events_total{job="transferwatch",result="invalid"} == 0`)) == 1
	})

	// The blocked entity: past sensitive-10k at once (as in
	// TestDecisionsAllowWarnBlock).
	msgs := sensitiveEvents(t, blockedEntity, 0, 10_400)
	// The forecast entity: a weekly pipeline brought 4,655 new people 14 and
	// 7 days ago, 9,310 in all (upper bound ≈ 9,540: level warning). 14 of
	// the 21 weekly growth samples of the last 28 days hold one batch, so
	// their median, the forecast growth, is 665 a day and 10,000 is a day
	// ahead: a crossing is forecast on any day but the last of the year (see
	// forecastableZone).
	for i, daysAgo := range []int{14, 7} {
		batch := sensitiveEvents(t, forecastEntity, i*4_655, (i+1)*4_655)
		msgs = append(msgs, occurredAt(t, batch, today.AddDate(0, 0, -daysAgo))...)
	}
	// One event of the approved entity, and one that is not JSON.
	msgs = append(msgs, sensitiveEvents(t, approvedEntity, 0, 10)...)
	msgs = append(msgs, kafka.Message{Key: []byte("broken"), Value: []byte("this is not json")})
	c.Produce(topic, msgs...)
	eventually(t, "every message committed", func() bool { return drained(c, "tw", len(msgs)) })

	// The alerts the scenario raises. Prometheus sees them only through
	// scrapes and rule evaluations; poll until all fire.
	want := []struct {
		alert  string
		labels map[string]string
	}{
		{"TransferwatchThresholdBreached", map[string]string{"entity": blockedEntity, "rule": "sensitive-10k", "severity": "warning"}},
		{"TransferwatchEntityBlocked", map[string]string{"entity": blockedEntity, "severity": "critical"}},
		{"TransferwatchThresholdApproaching", map[string]string{"entity": forecastEntity, "rule": "sensitive-10k"}},
		{"TransferwatchCrossingForecast", map[string]string{"entity": forecastEntity, "rule": "sensitive-10k"}},
		{"TransferwatchApprovalExpiring", map[string]string{"entity": approvedEntity, "mechanism": "security_assessment"}},
		{"TransferwatchInvalidEvents", map[string]string{"job": "transferwatch"}},
	}
	var alerts []promAlert
	defer func() {
		if t.Failed() {
			t.Logf("Prometheus's alerts: %+v\nstatus of %s: %s\nstatus of %s: %s", alerts,
				forecastEntity, svc.body("/v1/entities/"+forecastEntity),
				approvedEntity, svc.body("/v1/entities/"+approvedEntity))
		}
	}()
	eventually(t, "the scenario's alerts firing in Prometheus", func() bool {
		alerts = prom.alerts(t)
		for _, w := range want {
			if !slices.ContainsFunc(alerts, func(a promAlert) bool {
				return a.State == "firing" && a.Labels["alertname"] == w.alert && hasLabels(a.Labels, w.labels)
			}) {
				return false
			}
		}
		return true
	})
	for _, a := range alerts {
		if a.Labels["job"] != "transferwatch" || a.Labels["severity"] == "" || a.Annotations["summary"] == "" ||
			!strings.HasPrefix(a.Annotations["runbook_url"], "https://") {
			t.Errorf("alert %v: job, severity, summary or runbook_url missing (annotations %v)", a.Labels, a.Annotations)
		}
	}

	// The day gauges are Unix times in base units (CONTRACT v2 §7): the approval's expiry is
	// 00:00 of its valid_until in the configured zone, the forecast crossing 00:00 of a day
	// from today to the end of the year; the v1 names are gone.
	wantExpiry := time.Date(validUntil.Year(), validUntil.Month(), validUntil.Day(), 0, 0, 0, 0, loc).Unix()
	expiry := prom.query(t, fmt.Sprintf(`transferwatch_approval_expiry_timestamp_seconds{entity=%q, mechanism="security_assessment"}`, approvedEntity))
	if len(expiry) != 1 || expiry[0].Value[1] != strconv.FormatInt(wantExpiry, 10) {
		t.Errorf("approval expiry of %s: %+v, want one series at %d (%s 00:00 %s)", approvedEntity, expiry, wantExpiry, validUntil.Format(time.DateOnly), zone)
	}
	crossing := prom.query(t, fmt.Sprintf(`transferwatch_rule_forecast_crossing_timestamp_seconds{entity=%q, rule="sensitive-10k"}`, forecastEntity))
	dayStart := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, loc)
	if len(crossing) != 1 {
		t.Errorf("forecast crossing of %s: %+v, want one series", forecastEntity, crossing)
	} else if at, err := strconv.ParseInt(fmt.Sprint(crossing[0].Value[1]), 10, 64); err != nil ||
		at < dayStart.Unix() || at > time.Date(today.Year()+1, 1, 1, 0, 0, 0, 0, loc).Unix() || (at-dayStart.Unix())%86400 != 0 {
		t.Errorf("forecast crossing of %s at %v, want 00:00 of a day from %s to the end of the year", forecastEntity, crossing[0].Value[1], dayStart)
	}
	for _, old := range []string{"transferwatch_approval_days_left", "transferwatch_rule_forecast_days"} {
		if res := prom.query(t, old); len(res) != 0 {
			t.Errorf("%s is still exported: %+v", old, res)
		}
	}
	build := prom.query(t, `transferwatch_build_info{job="transferwatch"}`)
	if len(build) != 1 || build[0].Value[1] != "1" || build[0].Metric["version"] == "" || build[0].Metric["revision"] == "" ||
		!strings.HasPrefix(build[0].Metric["goversion"], "go") || build[0].Metric["goarch"] == "" {
		t.Errorf("transferwatch_build_info = %+v, want one series at 1 with version, revision, goversion and goarch", build)
	}

	// The service is healthy: scraped, and no service alert fires. Wait for
	// an evaluation of TransferwatchDown after up was seen, so that a
	// firing Down at start-up (before the first scrape, absent(up) holds
	// and `for` is 0s here) cannot hide a later one.
	res := prom.query(t, `up{job="transferwatch"}`)
	if len(res) != 1 || res[0].Value[1] != "1" {
		t.Fatalf(`up{job="transferwatch"} = %+v, want one series at 1`, res)
	}
	upSeen := time.Now()
	var rules []promRule
	eventually(t, "an evaluation of every rule after up was seen", func() bool {
		rules = prom.rules(t)
		for _, r := range rules {
			if !r.LastEvaluation.After(upSeen) {
				return false
			}
		}
		return true
	})
	if n := strings.Count(string(must(os.ReadFile(alertRulesPath))), "- alert: "); len(rules) != n {
		t.Errorf("Prometheus loaded %d alerting rules, alerts.yaml holds %d", len(rules), n)
	}
	for _, r := range rules {
		if r.Health != "ok" {
			t.Errorf("rule %s: health %q: %s", r.Name, r.Health, r.LastError)
		}
	}
	alerts = prom.alerts(t)
	for _, name := range []string{"TransferwatchDown", "TransferwatchFlushErrors", "TransferwatchConsumerLagGrowing"} {
		for _, a := range alerts {
			if a.Labels["alertname"] == name {
				t.Errorf("%s is %s on a healthy service: %v", name, a.State, a.Labels)
			}
		}
	}

	// Every query of every panel returns data, with the template variables
	// as Grafana would fill them in on the dashboard's defaults.
	for _, q := range dashboardQueries(t) {
		res := prom.query(t, q.expr)
		if len(res) == 0 {
			t.Errorf("panel %q: no data for\n%s", q.panel, q.expr)
		}
	}
	svc.stop()
}

// forecastableZone returns the time zone the service runs in: its default,
// Asia/Shanghai, except on 31 December there. A crossing is forecast no
// later than 31 December (a window's count restarts or drops on 1 January),
// so on that day no crossing can be forecast at all; then the zone is
// whichever of UTC-12 and UTC+14 is not on 31 December (26 hours apart,
// they are never both on it).
func forecastableZone(now time.Time) string {
	for _, zone := range []string{"Asia/Shanghai", "Etc/GMT+12", "Etc/GMT-14"} {
		if _, m, d := now.In(must(time.LoadLocation(zone))).Date(); m != time.December || d != 31 {
			return zone
		}
	}
	panic("unreachable: UTC-12 and UTC+14 are both on 31 December")
}

// TestPrometheusForecastableZone: whatever the instant, the zone chosen is
// not on 31 December.
func TestPrometheusForecastableZone(t *testing.T) {
	for at := time.Date(2026, 12, 29, 0, 0, 0, 0, time.UTC); at.Year() < 2027 || at.YearDay() < 3; at = at.Add(15 * time.Minute) {
		zone := forecastableZone(at)
		if _, m, d := at.In(must(time.LoadLocation(zone))).Date(); m == time.December && d == 31 {
			t.Fatalf("%s: %s is on 31 December", at, zone)
		}
	}
}

// occurredAt returns msgs with their occurred_at set to at.
func occurredAt(t *testing.T, msgs []kafka.Message, at time.Time) []kafka.Message {
	t.Helper()
	out := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		var ev map[string]any
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			t.Fatal(err)
		}
		ev["occurred_at"] = at.Format(time.RFC3339)
		m.Value = must(json.Marshal(ev))
		out[i] = m
	}
	return out
}

// forZero writes a copy of the alert rules at path with every `for:`
// duration set to 0s and returns the copy's path. Only `for` changes, so
// that the test needs no minutes of waiting for a pending alert to fire:
// the expressions, their range windows included, are the ones shipped.
func forZero(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	forLine := regexp.MustCompile(`(?m)^([ \t]+for:[ \t]*)\S+[ \t]*$`)
	if !forLine.Match(b) {
		t.Fatalf("%s: no `for:` to shorten; update the test", path)
	}
	out := filepath.Join(t.TempDir(), "alerts.yaml")
	if err := os.WriteFile(out, forLine.ReplaceAll(b, []byte("${1}0s")), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// panelQuery is one target of a dashboard panel, template variables filled in.
type panelQuery struct {
	panel string
	expr  string
}

// dashboardQueries returns every target expression of every panel (rows'
// nested panels included) of the dashboard, with the variables Grafana
// fills in replaced: $entity by the variable's "All" value, the interval
// variables by values fit for a 1-second scrape.
func dashboardQueries(t *testing.T) []panelQuery {
	t.Helper()
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				IncludeAll bool   `json:"includeAll"`
				AllValue   string `json:"allValue"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(must(os.ReadFile(dashboardPath)), &d); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"__rate_interval": "1m",
		"__interval":      "1m",
		"__interval_ms":   "60000",
		"__range":         "5m",
		"__range_s":       "300",
	}
	for _, v := range d.Templating.List {
		if v.IncludeAll {
			vars[v.Name] = cmp.Or(v.AllValue, ".*")
		}
	}
	if vars["entity"] == "" {
		t.Fatal("dashboard: no multi-value entity variable with an All value")
	}
	varRef := regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)
	var out []panelQuery
	var walk func(raw []json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatal(err)
			}
			for _, tg := range p.Targets {
				if tg.Expr == "" {
					continue
				}
				expr := varRef.ReplaceAllStringFunc(tg.Expr, func(ref string) string {
					m := varRef.FindStringSubmatch(ref)
					name := m[1] + m[2] + m[3]
					v, ok := vars[name]
					if !ok {
						t.Fatalf("panel %q: unknown template variable %s in\n%s", p.Title, ref, tg.Expr)
					}
					return v
				})
				out = append(out, panelQuery{panel: p.Title + " " + tg.RefID, expr: expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	if len(out) == 0 {
		t.Fatal("dashboard: no panel queries")
	}
	return out
}

// promServer is a Prometheus child process.
type promServer struct {
	url  string
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	logs bytes.Buffer
}

// startPrometheus runs prometheus scraping target every second and
// evaluating rules every second, and waits until it is ready. It is killed
// when the test ends.
func startPrometheus(t *testing.T, bin, target, rules string) *promServer {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: transferwatch
    static_configs:
      - targets: [%q]
`, rules, target)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	var lastLogs string
	for range 3 { // a free port can be taken before prometheus binds it
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		p := &promServer{url: "http://" + addr, done: make(chan struct{})}
		p.cmd = exec.Command(bin,
			"--config.file="+cfg,
			"--storage.tsdb.path="+filepath.Join(dir, "data"),
			"--web.listen-address="+addr,
			"--log.level=warn",
		)
		p.cmd.Stdout, p.cmd.Stderr = p, p
		if err := p.cmd.Start(); err != nil {
			t.Fatalf("start prometheus: %v", err)
		}
		go func() {
			_ = p.cmd.Wait()
			close(p.done)
		}()
		t.Cleanup(func() {
			_ = p.cmd.Process.Kill()
			<-p.done
			if t.Failed() {
				t.Logf("prometheus logs:\n%s", p.log())
			}
		})
		if p.ready() {
			return p
		}
		lastLogs = p.log()
	}
	t.Fatalf("prometheus did not start:\n%s", lastLogs)
	return nil
}

func (p *promServer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

func (p *promServer) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// ready polls /-/ready until Prometheus answers 200, exits or the wait limit
// passes.
func (p *promServer) ready() bool {
	return poll.Wait(waitLimit, func() error {
		select {
		case <-p.done:
			return poll.Stop(errors.New("prometheus exited"))
		default:
		}
		resp, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready: %s", resp.Status)
		}
		return nil
	}) == nil
}

// api GETs an endpoint of Prometheus's HTTP API and decodes its data.
func (p *promServer) api(t *testing.T, path string, data any) {
	t.Helper()
	resp, err := http.Get(p.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Status != "success" {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(env.Data, data); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

// alerts returns the active (pending or firing) alerts.
func (p *promServer) alerts(t *testing.T) []promAlert {
	t.Helper()
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	p.api(t, "/api/v1/alerts", &data)
	return data.Alerts
}

type promRule struct {
	Name           string    `json:"name"`
	Type           string    `json:"type"`
	Health         string    `json:"health"`
	LastError      string    `json:"lastError"`
	LastEvaluation time.Time `json:"lastEvaluation"`
}

// rules returns the loaded alerting rules.
func (p *promServer) rules(t *testing.T) []promRule {
	t.Helper()
	var data struct {
		Groups []struct {
			Rules []promRule `json:"rules"`
		} `json:"groups"`
	}
	p.api(t, "/api/v1/rules?type=alert", &data)
	var out []promRule
	for _, g := range data.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query runs an instant query now and returns its vector.
func (p *promServer) query(t *testing.T, expr string) []promSample {
	t.Helper()
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	p.api(t, "/api/v1/query?query="+url.QueryEscape(expr), &data)
	if data.ResultType != "vector" {
		t.Fatalf("query %s: result type %s, want vector", expr, data.ResultType)
	}
	var res []promSample
	if err := json.Unmarshal(data.Result, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// hasLabels reports whether got holds every label of want.
func hasLabels(got, want map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// body returns the body of a GET of the service's path.
func (s *service) body(path string) string {
	_, b := s.get(path)
	return b
}
