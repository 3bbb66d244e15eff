package config

import (
	"os"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzLoad feeds arbitrary documents to Parse and Validate: they must never
// panic, must fail or succeed consistently, and a configuration that is
// valid must survive printing (String) and re-parsing unchanged.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile(examplePath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(""))
	f.Add([]byte("kafka:\n  brokers: [a:1, b:2]\n  tls: {enabled: true, cert_file: c}\n"))
	f.Add([]byte("entities:\n  - id: a\n    approvals:\n      - {mechanism: certification, status: approved, valid_from: 2025-01-01, valid_until: 2024-01-01}\n"))
	f.Add([]byte("base: &b {notice: 0.1}\npolicy:\n  levels:\n    <<: *b\n    warning: 0.5\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("flush_interval: 5\nredis: {db: x}\nextra: 1\n---\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if c != nil {
				t.Fatal("Parse returned both a config and an error")
			}
			_ = err.Error()
			return
		}
		if c.Validate() != nil {
			return
		}
		// A valid configuration marshals to YAML that parses back to the
		// same configuration.
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("valid config does not re-parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(normalize(back), normalize(c)) {
			t.Fatalf("round trip changed the config:\n%s", out)
		}
		_ = c.String()
	})
}

// normalize makes empty and nil slices alike for comparison.
func normalize(c *Config) *Config {
	if len(c.Entities) == 0 {
		c.Entities = nil
	}
	for i := range c.Entities {
		if len(c.Entities[i].Approvals) == 0 {
			c.Entities[i].Approvals = nil
		}
	}
	return c
}
