package deploycheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Paths relative to this package.
const (
	repoRoot   = "../.."
	chartDir   = repoRoot + "/helm/transferwatch"
	alertsPath = repoRoot + "/deploy/prometheus/alerts.yaml"
	release    = "tw"
	namespace  = "compliance"
	// A test key for rendering only.
	testKey = "000102030405060708090a0b0c0d0e0f"
)

// tool returns the path of an installed program: on PATH, or in Go's bin directory (where
// `make deps` installs helm).
func tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, env := range []string{"GOBIN", "GOPATH"} {
		out, err := exec.Command("go", "env", env).Output()
		dir := strings.TrimSpace(string(out))
		if err != nil || dir == "" {
			continue
		}
		if env == "GOPATH" {
			dir = filepath.Join(filepath.SplitList(dir)[0], "bin")
		}
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p
		}
	}
	t.Fatalf("%s is not installed: make deps installs it", name)
	return ""
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// object is one Kubernetes object of a rendered manifest.
type object map[string]any

func (o object) kind() string { s, _ := o["kind"].(string); return s }
func (o object) name() string { s, _ := get(o, "metadata", "name").(string); return s }

// get follows keys (map keys, or list indexes as ints) into a decoded YAML value; nil when
// any is missing.
func get(v any, path ...any) any {
	for _, k := range path {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				if o, isObj := v.(object); isObj {
					m, ok = map[string]any(o), true
				}
			}
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// render runs helm template on the chart with the test key and extra arguments, and returns
// the objects rendered.
func render(t *testing.T, args ...string) []object {
	t.Helper()
	out, err := renderErr(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func renderErr(t *testing.T, args ...string) ([]object, error) {
	t.Helper()
	cmd := exec.Command(tool(t, "helm"), append([]string{"template", release, chartDir, "--namespace", namespace,
		"--set", "secret.subjectKey=" + testKey}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm template %v: %w\n%s", args, err, stderr.String())
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var objs []object
	for {
		// A map[string]any, not an object: yaml.v3 decodes nested mappings into the type of
		// the outer one.
		var o map[string]any
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			t.Fatalf("helm template %v: %v\n%s", args, err, b)
		}
		if o != nil {
			objs = append(objs, object(o))
		}
	}
}

// only returns the objects of kind; it fails the test unless there are n of them.
func only(t *testing.T, objs []object, kind string, n int) []object {
	t.Helper()
	var out []object
	for _, o := range objs {
		if o.kind() == kind {
			out = append(out, o)
		}
	}
	if len(out) != n {
		t.Fatalf("%d %s rendered, want %d", len(out), kind, n)
	}
	return out
}

func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// alertNames returns the alerts of deploy/prometheus/alerts.yaml, in order.
func alertNames(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, g := range get(readYAML(t, alertsPath), "groups").([]any) {
		for _, r := range get(g, "rules").([]any) {
			if a, ok := get(r, "alert").(string); ok {
				names = append(names, a)
			}
		}
	}
	return names
}

// rule returns the rule of the alert name in groups.
func rule(groups any, name string) map[string]any {
	for _, g := range groups.([]any) {
		for _, r := range get(g, "rules").([]any) {
			if get(r, "alert") == name {
				return r.(map[string]any)
			}
		}
	}
	return nil
}

// TestPrometheusRuleIsAlertsFileByDefault: with the default values, the chart's PrometheusRule
// holds exactly the rules of deploy/prometheus/alerts.yaml, the ones Prometheus users load as
// a file; and the chart ships the same file.
func TestPrometheusRuleIsAlertsFileByDefault(t *testing.T) {
	want := get(readYAML(t, alertsPath), "groups")
	objs := render(t, "--api-versions", "monitoring.coreos.com/v1")
	pr := only(t, objs, "PrometheusRule", 1)[0]
	got := get(pr, "spec", "groups")
	if !reflect.DeepEqual(got, want) {
		gb, _ := yaml.Marshal(got)
		t.Errorf("the PrometheusRule of the default values differs from %s:\n%s", alertsPath, gb)
	}
	if len(alertNames(t)) < 10 {
		t.Fatalf("only %d alerts in %s", len(alertNames(t)), alertsPath)
	}
	// Without the Prometheus Operator's API, there is none.
	only(t, render(t), "PrometheusRule", 0)
}

// TestPrometheusRuleFromValues: lead days (from config.policy, or prometheusRule's own), the
// job selector, extra labels and alerts switched off all reach the rules, which promtool
// accepts; nothing else changes.
func TestPrometheusRuleFromValues(t *testing.T) {
	file := get(readYAML(t, alertsPath), "groups")
	objs := render(t, "--api-versions", "monitoring.coreos.com/v1",
		"--set", "config.policy.forecast_lead_days=30",
		"--set", "prometheusRule.renewalLeadDays=90",
		"--set", `prometheusRule.jobSelector=job="compliance-gate"`,
		"--set", "prometheusRule.additionalLabels.team=compliance",
		"--set", "prometheusRule.additionalLabels.severity=page",
		"--set", "prometheusRule.alerts.TransferwatchFlushErrors=false",
	)
	groups := get(only(t, objs, "PrometheusRule", 1)[0], "spec", "groups")

	for _, name := range alertNames(t) {
		got, orig := rule(groups, name), rule(file, name)
		if name == "TransferwatchFlushErrors" {
			if got != nil {
				t.Errorf("%s is rendered though switched off", name)
			}
			continue
		}
		if got == nil {
			t.Errorf("%s is missing", name)
			continue
		}
		labels := get(got, "labels").(map[string]any)
		if labels["team"] != "compliance" || labels["severity"] != get(orig, "labels", "severity") {
			t.Errorf("%s: labels %v, want team=compliance and its own severity %v", name, labels, get(orig, "labels", "severity"))
		}
		wantExpr := get(orig, "expr").(string)
		switch name {
		case "TransferwatchApprovalExpiring":
			wantExpr = strings.Replace(wantExpr, "/ 86400 < 183", "/ 86400 < 90", 1)
		case "TransferwatchCrossingForecast":
			wantExpr = strings.Replace(wantExpr, "/ 86400 < 183", "/ 86400 < 30", 1)
		case "TransferwatchDown":
			wantExpr = strings.ReplaceAll(wantExpr, `job=~".*transferwatch.*"`, `job="compliance-gate"`)
		}
		if got["expr"] != wantExpr {
			t.Errorf("%s: expr\n%v\nwant\n%s", name, got["expr"], wantExpr)
		}
		if !reflect.DeepEqual(got["annotations"], orig["annotations"]) || got["for"] != orig["for"] {
			t.Errorf("%s: annotations or for changed", name)
		}
	}

	// The rendered rules are valid Prometheus rules.
	b, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool(t, "promtool"), "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}

	// Every alert off: no empty group is left.
	var off []string
	for _, name := range alertNames(t) {
		off = append(off, "--set", "prometheusRule.alerts."+name+"=false")
	}
	objs = render(t, append([]string{"--api-versions", "monitoring.coreos.com/v1"}, off...)...)
	if g := get(only(t, objs, "PrometheusRule", 1)[0], "spec", "groups"); g != nil && len(g.([]any)) != 0 {
		t.Errorf("groups %v rendered with every alert off", g)
	}
}

// TestAlertSwitchesAreTheAlerts: prometheusRule.alerts in values.yaml and the alert names the
// schema accepts there are exactly the alerts of deploy/prometheus/alerts.yaml.
func TestAlertSwitchesAreTheAlerts(t *testing.T) {
	want := alertNames(t)
	slices.Sort(want)
	values := readYAML(t, chartDir+"/values.yaml")
	var keys []string
	for k, v := range get(values, "prometheusRule", "alerts").(map[string]any) {
		keys = append(keys, k)
		if v != true {
			t.Errorf("prometheusRule.alerts.%s = %v, want true by default", k, v)
		}
	}
	slices.Sort(keys)
	if !slices.Equal(keys, want) {
		t.Errorf("prometheusRule.alerts has %v, the alerts are %v", keys, want)
	}
	schema := readJSONSchema(t)
	var enum []string
	for _, v := range get(schema, "properties", "prometheusRule", "properties", "alerts", "propertyNames", "enum").([]any) {
		enum = append(enum, v.(string))
	}
	slices.Sort(enum)
	if !slices.Equal(enum, want) {
		t.Errorf("values.schema.json accepts alerts %v, the alerts are %v", enum, want)
	}
	// A misspelt alert is refused.
	if _, err := renderErr(t, "--set", "prometheusRule.alerts.TransferwatchDwn=false"); err == nil {
		t.Error("helm template accepts prometheusRule.alerts.TransferwatchDwn")
	}
}

// TestServiceAccount: the pods run under a ServiceAccount of the release, annotated for a
// cloud identity, without a mounted token; or under one named, not created.
func TestServiceAccount(t *testing.T) {
	objs := render(t, "--set", "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::111122223333:role/transferwatch")
	sa := only(t, objs, "ServiceAccount", 1)[0]
	dep := only(t, objs, "Deployment", 1)[0]
	if sa.name() != release+"-transferwatch" || get(sa, "metadata", "namespace") != namespace {
		t.Errorf("ServiceAccount %s in %v", sa.name(), get(sa, "metadata", "namespace"))
	}
	if got := get(sa, "metadata", "annotations", "eks.amazonaws.com/role-arn"); got != "arn:aws:iam::111122223333:role/transferwatch" {
		t.Errorf("ServiceAccount annotation = %v", got)
	}
	if get(sa, "automountServiceAccountToken") != false {
		t.Errorf("ServiceAccount automountServiceAccountToken = %v, want false", get(sa, "automountServiceAccountToken"))
	}
	spec := get(dep, "spec", "template", "spec")
	if get(spec, "serviceAccountName") != sa.name() || get(spec, "automountServiceAccountToken") != false {
		t.Errorf("pods run as %v (automount %v), want %s without a token", get(spec, "serviceAccountName"), get(spec, "automountServiceAccountToken"), sa.name())
	}
	if get(sa, "metadata", "labels", "app.kubernetes.io/instance") != release {
		t.Errorf("ServiceAccount labels %v", get(sa, "metadata", "labels"))
	}

	objs = render(t, "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=shared-identity")
	only(t, objs, "ServiceAccount", 0)
	if got := get(only(t, objs, "Deployment", 1)[0], "spec", "template", "spec", "serviceAccountName"); got != "shared-identity" {
		t.Errorf("serviceAccountName = %v, want shared-identity", got)
	}
}

// TestNetworkPolicy: off by default; on, it selects exactly the pods of the Deployment, opens
// the HTTP port to the peers given (and to the helm test pod), and restricts egress only when
// egress rules are given, keeping DNS open.
func TestNetworkPolicy(t *testing.T) {
	only(t, render(t), "NetworkPolicy", 0)

	objs := render(t, "--set", "networkPolicy.enabled=true")
	np := only(t, objs, "NetworkPolicy", 1)[0]
	dep := only(t, objs, "Deployment", 1)[0]
	if !reflect.DeepEqual(get(np, "spec", "podSelector", "matchLabels"), get(dep, "spec", "selector", "matchLabels")) {
		t.Errorf("podSelector %v, want the Deployment's selector %v", get(np, "spec", "podSelector"), get(dep, "spec", "selector"))
	}
	if types := get(np, "spec", "policyTypes"); !reflect.DeepEqual(types, []any{"Ingress"}) {
		t.Errorf("policyTypes %v, want [Ingress] without egress rules", types)
	}
	ingress := get(np, "spec", "ingress").([]any)
	if len(ingress) != 1 || get(ingress[0], "ports", 0, "port") != "http" || get(ingress[0], "from") != nil {
		t.Errorf("ingress %v, want the http port from anywhere", ingress)
	}
	containerPort := get(dep, "spec", "template", "spec", "containers", 0, "ports", 0, "name")
	if containerPort != "http" {
		t.Errorf("the container port is named %v, not http", containerPort)
	}

	objs = render(t, "--set", "networkPolicy.enabled=true",
		"--set", "networkPolicy.ingressFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring",
		"--set", "networkPolicy.egress[0].to[0].ipBlock.cidr=10.20.0.0/16",
		"--set", "networkPolicy.egress[0].ports[0].port=9092",
		"--set", "networkPolicy.egress[0].ports[1].port=6379")
	np = only(t, objs, "NetworkPolicy", 1)[0]
	if types := get(np, "spec", "policyTypes"); !reflect.DeepEqual(types, []any{"Ingress", "Egress"}) {
		t.Errorf("policyTypes %v, want [Ingress Egress]", types)
	}
	from := get(np, "spec", "ingress", 0, "from").([]any)
	if len(from) != 2 || get(from[0], "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name") != "monitoring" {
		t.Fatalf("from %v, want the monitoring namespace and the test pod", from)
	}
	// The helm test pod is let in, and only it of the test pods' kind.
	testPod := only(t, objs, "Pod", 1)[0]
	if !matches(get(from[1], "podSelector", "matchLabels"), get(testPod, "metadata", "labels")) {
		t.Errorf("the test pod %v is not let in by %v", get(testPod, "metadata", "labels"), from[1])
	}
	egress := get(np, "spec", "egress").([]any)
	if len(egress) != 2 || get(egress[0], "ports", 0, "port") != 53 || get(egress[1], "to", 0, "ipBlock", "cidr") != "10.20.0.0/16" ||
		get(egress[1], "ports", 1, "port") != 6379 {
		t.Errorf("egress %v, want DNS then the rule given", egress)
	}
}

// matches reports whether selector (matchLabels) selects labels.
func matches(selector, labels any) bool {
	sel, ok1 := selector.(map[string]any)
	lab, ok2 := labels.(map[string]any)
	if !ok1 || !ok2 || len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if lab[k] != v {
			return false
		}
	}
	return true
}

// TestHelmTestPod: `helm test` runs a pod that asks /readyz through the Service; the Service,
// the Deployment and the PodDisruptionBudget never take it for an instance.
func TestHelmTestPod(t *testing.T) {
	objs := render(t)
	pod := only(t, objs, "Pod", 1)[0]
	svc := only(t, objs, "Service", 1)[0]
	if get(pod, "metadata", "annotations", "helm.sh/hook") != "test" {
		t.Errorf("pod annotations %v, want helm.sh/hook: test", get(pod, "metadata", "annotations"))
	}
	cmd := fmt.Sprint(get(pod, "spec", "containers", 0, "command"))
	url := fmt.Sprintf("http://%s:%v/readyz", svc.name(), get(svc, "spec", "ports", 0, "port"))
	if !strings.Contains(cmd, "wget") || !strings.Contains(cmd, url) {
		t.Errorf("test command %s, want a wget of %s", cmd, url)
	}
	if get(pod, "spec", "restartPolicy") != "Never" || get(pod, "spec", "securityContext", "runAsNonRoot") != true {
		t.Errorf("test pod spec %v", get(pod, "spec"))
	}
	labels := get(pod, "metadata", "labels")
	for _, o := range objs {
		var sel any
		switch o.kind() {
		case "Service":
			sel = get(o, "spec", "selector")
		case "Deployment", "PodDisruptionBudget":
			sel = get(o, "spec", "selector", "matchLabels")
		default:
			continue
		}
		if matches(sel, labels) {
			t.Errorf("%s %s selects the test pod", o.kind(), o.name())
		}
	}
	if img := get(pod, "spec", "containers", 0, "image"); img != "busybox:1.37" {
		t.Errorf("test image %v", img)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	pod = only(t, render(t, "--set", "tests.image.digest="+digest), "Pod", 1)[0]
	if img := get(pod, "spec", "containers", 0, "image"); img != "busybox@"+digest {
		t.Errorf("test image with a digest: %v", img)
	}
	only(t, render(t, "--set", "tests.enabled=false"), "Pod", 0)
}

// TestJobLabelFindsTheAlertSelector: whatever fullnameOverride says, the job label the
// ServiceMonitor gives the series is one that TransferwatchDown's default selector finds.
func TestJobLabelFindsTheAlertSelector(t *testing.T) {
	selector := regexp.MustCompile(`^(?:.*transferwatch.*)$`) // job=~".*transferwatch.*", anchored as PromQL does
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, release + "-transferwatch"},
		{[]string{"--set", "fullnameOverride=compliance-gate"}, "transferwatch-compliance-gate"},
		{[]string{"--set", "nameOverride=gate"}, "transferwatch-" + release + "-gate"},
		{[]string{"--set", "fullnameOverride=transferwatch-prod"}, "transferwatch-prod"},
		{[]string{"--set", "serviceMonitor.jobName=pii-gate"}, "pii-gate"},
	} {
		args := append([]string{"--api-versions", "monitoring.coreos.com/v1"}, tc.args...)
		sm := only(t, render(t, args...), "ServiceMonitor", 1)[0]
		relabel := get(sm, "spec", "endpoints", 0, "relabelings", 0)
		if get(relabel, "targetLabel") != "job" || get(relabel, "replacement") != tc.want {
			t.Errorf("%v: relabeling %v, want job=%s", tc.args, relabel, tc.want)
		}
		if len(tc.args) > 0 && strings.Contains(tc.args[1], "jobName") {
			continue // named by the operator, who sets prometheusRule.jobSelector to match
		}
		if !selector.MatchString(tc.want) {
			t.Errorf("%v: job %s escapes the default selector", tc.args, tc.want)
		}
	}
}

// TestGoMemLimit: the container's GOMEMLIMIT is 90% of its memory limit by default (in Mi or
// Gi), the value given as is, or absent when off or when the limit's unit is another.
func TestGoMemLimit(t *testing.T) {
	cases := []struct {
		args []string
		want any // nil: no GOMEMLIMIT
	}{
		{nil, "460MiB"}, // the default limit, 512Mi
		{[]string{"--set", "resources.limits.memory=2Gi"}, "1843MiB"},
		{[]string{"--set", "goMemLimit=900MiB"}, "900MiB"},
		{[]string{"--set", "goMemLimit=off"}, nil},
		{[]string{"--set", "resources.limits.memory=1G"}, nil},
	}
	for _, tc := range cases {
		dep := only(t, render(t, tc.args...), "Deployment", 1)[0]
		env, _ := get(dep, "spec", "template", "spec", "containers", 0, "env").([]any)
		var got any
		for _, e := range env {
			if get(e, "name") == "GOMEMLIMIT" {
				got = get(e, "value")
			}
		}
		if got != tc.want {
			t.Errorf("%v: GOMEMLIMIT = %v, want %v", tc.args, got, tc.want)
		}
	}
	if _, err := renderErr(t, "--set", "goMemLimit=lots"); err == nil {
		t.Error("goMemLimit=lots rendered; the schema should refuse it")
	}
}
