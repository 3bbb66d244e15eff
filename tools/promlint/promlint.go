// Package promlint checks the PromQL of transferwatch's operations artifacts (the Grafana
// dashboard and the Prometheus alerting rules) against the metrics the service exports.
//
// It lives in a module of its own because the PromQL parser brings the dependencies of
// Prometheus with it; the service's module stays free of them.
package promlint

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Metric is one metric name that queries may select, with the labels its series carry.
type Metric struct {
	Name string
	// Labels are the labels the service puts on the series. Nil means any label may appear
	// (ALERTS carries the labels of each alert).
	Labels []string
}

// ScrapeLabels are the target labels Prometheus (and the Prometheus Operator) add to every
// scraped series, and cluster, the external label that tells environments apart in a global
// view (Thanos, Mimir) or in a Prometheus per cluster.
var ScrapeLabels = []string{"cluster", "job", "instance", "namespace", "pod", "service", "container", "endpoint"}

// EnvironmentLabels are the labels that tell environments apart: the dashboard selects each
// of them with its own template variable in every query.
var EnvironmentLabels = []string{"cluster", "namespace", "job"}

// Exported returns the metric names of CONTRACT §7 (docs: "Metrics") that the service
// registers, the series of its histograms, and the two series that Prometheus itself writes:
// up and ALERTS.
func Exported() []Metric {
	return []Metric{
		{Name: "transferwatch_subjects_estimate", Labels: []string{"entity", "counter", "window"}},
		{Name: "transferwatch_rule_ratio", Labels: []string{"entity", "rule"}},
		{Name: "transferwatch_rule_level", Labels: []string{"entity", "rule"}},
		{Name: "transferwatch_entity_decision", Labels: []string{"entity", "decision"}},
		{Name: "transferwatch_rule_forecast_crossing_timestamp_seconds", Labels: []string{"entity", "rule"}},
		{Name: "transferwatch_approval_expiry_timestamp_seconds", Labels: []string{"entity", "mechanism"}},
		{Name: "transferwatch_events_total", Labels: []string{"result"}},
		{Name: "transferwatch_subjects_total", Labels: []string{}},
		{Name: "transferwatch_flush_duration_seconds_bucket", Labels: []string{"le"}},
		{Name: "transferwatch_flush_duration_seconds_sum", Labels: []string{}},
		{Name: "transferwatch_flush_duration_seconds_count", Labels: []string{}},
		{Name: "transferwatch_flush_errors_total", Labels: []string{}},
		{Name: "transferwatch_consumer_lag", Labels: []string{"partition"}},
		{Name: "transferwatch_decision_changes_total", Labels: []string{"decision"}},
		{Name: "transferwatch_store_ok", Labels: []string{}},
		{Name: "transferwatch_decision_publish_errors_total", Labels: []string{}},
		{Name: "transferwatch_decisions_topic_compacted", Labels: []string{}},
		{Name: "transferwatch_entities", Labels: []string{}},
		{Name: "transferwatch_entities_limit", Labels: []string{}},
		{Name: "transferwatch_flows", Labels: []string{"entity"}},
		{Name: "transferwatch_flows_outside_scope", Labels: []string{"entity"}},
		{Name: "transferwatch_flow_overflow_events_total", Labels: []string{}},
		{Name: "transferwatch_evaluations_total", Labels: []string{"trigger", "outcome"}},
		{Name: "transferwatch_round_duration_seconds_bucket", Labels: []string{"le"}},
		{Name: "transferwatch_round_duration_seconds_sum", Labels: []string{}},
		{Name: "transferwatch_round_duration_seconds_count", Labels: []string{}},
		{Name: "transferwatch_http_requests_total", Labels: []string{"handler", "code"}},
		{Name: "transferwatch_http_request_duration_seconds_bucket", Labels: []string{"handler", "le"}},
		{Name: "transferwatch_http_request_duration_seconds_sum", Labels: []string{"handler"}},
		{Name: "transferwatch_http_request_duration_seconds_count", Labels: []string{"handler"}},
		// client_golang's version collector: the contract's version, revision and goversion,
		// and its own branch, goos, goarch and tags.
		{Name: "transferwatch_build_info", Labels: []string{"version", "revision", "goversion", "branch", "goos", "goarch", "tags"}},
		{Name: "up", Labels: []string{}},
		{Name: "ALERTS", Labels: nil},
	}
}

