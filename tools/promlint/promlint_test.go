package promlint

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"
)

// Paths of the checked artifacts, relative to this module.
const (
	dashboardPath  = "../../deploy/grafana/transferwatch.json"
	alertsPath     = "../../deploy/prometheus/alerts.yaml"
	alertTestsPath = "../../deploy/prometheus/alerts_test.yaml"
	runbookPath    = "../../docs/runbook.md"
	chartFilesDir  = "../../helm/transferwatch/files"
	repoRoot       = "../.."

	runbookURL = "https://github.com/transferwatch/transferwatch/blob/main/docs/runbook.md"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkExpr(t *testing.T, c *Checker, where, expr string) {
	t.Helper()
	for _, err := range c.Check(expr) {
		t.Errorf("%s: %v\n%s", where, err, expr)
	}
}

// collectExprs finds every "expr" string anywhere in a decoded JSON document, so that a
// query in a place the Panel type does not model (an annotation, a library panel) is checked
// too.
func collectExprs(v any, where string, out *[]Query) {
	switch v := v.(type) {
	case map[string]any:
		if title, ok := v["title"].(string); ok {
			where += " > " + title
		}
		for k, x := range v {
			if s, ok := x.(string); ok && k == "expr" {
				ref, _ := v["refId"].(string)
				*out = append(*out, Query{Where: where + " " + ref, Expr: s})
				continue
			}
			collectExprs(x, where, out)
		}
	case []any:
		for _, x := range v {
			collectExprs(x, where, out)
		}
	}
}

func TestDashboardQueries(t *testing.T) {
	b := readFile(t, dashboardPath)
	d, _, err := ParseDashboard(b)
	if err != nil {
		t.Fatal(err)
	}
	var defined []string
	for _, v := range d.Templating.List {
		defined = append(defined, v.Name)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var queries []Query
	collectExprs(doc, "dashboard", &queries)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, err := VariableQuery(v.QueryString())
		if err != nil {
			t.Errorf("variable %s: %v", v.Name, err)
			continue
		}
		queries = append(queries, Query{Where: "variable " + v.Name, Expr: q})
	}
	if len(queries) < 10 {
		t.Fatalf("found only %d queries in the dashboard", len(queries))
	}

	c := NewChecker(Exported())
	used := map[string]bool{}
	for _, q := range queries {
		expr, err := Substitute(q.Expr, defined)
		if err != nil {
			t.Errorf("%s: %v", q.Where, err)
		}
		checkExpr(t, c, q.Where, expr)
		names, err := c.Names(expr)
		if err == nil {
			for _, n := range names {
				used[n] = true
			}
		}
	}
	// The dashboard shows every series the contract exports.
	for _, m := range Exported() {
		if !used[m.Name] {
			t.Errorf("the dashboard shows no panel of %s", m.Name)
		}
	}
}

func TestDashboardStructure(t *testing.T) {
	d, panels, err := ParseDashboard(readFile(t, dashboardPath))
	if err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard needs a uid and a title, got uid %q title %q", d.UID, d.Title)
	}
	vars := map[string]Variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v, ok := vars["datasource"]; !ok || v.Type != "datasource" || v.QueryString() != "prometheus" {
		t.Errorf("want a variable datasource of type datasource and query prometheus, got %+v", v)
	}
	// The environment first (cluster, namespace, job, each narrowing the next), then the
	// entities of that environment.
	var order []string
	for _, v := range d.Templating.List {
		order = append(order, v.Name)
	}
	if want := []string{"datasource", "cluster", "namespace", "job", "entity"}; !slices.Equal(order, want) {
		t.Errorf("variables %v, want %v", order, want)
	}
	for name, query := range map[string]string{
		"cluster":   `label_values(transferwatch_build_info, cluster)`,
		"namespace": `label_values(transferwatch_build_info{cluster=~"$cluster"}, namespace)`,
		"job":       `label_values(transferwatch_build_info{cluster=~"$cluster", namespace=~"$namespace"}, job)`,
		"entity":    `label_values(transferwatch_entity_decision{cluster=~"$cluster", namespace=~"$namespace", job=~"$job"}, entity)`,
	} {
		v, ok := vars[name]
		if !ok || v.Type != "query" || !v.IncludeAll || v.QueryString() != query {
			t.Errorf("want a variable %s with an All option from %s, got %+v", name, query, v)
		}
		if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
			t.Errorf("variable %s must use ${datasource}, got %+v", name, v.Datasource)
		}
	}
	if !vars["entity"].Multi || !vars["job"].Multi {
		t.Error("variables entity and job must be multi-value")
	}
	// All of job is every job that exports transferwatch_build_info (no allValue): a catch-all
	// would count other services' targets in up.
	if vars["job"].AllValue != "" {
		t.Errorf("variable job: allValue %q, want none", vars["job"].AllValue)
	}

	ids := map[int]string{}
	for _, p := range panels {
		if prev, ok := ids[p.ID]; ok {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || p.Datasource.Type != "prometheus" {
			t.Errorf("panel %q: datasource must be the template variable ${datasource}, got %+v", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q query %s: datasource %+v, want ${datasource}", p.Title, tg.RefID, tg.Datasource)
			}
		}
	}
}

