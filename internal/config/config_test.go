package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const examplePath = "../../deploy/config.example.yaml"

const testKey = "00112233445566778899aabbccddeeff"

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile writes content to a new file in a test directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaultValidates(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if err := c.Resolve(); err != nil {
		t.Fatalf("Default().Resolve() = %v", err)
	}
	if c.Location == nil || c.Location.String() != "Asia/Shanghai" {
		t.Errorf("Location = %v, want Asia/Shanghai", c.Location)
	}
	if c.HasSubjectKey || c.APIToken != "" {
		t.Errorf("default has a subject key or token")
	}
}

func TestDefaultValues(t *testing.T) {
	c := Default()
	checks := []struct {
		field string
		got   any
		want  any
	}{
		{"timezone", c.Timezone, "Asia/Shanghai"},
		{"flush_interval", c.FlushInterval, time.Second},
		{"kafka.brokers", c.Kafka.Brokers, []string{"localhost:9092"}},
		{"kafka.topic", c.Kafka.Topic, "outbound-transfers"},
		{"kafka.group_id", c.Kafka.GroupID, "transferwatch"},
		{"kafka.dead_letter_topic", c.Kafka.DeadLetterTopic, "outbound-transfers.dlq"},
		{"kafka.decisions_topic", c.Kafka.DecisionsTopic, "transfer-decisions"},
		{"kafka.tls", c.Kafka.TLS, KafkaTLS{}},
		{"kafka.sasl", c.Kafka.SASL, SASL{}},
		{"redis.addrs", c.Redis.Addrs, []string{"localhost:6379"}},
		{"redis.db", c.Redis.DB, 0},
		{"redis.key_prefix", c.Redis.KeyPrefix, "tw"},
		{"http.addr", c.HTTP.Addr, ":8080"},
		{"http.token_file", c.HTTP.TokenFile, ""},
		{"subject_key_file", c.SubjectKeyFile, ""},
		{"policy.preset", c.Policy.Preset, "cac-2024"},
		{"policy.levels", c.Policy.Levels, Levels{0.70, 0.85, 0.95}},
		{"policy.estimate", c.Policy.Estimate, "upper_bound"},
		{"policy.renewal_lead_days", c.Policy.RenewalLeadDays, 183},
		{"policy.forecast_lead_days", c.Policy.ForecastLeadDays, 183},
		{"entities", len(c.Entities), 0},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.field, ch.got, ch.want)
		}
	}
	// Each call returns a fresh value.
	c.Kafka.Brokers[0] = "changed:1"
	if Default().Kafka.Brokers[0] != "localhost:9092" {
		t.Error("Default shares state between calls")
	}
}

func TestParseEmptyGivesDefault(t *testing.T) {
	for _, in := range []string{"", "\n", "# only a comment\n", "---\n"} {
		c, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("Parse(%q) = %v", in, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("Parse(%q) differs from Default()", in)
		}
	}
}

