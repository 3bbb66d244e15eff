package deploycheck

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/transferwatch/transferwatch/internal/config"
)

func readJSONSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(chartDir + "/values.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestAlertLeadDaysAreConfigDefaults: the 183 days of the hand-kept alert rules are the
// configuration's default lead days, and so are the chart's config values (from which the
// chart renders its rules).
func TestAlertLeadDaysAreConfigDefaults(t *testing.T) {
	def := config.Default().Policy
	groups := get(readYAML(t, alertsPath), "groups")
	lead := regexp.MustCompile(`/ 86400 < (\d+)\s*$`)
	for name, want := range map[string]int{
		"TransferwatchApprovalExpiring": def.RenewalLeadDays,
		"TransferwatchCrossingForecast": def.ForecastLeadDays,
	} {
		r := rule(groups, name)
		if r == nil {
			t.Fatalf("%s: no alert %s", alertsPath, name)
		}
		m := lead.FindStringSubmatch(r["expr"].(string))
		if m == nil {
			t.Errorf("%s: expr %q does not end with / 86400 < DAYS", name, r["expr"])
			continue
		}
		if got, _ := strconv.Atoi(m[1]); got != want {
			t.Errorf("%s: lead %d days, the configuration's default is %d", name, got, want)
		}
	}
	values := readYAML(t, chartDir+"/values.yaml")
	for key, want := range map[string]int{"renewal_lead_days": def.RenewalLeadDays, "forecast_lead_days": def.ForecastLeadDays} {
		if got := get(values, "config", "policy", key); got != want {
			t.Errorf("chart values config.policy.%s = %v, the configuration's default is %d", key, got, want)
		}
	}
}

// leafPaths returns the dotted paths of the leaves of a decoded YAML mapping; an empty
// mapping is a leaf.
func leafPaths(v any, prefix string, out *[]string) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		*out = append(*out, prefix)
		return
	}
	for k, x := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		leafPaths(x, p, out)
	}
}

// TestValuesDocumented: every key of values.yaml is in the table of the chart's README, and
// every key of the table is in values.yaml. A row may document a whole object only when it
// says the object is passed as is (a Kubernetes object).
func TestValuesDocumented(t *testing.T) {
	var leaves []string
	leafPaths(readYAML(t, chartDir+"/values.yaml"), "", &leaves)
	all := map[string]bool{}
	for _, l := range leaves {
		for p := l; p != ""; {
			all[p] = true
			i := strings.LastIndex(p, ".")
			if i < 0 {
				break
			}
			p = p[:i]
		}
	}

	f, err := os.Open(chartDir + "/README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([^`]+)` \\|")
	documented := map[string]string{} // key → its row
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			if _, dup := documented[m[1]]; dup {
				t.Errorf("README documents %s twice", m[1])
			}
			documented[m[1]] = sc.Text()
		}
	}
	if len(documented) < 50 {
		t.Fatalf("README documents only %d keys", len(documented))
	}
	for key := range documented {
		if !all[key] {
			t.Errorf("README documents %s, which values.yaml does not have", key)
		}
	}
	for _, leaf := range leaves {
		covered := false
		for p := leaf; ; {
			if line, ok := documented[p]; ok && (p == leaf || strings.Contains(line, "passed as is")) {
				covered = true
				break
			}
			i := strings.LastIndex(p, ".")
			if i < 0 {
				break
			}
			p = p[:i]
		}
		if !covered {
			t.Errorf("values.yaml key %s is not documented in helm/transferwatch/README.md", leaf)
		}
	}
}

// configKeys returns the YAML paths of the configuration file, from the Go types: "kafka.tls",
// "entities[].approvals[].valid_until" and so on; types that decode themselves are leaves.
func configKeys(t reflect.Type, prefix string, out map[string]bool) {
	unmarshaler := reflect.TypeFor[yaml.Unmarshaler]()
	for f := range t.Fields() {
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" || tag == "" || !f.IsExported() {
			continue
		}
		path := prefix + tag
		out[path] = true
		ft := f.Type
		if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
			ft = ft.Elem() // an optional section, such as an approval's scope
		}
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			configKeys(ft.Elem(), path+"[].", out)
			continue
		}
		if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(unmarshaler) && ft.PkgPath() != "time" {
			configKeys(ft, path+".", out)
		}
	}
}

// schemaKeys returns the paths of a JSON Schema's object properties, as configKeys names them.
func schemaKeys(s any, prefix string, out map[string]bool) {
	props, _ := get(s, "properties").(map[string]any)
	for k, v := range props {
		path := prefix + k
		out[path] = true
		schemaKeys(v, path+".", out)
		if items := get(v, "items"); items != nil {
			schemaKeys(items, path+"[].", out)
		}
	}
}

// TestChartSchemaCoversConfig: the chart's values.schema.json describes exactly the keys of the
// configuration file (it refuses unknown keys, as the service does): a key added to the
// configuration can be set through the chart, and the schema accepts no key the service would
// refuse.
func TestChartSchemaCoversConfig(t *testing.T) {
	want := map[string]bool{}
	configKeys(reflect.TypeFor[config.Config](), "", want)
	got := map[string]bool{}
	schemaKeys(get(readJSONSchema(t), "properties", "config"), "", got)
	if len(want) < 40 {
		t.Fatalf("found only %d configuration keys", len(want))
	}
	for k := range want {
		if !got[k] {
			t.Errorf("configuration key %s is missing from helm/transferwatch/values.schema.json", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("values.schema.json accepts config.%s, which the configuration does not have", k)
		}
	}
}

// TestDockerfileGoMatchesGoMod: the Go image of the Dockerfile is the release of go.mod's go
// line (the build runs with GOTOOLCHAIN=local), and the build stage cross-compiles from the
// builder's platform.
func TestDockerfileGoMatchesGoMod(t *testing.T) {
	mod, err := os.ReadFile(repoRoot + "/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	docker, err := os.ReadFile(repoRoot + "/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	img := regexp.MustCompile(`(?m)^ARG GO_IMAGE=golang:(\d+\.\d+\.\d+)\S*$`).FindSubmatch(docker)
	if img == nil || string(img[1]) != string(m[1]) {
		t.Errorf("Dockerfile GO_IMAGE %q, want golang:%s (go.mod)", img, m[1])
	}
	for _, want := range []string{
		"FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build",
		"GOOS=${TARGETOS} GOARCH=${TARGETARCH}",
		"GOTOOLCHAIN=local",
		"docker buildx imagetools inspect",
	} {
		if !strings.Contains(string(docker), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	// Every FROM names its image through an ARG, so that a digest is pinned in one place.
	for line := range strings.SplitSeq(string(docker), "\n") {
		if strings.HasPrefix(line, "FROM ") && !strings.Contains(line, "${") {
			t.Errorf("Dockerfile %q names its image directly", line)
		}
	}
	if slices.Contains([]string{"", "dev"}, strings.TrimSpace(string(m[1]))) {
		t.Error("go.mod go line is empty")
	}
}