// TestDashboardSelectsEnvironments: every query of every panel selects the environment with
// the variables cluster, namespace and job, so that staging and production never merge.
func TestDashboardSelectsEnvironments(t *testing.T) {
	b := readFile(t, dashboardPath)
	d, _, err := ParseDashboard(b)
	if err != nil {
		t.Fatal(err)
	}
	var defined []string
	for _, v := range d.Templating.List {
		defined = append(defined, v.Name)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var queries []Query
	collectExprs(doc, "dashboard", &queries)
	c := NewChecker(Exported())
	want := map[string]string{}
	for _, l := range EnvironmentLabels {
		want[l] = "__" + l + "__"
	}
	for _, q := range queries {
		expr := q.Expr
		for _, l := range EnvironmentLabels {
			expr = regexp.MustCompile(`\$\{?`+l+`\b\}?`).ReplaceAllString(expr, want[l])
		}
		expr, err := Substitute(expr, defined)
		if err != nil {
			t.Errorf("%s: %v", q.Where, err)
			continue
		}
		missing, err := c.MissingMatchers(expr, want)
		if err != nil {
			t.Errorf("%s: %v", q.Where, err)
		}
		for _, m := range missing {
			t.Errorf("%s: %s", q.Where, m)
		}
	}
	if len(queries) < 20 {
		t.Errorf("found only %d queries", len(queries))
	}
	// The check catches a query without them.
	if missing, _ := c.MissingMatchers(`sum(up{job=~"__job__"})`, want); len(missing) != 2 {
		t.Errorf("MissingMatchers found %v, want cluster and namespace missing", missing)
	}
}

func parseRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	groups, errs := rulefmt.ParseFile(alertsPath, false, model.LegacyValidation, parser.NewParser(parser.Options{}), logger)
	for _, err := range errs {
		t.Error(err)
	}
	if groups == nil || len(groups.Groups) == 0 {
		t.Fatal("no rule groups")
	}
	return groups
}

// anchors returns the GitHub anchors of the headings of a Markdown file.
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	drop := regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, path)))
	inCode := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		a := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		out[a] = true
	}
	return out
}