// Checker parses PromQL and checks every selector against a set of metrics.
type Checker struct {
	metrics map[string]Metric
	parser  parser.Parser
}

// NewChecker returns a Checker that accepts the given metrics.
func NewChecker(metrics []Metric) *Checker {
	m := make(map[string]Metric, len(metrics))
	for _, x := range metrics {
		m[x.Name] = x
	}
	return &Checker{metrics: m, parser: parser.NewParser(parser.Options{})}
}

// Check parses expr and returns every problem found: a parse error, a selector without a
// metric name or with a name the service does not export, a label matcher or a grouping
// label that no selected series carries.
func (c *Checker) Check(expr string) []error {
	node, err := c.parser.ParseExpr(expr)
	if err != nil {
		return []error{fmt.Errorf("parse: %w", err)}
	}
	var errs []error
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			errs = append(errs, c.checkSelector(n)...)
		case *parser.AggregateExpr:
			errs = append(errs, c.checkGrouping(n.Expr, n.Grouping, "aggregation")...)
		case *parser.BinaryExpr:
			if vm := n.VectorMatching; vm != nil {
				errs = append(errs, c.checkGrouping(n.LHS, vm.MatchingLabels, "vector matching")...)
				errs = append(errs, c.checkGrouping(n.RHS, vm.MatchingLabels, "vector matching")...)
			}
		}
		return nil
	})
	return errs
}

// Names returns the metric names that expr selects, sorted; expr must parse.
func (c *Checker) Names(expr string) ([]string, error) {
	node, err := c.parser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if name := metricName(vs); name != "" && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		return nil
	})
	sort.Strings(names)
	return names, nil
}

func metricName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

func (c *Checker) checkSelector(vs *parser.VectorSelector) []error {
	name := metricName(vs)
	if name == "" {
		return []error{fmt.Errorf("selector %s names no metric", vs)}
	}
	m, ok := c.metrics[name]
	if !ok {
		return []error{fmt.Errorf("metric %q is not exported by transferwatch", name)}
	}
	if m.Labels == nil {
		return nil
	}
	var errs []error
	for _, lm := range vs.LabelMatchers {
		if lm.Name == labels.MetricName {
			continue
		}
		if !slices.Contains(m.Labels, lm.Name) && !slices.Contains(ScrapeLabels, lm.Name) {
			errs = append(errs, fmt.Errorf("metric %q has no label %q (it has %v)", name, lm.Name, m.Labels))
		}
	}
	return errs
}

// checkGrouping reports grouping labels that none of the series selected under expr carries.
func (c *Checker) checkGrouping(expr parser.Node, grouping []string, what string) []error {
	if expr == nil || len(grouping) == 0 {
		return nil
	}
	have := slices.Clone(ScrapeLabels)
	anyLabel := false
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		m, ok := c.metrics[metricName(vs)]
		switch {
		case !ok || m.Labels == nil:
			// An unknown metric is reported by checkSelector, once.
			anyLabel = true
		default:
			have = append(have, m.Labels...)
		}
		return nil
	})
	if anyLabel {
		return nil
	}
	var errs []error
	for _, l := range grouping {
		if !slices.Contains(have, l) {
			errs = append(errs, fmt.Errorf("%s by label %q, which no selected series has", what, l))
		}
	}
	return errs
}

// GrafanaGlobals are the variables Grafana defines itself, with a value of the right kind for
// parsing: a duration for the intervals and ranges, a number for the others.
var GrafanaGlobals = map[string]string{
	"__rate_interval": "5m",
	"__interval":      "1m",
	"__range":         "1h",
	"__interval_ms":   "60000",
	"__range_ms":      "3600000",
	"__range_s":       "3600",
}

var variableRE = regexp.MustCompile(`\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]`)