func TestParseOverridesDefaults(t *testing.T) {
	c, err := Parse([]byte(`
timezone: UTC
flush_interval: 250ms
kafka:
  brokers: [a:9092, b:9092]
  topic: events
policy: {preset: cac-2024, levels: {notice: 0.5, warning: 0.6, critical: 0.7}}
entities:
  - id: e1
    approvals:
      - {mechanism: certification, status: approved, valid_from: 2025-01-01, valid_until: "2026-01-01"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Timezone != "UTC" || c.FlushInterval != 250*time.Millisecond {
		t.Errorf("timezone/flush_interval = %q/%v", c.Timezone, c.FlushInterval)
	}
	if !reflect.DeepEqual(c.Kafka.Brokers, []string{"a:9092", "b:9092"}) || c.Kafka.Topic != "events" {
		t.Errorf("kafka = %+v", c.Kafka)
	}
	// Keys not given keep their default, also inside a mapping that is given.
	if c.Kafka.GroupID != "transferwatch" || c.Policy.Estimate != EstimateUpperBound || c.Redis.KeyPrefix != "tw" {
		t.Errorf("defaults lost: group_id %q, estimate %q, key_prefix %q", c.Kafka.GroupID, c.Policy.Estimate, c.Redis.KeyPrefix)
	}
	if c.Policy.Preset != PresetCAC2024 || c.Policy.Levels != (Levels{0.5, 0.6, 0.7}) {
		t.Errorf("policy = %+v", c.Policy)
	}
	a := c.Entities[0].Approvals[0]
	if a.ValidFrom != NewDate(2025, 1, 1) || a.ValidUntil != NewDate(2026, 1, 1) {
		t.Errorf("approval dates = %s..%s", a.ValidFrom, a.ValidUntil)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		is   error
		want []string // lines expected in the error
	}{
		{
			name: "unknown top-level key",
			yaml: "timezone: UTC\ntimzone: UTC\n",
			is:   ErrUnknownKey,
			want: []string{"timzone: unknown key (line 2)"},
		},
		{
			name: "unknown nested keys, all reported",
			yaml: "kafka:\n  brokers: [a:1]\n  tls:\n    enabeld: true\nredis:\n  passwd: x\n",
			is:   ErrUnknownKey,
			want: []string{"kafka.tls.enabeld: unknown key (line 4)", "redis.passwd: unknown key (line 6)"},
		},
		{
			name: "unknown key in an approval",
			yaml: "entities:\n  - id: a\n  - id: b\n    approvals:\n      - mechanism: certification\n        expires: 2026-01-01\n",
			is:   ErrUnknownKey,
			want: []string{"entities[1].approvals[0].expires: unknown key (line 6)"},
		},
		{
			name: "unknown key in a flow mapping",
			yaml: "kafka:\n  sasl: {mechanism: plain, user: x}\n",
			is:   ErrUnknownKey,
			want: []string{"kafka.sasl.user: unknown key (line 2)"},
		},
		{
			name: "resolved-only field is not a key",
			yaml: "api_token: secret\n",
			is:   ErrUnknownKey,
			want: []string{"api_token: unknown key (line 1)"},
		},
		{
			name: "wrong type",
			yaml: "redis:\n  db: zero\n",
			is:   ErrInvalid,
			want: []string{"redis.db: cannot unmarshal !!str `zero` into int (line 2)"},
		},
		{
			name: "duration without unit",
			yaml: "flush_interval: 5\n",
			is:   ErrInvalid,
			want: []string{"flush_interval: cannot unmarshal !!int `5` into time.Duration (line 1)"},
		},
		{
			name: "bad date",
			yaml: "entities:\n  - id: a\n    approvals:\n      - valid_from: 2025-02-30\n",
			is:   ErrInvalid,
			want: []string{`entities[0].approvals[0].valid_from: invalid date "2025-02-30", want YYYY-MM-DD (line 4)`},
		},
		{
			name: "timestamp instead of date",
			yaml: "entities:\n  - id: a\n    approvals:\n      - valid_until: 2025-02-01T00:00:00Z\n",
			is:   ErrInvalid,
			want: []string{`entities[0].approvals[0].valid_until: invalid date "2025-02-01T00:00:00Z", want YYYY-MM-DD (line 4)`},
		},
		{
			name: "type and unknown key together",
			yaml: "redis:\n  db: x\nextra: 1\n",
			is:   ErrUnknownKey,
			want: []string{"redis.db: cannot unmarshal", "extra: unknown key (line 3)"},
		},
		{
			name: "wrong type in a flow mapping",
			yaml: "kafka:\n  tls: {enabled: maybe, ca_file: x}\n",
			is:   ErrInvalid,
			want: []string{"kafka.tls.enabled: cannot unmarshal !!str `maybe` into bool (line 2)"},
		},
		{
			name: "syntax error",
			yaml: "kafka:\n  brokers: [a:1\n",
			is:   ErrSyntax,
			want: []string{"line "},
		},
		{
			name: "duplicate key",
			yaml: "timezone: UTC\ntimezone: Asia/Shanghai\n",
			is:   ErrDuplicate,
			want: []string{`timezone: mapping key "timezone" already defined at line 1 (line 2)`},
		},
		{
			name: "two documents",
			yaml: "timezone: UTC\n---\ntimezone: UTC\n",
			is:   ErrSyntax,
			want: []string{"line 2: a configuration file holds one YAML document"},
		},
		{
			name: "not a mapping",
			yaml: "- a\n- b\n",
			is:   ErrInvalid,
			want: []string{"cannot unmarshal !!seq into config.Config"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", c)
			}
			if c != nil {
				t.Errorf("Parse returned a config with an error")
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(err, %v) = false; err: %v", tt.is, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestApplyEnv(t *testing.T) {
	c := Default()
	err := c.ApplyEnv(env(map[string]string{
		EnvKafkaBrokers:  " k1:9092 , k2:9092,, ",
		EnvRedisAddrs:    "r1:7000,r2:7000",
		EnvRedisPassword: "redis-secret",
		EnvSubjectKey:    " " + strings.ToUpper(testKey) + "\n",
		EnvHTTPAddr:      " 127.0.0.1:9000 ",
		EnvAPIToken:      " tok-123\n",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Kafka.Brokers, []string{"k1:9092", "k2:9092"}) {
		t.Errorf("brokers = %q", c.Kafka.Brokers)
	}
	if !reflect.DeepEqual(c.Redis.Addrs, []string{"r1:7000", "r2:7000"}) {
		t.Errorf("redis addrs = %q", c.Redis.Addrs)
	}
	if c.Redis.Password != "redis-secret" {
		t.Errorf("redis password not applied")
	}
	wantKey := [16]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	if !c.HasSubjectKey || c.SubjectKey != wantKey {
		t.Errorf("subject key = %x (set %v)", c.SubjectKey, c.HasSubjectKey)
	}
	if c.HTTP.Addr != "127.0.0.1:9000" {
		t.Errorf("http addr = %q", c.HTTP.Addr)
	}
	if c.APIToken != "tok-123" {
		t.Errorf("api token = %q", c.APIToken)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

func TestApplyEnvEmptyAndNil(t *testing.T) {
	c := Default()
	if err := c.ApplyEnv(nil); err != nil {
		t.Fatal(err)
	}
	if err := c.ApplyEnv(env(nil)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Error("an empty environment changed the configuration")
	}
}

func TestApplyEnvRejects(t *testing.T) {
	secretKey := strings.Repeat("z", 32)
	c := Default()
	err := c.ApplyEnv(env(map[string]string{
		EnvKafkaBrokers: " , ",
		EnvRedisAddrs:   ",",
		EnvSubjectKey:   secretKey,
		EnvAPIToken:     "two words",
	}))
	for _, field := range []string{EnvKafkaBrokers, EnvRedisAddrs, EnvSubjectKey, EnvAPIToken} {
		if problemLine(err, field) == "" {
			t.Errorf("no problem names %s; got:\n%v", field, err)
		}
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(err, ErrInvalid) = false")
	}
	for _, secret := range []string{secretKey, "two words"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error reveals a secret: %v", err)
		}
	}
	if c.HasSubjectKey || c.APIToken != "" || c.Kafka.Brokers[0] != "localhost:9092" {
		t.Errorf("invalid values were applied")
	}
	for _, bad := range []string{testKey[:31], testKey + "0", "0x" + testKey[2:], "g" + testKey[1:]} {
		c := Default()
		if err := c.ApplyEnv(env(map[string]string{EnvSubjectKey: bad})); problemLine(err, EnvSubjectKey) == "" {
			t.Errorf("TW_SUBJECT_KEY %q accepted", bad)
		}
	}
}

func TestResolveSubjectKeyFile(t *testing.T) {
	t.Run("from file, white space trimmed", func(t *testing.T) {
		c := Default()
		c.SubjectKeyFile = writeFile(t, "key", "\n  "+testKey+"  \n")
		if err := c.Resolve(); err != nil {
			t.Fatal(err)
		}
		if !c.HasSubjectKey || fmt.Sprintf("%x", c.SubjectKey) != testKey {
			t.Errorf("subject key = %x (set %v)", c.SubjectKey, c.HasSubjectKey)
		}
		if err := c.RequireSubjectKey(); err != nil {
			t.Errorf("RequireSubjectKey() = %v", err)
		}
	})
	t.Run("environment wins over file", func(t *testing.T) {
		c := Default()
		c.SubjectKeyFile = filepath.Join(t.TempDir(), "missing") // not even read
		other := strings.Repeat("ab", 16)
		if err := c.ApplyEnv(env(map[string]string{EnvSubjectKey: other})); err != nil {
			t.Fatal(err)
		}
		if err := c.Resolve(); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%x", c.SubjectKey) != other {
			t.Errorf("subject key = %x, want the environment's", c.SubjectKey)
		}
	})
	t.Run("malformed file", func(t *testing.T) {
		secret := strings.Repeat("q", 32)
		c := Default()
		c.SubjectKeyFile = writeFile(t, "key", secret)
		err := c.Resolve()
		line := problemLine(err, "subject_key_file")
		if !strings.Contains(line, "must hold exactly 32 hex characters") {
			t.Fatalf("got %v", err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error reveals the file's content: %v", err)
		}
		if !errors.Is(err, ErrInvalid) || c.HasSubjectKey {
			t.Errorf("errors.Is ErrInvalid = %v, HasSubjectKey = %v", errors.Is(err, ErrInvalid), c.HasSubjectKey)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		c := Default()
		c.SubjectKeyFile = filepath.Join(t.TempDir(), "missing")
		err := c.Resolve()
		if problemLine(err, "subject_key_file") == "" || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("no key", func(t *testing.T) {
		c := Default()
		if err := c.Resolve(); err != nil {
			t.Fatal(err)
		}
		err := c.RequireSubjectKey()
		if err == nil || err.Error() != "subject key: set subject_key_file or TW_SUBJECT_KEY" || !errors.Is(err, ErrRequired) {
			t.Errorf("RequireSubjectKey() = %v", err)
		}
	})
}

func TestResolveTokenFile(t *testing.T) {
	t.Run("from file", func(t *testing.T) {
		c := Default()
		c.HTTP.TokenFile = writeFile(t, "token", "s3cr3t-token\n")
		if err := c.Resolve(); err != nil {
			t.Fatal(err)
		}
		if c.APIToken != "s3cr3t-token" {
			t.Errorf("APIToken = %q", c.APIToken)
		}
	})
	t.Run("environment wins", func(t *testing.T) {
		c := Default()
		c.HTTP.TokenFile = writeFile(t, "token", "from-file")
		if err := c.ApplyEnv(env(map[string]string{EnvAPIToken: "from-env"})); err != nil {
			t.Fatal(err)
		}
		if err := c.Resolve(); err != nil {
			t.Fatal(err)
		}
		if c.APIToken != "from-env" {
			t.Errorf("APIToken = %q", c.APIToken)
		}
	})
	for name, content := range map[string]string{"empty": " \n", "with spaces": "two words"} {
		t.Run(name, func(t *testing.T) {
			c := Default()
			c.HTTP.TokenFile = writeFile(t, "token", content)
			err := c.Resolve()
			if problemLine(err, "http.token_file") == "" {
				t.Fatalf("got %v", err)
			}
			if strings.Contains(err.Error(), "two words") {
				t.Errorf("error reveals the token: %v", err)
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		c := Default()
		c.HTTP.TokenFile = writeFile(t, "token", strings.Repeat("a", maxSecretSize+1))
		if err := c.Resolve(); problemLine(err, "http.token_file") == "" || !errors.Is(err, ErrInvalid) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestLoadExample(t *testing.T) {
	c, err := Load(examplePath, env(nil))
	if err != nil {
		t.Fatalf("Load(%s) = %v", examplePath, err)
	}
	if c.Location == nil || c.Location.String() != "Asia/Shanghai" {
		t.Errorf("Location = %v", c.Location)
	}
	// The example sets every key to its default, and adds entities.
	d := Default()
	d.Location = c.Location
	d.Entities = c.Entities
	if !reflect.DeepEqual(c, d) {
		t.Errorf("example differs from the defaults:\n got %+v\nwant %+v", c, d)
	}
	if len(c.Entities) < 2 {
		t.Fatalf("example has %d entities", len(c.Entities))
	}
	e := c.Entities[0]
	want := Entity{ID: "acme-sh", Name: "Acme (Shanghai) Co., Ltd.", Approvals: []Approval{{
		Mechanism: MechanismSecurityAssessment, Status: StatusApproved, Reference: "CAC-2025-0042",
		ValidFrom: NewDate(2025, 3, 1), ValidUntil: NewDate(2027, 3, 1),
	}}}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("entities[0] = %+v, want the contract's example %+v", e, want)
	}
}

// TestExampleHasEveryKey checks that the example names every key of the
// configuration, so that it stays the complete reference.
func TestExampleHasEveryKey(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var keys func(t reflect.Type, path string) []string
	keys = func(t reflect.Type, path string) []string {
		var out []string
		for name, ft := range yamlFields(t) {
			p := joinPath(path, name)
			out = append(out, p)
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[Date]() {
				out = append(out, keys(ft, p)...)
			}
		}
		return out
	}
	for _, k := range keys(reflect.TypeFor[Config](), "") {
		last := k[strings.LastIndex(k, ".")+1:]
		if !strings.Contains(string(data), last+":") {
			t.Errorf("example lacks key %s", k)
		}
	}
}

func TestLoadEnvOverridesFile(t *testing.T) {
	path := writeFile(t, "config.yaml", "kafka:\n  brokers: [file:9092]\nhttp:\n  addr: \":8080\"\n")
	c, err := Load(path, env(map[string]string{
		EnvKafkaBrokers: "env:9092",
		EnvHTTPAddr:     ":9999",
		EnvSubjectKey:   testKey,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.Brokers[0] != "env:9092" || c.HTTP.Addr != ":9999" || !c.HasSubjectKey {
		t.Errorf("environment not applied: %v %q %v", c.Kafka.Brokers, c.HTTP.Addr, c.HasSubjectKey)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	path := writeFile(t, "config.yaml", `
timezone: Nowhere/Town
subject_key_file: /nonexistent/transferwatch/key
policy:
  preset: cac-2023
entities:
  - id: "bad id"
`)
	c, err := Load(path, env(map[string]string{EnvHTTPAddr: "nope"}))
	if c != nil || err == nil {
		t.Fatalf("Load = %v, %v", c, err)
	}
	for _, field := range []string{"timezone", "subject_key_file", "policy.preset", "entities[0].id", "http.addr"} {
		if problemLine(err, field) == "" {
			t.Errorf("no problem names %s", field)
		}
	}
	// The time zone problem is found by Validate and Resolve but reported once.
	if n := strings.Count(err.Error(), "timezone:"); n != 1 {
		t.Errorf("timezone reported %d times:\n%v", n, err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"), nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file = %v", err)
	}
}

func TestRedaction(t *testing.T) {
	c := Default()
	c.Kafka.SASL = SASL{Mechanism: SASLPlain, Username: "user", Password: "kafka-pass-1"}
	c.Redis.Password = "redis-pass-2"
	c.APIToken = "api-token-3"
	c.SubjectKey, c.HasSubjectKey = [16]byte{0xde, 0xad, 0xbe, 0xef, 0xca, 0xfe, 0xba, 0xbe}, true
	c.Entities = []Entity{{ID: "e", Approvals: []Approval{{Mechanism: MechanismCertification, Status: StatusPending}}}}
	secrets := []string{"kafka-pass-1", "redis-pass-2", "api-token-3", "deadbeef", "de ad be ef", "222 173 190 239", "[222 173"}

	jsonOut, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"String":      c.String(),
		"%v":          fmt.Sprintf("%v", c),
		"%+v":         fmt.Sprintf("%+v", c),
		"%#v":         fmt.Sprintf("%#v", c),
		"%v value":    fmt.Sprintf("%v", *c),
		"%+v kafka":   fmt.Sprintf("%+v", c.Kafka),
		"%#v sasl":    fmt.Sprintf("%#v", c.Kafka.SASL),
		"%+v redis":   fmt.Sprintf("%+v", c.Redis),
		"%x":          fmt.Sprintf("%x", c.Redacted().SubjectKey),
		"json":        string(jsonOut),
		"redacted %v": fmt.Sprintf("%+v", c.Redacted().Kafka.SASL),
	}
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s reveals %q:\n%s", name, s, out)
			}
		}
	}
	if !strings.Contains(c.String(), "<redacted>") || !strings.Contains(c.String(), "# subject key: set") {
		t.Errorf("String() =\n%s", c.String())
	}
	// The original is untouched and the copy is deep.
	r := c.Redacted()
	r.Entities[0].Approvals[0].Status = "changed"
	r.Kafka.Brokers[0] = "changed"
	if c.Kafka.SASL.Password != "kafka-pass-1" || c.Entities[0].Approvals[0].Status != StatusPending || c.Kafka.Brokers[0] == "changed" {
		t.Error("Redacted changed the original")
	}
	// The printed configuration is valid YAML of the same configuration.
	back, err := Parse([]byte(Default().String()))
	if err != nil {
		t.Fatalf("String() does not parse back: %v", err)
	}
	if !reflect.DeepEqual(normalize(back), Default()) {
		t.Errorf("String() does not round-trip")
	}
}

func TestApplyEnvKafkaSASLPassword(t *testing.T) {
	c := Default()
	c.Kafka.SASL.Mechanism, c.Kafka.SASL.Username = SASLScramSHA512, "tw"
	if err := c.ApplyEnv(env(map[string]string{EnvKafkaSASLPassword: "kafka-secret"})); err != nil {
		t.Fatal(err)
	}
	if c.Kafka.SASL.Password != "kafka-secret" {
		t.Error("kafka sasl password not applied")
	}
	if strings.Contains(c.String(), "kafka-secret") {
		t.Error("String() reveals the kafka password")
	}
}

// TestParseEntityV2Fields reads the v2 entity and approval fields.
func TestParseEntityV2Fields(t *testing.T) {
	c, err := Parse([]byte(`
entities:
  - id: acme-sh
    ftz: shanghai-lingang
    employees: 3000
    processed_subjects: 3000000
    approvals:
      - mechanism: standard_contract
        status: approved
        reference: SC-2026-0007
        valid_from: 2026-10-01
        valid_until: 2029-10-01
        filed_on: 2026-10-09
`))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Entities[0]
	if e.FTZ != "shanghai-lingang" || e.Employees != 3000 || e.ProcessedSubjects != 3_000_000 {
		t.Errorf("entity %+v", e)
	}
	if a := e.Approvals[0]; a.FiledOn != NewDate(2026, 10, 9) {
		t.Errorf("filed_on %s, want 2026-10-09", a.FiledOn)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	if _, err := Parse([]byte("entities:\n  - id: a\n    approvals:\n      - filed_on: 2026-02-30\n")); err == nil || !strings.Contains(err.Error(), `invalid date "2026-02-30"`) {
		t.Errorf("filed_on 2026-02-30: %v", err)
	}
}

func TestFingerprintIgnoresSecretsOnly(t *testing.T) {
	a := Default()
	a.Redis.Password = "s3cret-one"
	a.APIToken = "tok1"
	b := Default()
	b.Redis.Password = "two"
	b.APIToken = "tok2"
	if a.Fingerprint() != b.Fingerprint() || len(a.Fingerprint()) != 64 {
		t.Errorf("secrets change the fingerprint: %s, %s", a.Fingerprint(), b.Fingerprint())
	}
	b.Policy.Preset = "cac-2022"
	if a.Fingerprint() == b.Fingerprint() {
		t.Error("the preset does not change the fingerprint")
	}
	if strings.Contains(a.String(), "s3cret") {
		t.Error("secret printed")
	}
}