func TestAlertRules(t *testing.T) {
	groups := parseRules(t)
	c := NewChecker(Exported())
	runbook := anchors(t, runbookPath)
	seen := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				name = "record " + r.Record
			}
			checkExpr(t, c, "rule "+name, r.Expr)
			checkEnvironmentGrouping(t, "rule "+name, r.Expr)
			if r.Alert == "" {
				continue
			}
			if seen[r.Alert] {
				t.Errorf("alert %s is defined twice", r.Alert)
			}
			seen[r.Alert] = true
			if s := r.Labels["severity"]; !slices.Contains([]string{"info", "warning", "critical"}, s) {
				t.Errorf("alert %s: severity %q, want info, warning or critical", r.Alert, s)
			}
			for _, k := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[k]) == "" {
					t.Errorf("alert %s: annotation %s is missing", r.Alert, k)
				}
			}
			anchor := strings.ToLower(r.Alert)
			if want := runbookURL + "#" + anchor; r.Annotations["runbook_url"] != want {
				t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			if !runbook[anchor] {
				t.Errorf("alert %s: docs/runbook.md has no section %q", r.Alert, anchor)
			}
		}
	}
	for _, want := range []string{
		"TransferwatchThresholdApproaching", "TransferwatchThresholdBreached", "TransferwatchEntityBlocked",
		"TransferwatchApprovalExpiring", "TransferwatchCrossingForecast", "TransferwatchConsumerLagGrowing",
		"TransferwatchInvalidEvents", "TransferwatchFlushErrors", "TransferwatchDown",
		"TransferwatchStoreDataLoss", "TransferwatchEntitiesNearLimit",
	} {
		if !seen[want] {
			t.Errorf("alert %s is missing", want)
		}
	}
}

// checkEnvironmentGrouping reports aggregations of a rule that do not keep every environment
// label: alerts of two clusters, namespaces or jobs must never merge into one.
func checkEnvironmentGrouping(t *testing.T, where, expr string) {
	t.Helper()
	node, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return // reported by checkExpr
	}
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		if agg, ok := n.(*parser.AggregateExpr); ok {
			for _, l := range EnvironmentLabels {
				if agg.Without || !slices.Contains(agg.Grouping, l) {
					t.Errorf("%s: %s does not keep label %s", where, agg.Op, l)
				}
			}
		}
		return nil
	})
}

// TestAlertUnitTestsCoverEveryAlert checks that alerts_test.yaml has, for every alert, a case
// where it fires, and cases where alerts do not fire.
func TestAlertUnitTestsCoverEveryAlert(t *testing.T) {
	var file struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				AlertName string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(readFile(t, alertTestsPath), &file); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(file.RuleFiles, filepath.Base(alertsPath)) {
		t.Errorf("alerts_test.yaml does not load %s: rule_files %v", filepath.Base(alertsPath), file.RuleFiles)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range file.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.AlertName] = true
			} else {
				silent[a.AlertName] = true
			}
		}
	}
	if len(silent) == 0 {
		t.Error("alerts_test.yaml has no case where an alert does not fire")
	}
	for _, g := range parseRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert != "" && !fires[r.Alert] {
				t.Errorf("alerts_test.yaml has no case where %s fires", r.Alert)
			}
		}
	}
}

// TestChartCopies checks that the chart ships the same alerts and dashboard as deploy/: Helm
// cannot read files outside the chart, so the chart holds copies.
func TestChartCopies(t *testing.T) {
	for _, src := range []string{alertsPath, dashboardPath} {
		cp := filepath.Join(chartFilesDir, filepath.Base(src))
		if !bytes.Equal(readFile(t, src), readFile(t, cp)) {
			t.Errorf("%s differs from %s: run cp %s %s", cp, src,
				strings.TrimPrefix(src, "../../"), strings.TrimPrefix(cp, "../../"))
		}
	}
}