// Substitute replaces the Grafana template variables in expr by values that parse: the
// built-in intervals by durations, the dashboard's own variables by "x" (they stand in label
// values). It returns an error naming any variable that is neither built in nor in defined,
// and for the deprecated [[var]] form.
func Substitute(expr string, defined []string) (string, error) {
	var errs []error
	out := variableRE.ReplaceAllStringFunc(expr, func(s string) string {
		sm := variableRE.FindStringSubmatch(s)
		if sm[3] != "" {
			errs = append(errs, fmt.Errorf("deprecated variable syntax %s: use $%s", s, sm[3]))
			return "x"
		}
		name := sm[1] + sm[2]
		if v, ok := GrafanaGlobals[name]; ok {
			return v
		}
		if !slices.Contains(defined, name) {
			errs = append(errs, fmt.Errorf("variable $%s is not defined by the dashboard", name))
		}
		return "x"
	})
	return out, errors.Join(errs...)
}

// MissingMatchers parses expr and returns, for every selector of a metric other than ALERTS,
// the matchers of want (label → value) it lacks; want's values must parse as label values.
// ALERTS is checked for the matchers of want whose label is not job: the alert
// TransferwatchDown fires without one when no target exists at all.
func (c *Checker) MissingMatchers(expr string, want map[string]string) ([]string, error) {
	node, err := c.parser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var missing []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := metricName(vs)
		for l, v := range want {
			if name == "ALERTS" && l == "job" {
				continue
			}
			if !slices.ContainsFunc(vs.LabelMatchers, func(m *labels.Matcher) bool {
				return m.Name == l && m.Type == labels.MatchRegexp && m.Value == v
			}) {
				missing = append(missing, fmt.Sprintf("%s lacks %s=~%q", vs, l, v))
			}
		}
		return nil
	})
	sort.Strings(missing)
	return missing, nil
}

// Query is one PromQL expression found in a dashboard, with where it was found.
type Query struct {
	Where string
	Expr  string
}

// Dashboard is the part of a Grafana dashboard model the checks need.
type Dashboard struct {
	UID        string            `json:"uid"`
	Title      string            `json:"title"`
	Panels     []json.RawMessage `json:"panels"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
}

// Variable is a dashboard template variable.
type Variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
	Datasource *DatasourceRef  `json:"datasource"`
}

// QueryString returns the variable's query whether Grafana stored it as a string or as an
// object with a "query" field.
func (v Variable) QueryString() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(v.Query, &o) == nil {
		return o.Query
	}
	return ""
}

// DatasourceRef is a panel's, a target's or a variable's data source.
type DatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Panel is the part of a panel the checks need; rows hold panels when collapsed.
type Panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *DatasourceRef `json:"datasource"`
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *DatasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []Panel `json:"panels"`
}

// ParseDashboard decodes a dashboard and flattens its panels (rows included).
func ParseDashboard(b []byte) (*Dashboard, []Panel, error) {
	var d Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, nil, err
	}
	var flat []Panel
	var add func(p Panel)
	add = func(p Panel) {
		flat = append(flat, p)
		for _, c := range p.Panels {
			add(c)
		}
	}
	for i, raw := range d.Panels {
		var p Panel
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, nil, fmt.Errorf("panel %d: %w", i, err)
		}
		add(p)
	}
	return &d, flat, nil
}

var labelValuesRE = regexp.MustCompile(`^\s*label_values\((.+),\s*(\w+)\s*\)\s*$`)

// VariableQuery turns a Prometheus variable query into PromQL that can be checked:
// label_values(selector, label) becomes count by (label) (selector), so that the label is
// checked too; query_result(q) becomes q.
func VariableQuery(q string) (string, error) {
	if m := labelValuesRE.FindStringSubmatch(q); m != nil {
		return fmt.Sprintf("count by (%s) (%s)", m[2], m[1]), nil
	}
	if strings.HasPrefix(strings.TrimSpace(q), "query_result(") {
		s := strings.TrimSpace(q)
		return strings.TrimSuffix(strings.TrimPrefix(s, "query_result("), ")"), nil
	}
	return "", fmt.Errorf("unsupported variable query %q", q)
}