// TestChecker shows that the checks catch what they are for.
func TestChecker(t *testing.T) {
	c := NewChecker(Exported())
	defined := []string{"datasource", "entity"}
	for _, tc := range []struct {
		name, expr, want string
	}{
		{"valid", `sum by (entity, rule) (transferwatch_rule_ratio{entity=~"$entity"})`, ""},
		{"histogram", `histogram_quantile(0.99, sum by (le) (rate(transferwatch_flush_duration_seconds_bucket[$__rate_interval])))`, ""},
		{"scrape labels", `sum by (namespace, job) (up{job=~".*transferwatch.*"})`, ""},
		{"cluster label", `max by (cluster, namespace, job, entity) (transferwatch_rule_level{cluster=~"x"})`, ""},
		{"alerts any label", `ALERTS{alertname="X", entity="acme-sh"}`, ""},
		{"syntax", `sum(rate(transferwatch_events_total[5m])`, "parse"},
		{"unknown metric", `transferwatch_rule_ratios`, "not exported"},
		{"histogram base name", `transferwatch_flush_duration_seconds`, "not exported"},
		{"unknown label", `transferwatch_rule_ratio{entitiy="a"}`, `no label "entitiy"`},
		{"grouping typo", `max by (entitiy) (transferwatch_rule_ratio)`, `label "entitiy"`},
		{"on typo", `transferwatch_rule_ratio * on (rul) transferwatch_rule_level`, `label "rul"`},
		{"nameless", `{entity="a"}`, "names no metric"},
		{"undefined variable", `transferwatch_rule_ratio{entity=~"$entities"}`, "not defined"},
		{"old variable syntax", `transferwatch_rule_ratio{entity=~"[[entity]]"}`, "deprecated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expr, err := Substitute(tc.expr, defined)
			errs := c.Check(expr)
			if err != nil {
				errs = append(errs, err)
			}
			got := fmt.Sprint(errs)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("want no error, got %v", errs)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Errorf("want an error containing %q, got %v", tc.want, errs)
			}
		})
	}
}

func TestVariableQuery(t *testing.T) {
	got, err := VariableQuery("label_values(transferwatch_entity_decision, entity)")
	if err != nil || got != "count by (entity) (transferwatch_entity_decision)" {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := VariableQuery("metrics(transferwatch_.*)"); err == nil {
		t.Error("want an error for an unsupported query")
	}
}

// TestExportedMatchesSource checks the list of metrics the queries may use against the metrics
// the service's code registers (prometheus.*Opts{Name: "transferwatch_…"}), both ways: a query
// may not rely on a metric the code does not register, and a metric added to the code must be
// added to the contract (CONTRACT §7, docs) and to Exported before dashboards use it.
func TestExportedMatchesSource(t *testing.T) {
	// Metrics are named in their Opts, or first in the Desc of a collector.
	nameRE := regexp.MustCompile(`(?:Name:\s*|NewDesc\(\s*)"(transferwatch_[a-z0-9_]+)"`)
	// client_golang's version collector names its metric <program>_build_info.
	versionRE := regexp.MustCompile(`versioncollector\.NewCollector\(`)
	inCode := map[string]string{}
	for _, dir := range []string{"cmd", "internal", "pkg"} {
		root := filepath.Join(repoRoot, dir)
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			src := readFile(t, path)
			for _, m := range nameRE.FindAllSubmatch(src, -1) {
				inCode[string(m[1])] = strings.TrimPrefix(path, repoRoot+"/")
			}
			if versionRE.Match(src) {
				inCode["transferwatch_build_info"] = strings.TrimPrefix(path, repoRoot+"/")
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if len(inCode) == 0 {
		t.Skip("no metric registered in the service's code yet")
	}
	listed := map[string]bool{}
	for _, m := range Exported() {
		listed[m.Name] = true
	}
	// The series of a histogram are registered under its base name.
	allowed := map[string]bool{}
	for name := range listed {
		if !strings.HasPrefix(name, "transferwatch_") {
			continue
		}
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && listed[b+"_bucket"] {
				base = b
			}
		}
		allowed[base] = true
	}
	for name := range allowed {
		if _, ok := inCode[name]; !ok {
			t.Errorf("%s is in the contract's list but no code registers it", name)
		}
	}
	for name, path := range inCode {
		if !allowed[name] {
			t.Errorf("%s (registered in %s) is not in the contract's list: add it to CONTRACT §7, the docs and promlint.Exported", name, path)
		}
	}
}
