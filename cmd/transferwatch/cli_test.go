package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHelpExitsZero: `transferwatch COMMAND --help` (and -h) prints the command's usage on
// stdout and exits 0, for every command the main usage lists, subcommands included.
func TestHelpExitsZero(t *testing.T) {
	listed := regexp.MustCompile(`(?m)^  transferwatch ([a-z-]+)`).FindAllStringSubmatch(usage, -1)
	if len(listed) < 7 {
		t.Fatalf("the usage lists %d commands", len(listed))
	}
	var cases [][]string
	for _, m := range listed {
		cases = append(cases, []string{m[1], "--help"}, []string{m[1], "-h"})
	}
	cases = append(cases,
		[]string{"--help"}, []string{"help"},
		[]string{"store", "status", "--help"}, []string{"store", "accept-loss", "--help"},
		[]string{"dlq", "replay", "--help"},
		[]string{"entity", "acme-sh", "--help"},
		[]string{"run", "--config", "x.yaml", "--help"},
	)
	for _, args := range cases {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, &stdout, &stderr, func(string) string { return "" })
		if code != 0 || stderr.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "Usage") || (args[0] != "help" && args[0] != "--help" && !strings.Contains(stdout.String(), args[0])) {
			t.Errorf("%v: stdout %q is not its usage", args, stdout.String())
		}
	}
}

// TestUsageErrors: a wrong command line exits 2 with the problem on stderr and nothing on
// stdout.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"entity"}, "give one entity ID"},
		{[]string{"entity", "a", "b"}, "give one entity ID"},
		{[]string{"entity", "acme sh"}, "1-128 characters"},
		{[]string{"entity", "acme-sh", "--url", "http://x", "--config", "c.yaml"}, "not both"},
		{[]string{"entity", "acme-sh", "--jsn"}, "flag provided but not defined: -jsn"},
		{[]string{"dlq"}, "Usage: transferwatch dlq replay"},
		{[]string{"dlq", "replay"}, "--config FILE is required"},
		{[]string{"dlq", "replay", "--config", "c.yaml", "--max", "-1"}, "--max must not be negative"},
		{[]string{"run", "--bogus"}, "Run 'transferwatch run --help' for usage."},
		{[]string{"check-config"}, "--config FILE is required"},
		{[]string{"report", "--config", "c.yaml", "--entity", "acme-sh"}, "--out DIR are required"},
		{[]string{"report", "--config", "c.yaml", "--entity", "acme sh", "--out", "d"}, "1-128 characters"},
		{[]string{"report", "--config", "c.yaml", "--entity", "acme-sh", "--out", "d", "--lang", "fr"}, "--lang must be en or zh"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, &stdout, &stderr, func(string) string { return "" })
		if code != 2 || !strings.Contains(stderr.String(), tc.want) || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, stdout.String(), stderr.String(), tc.want)
		}
	}
}

// TestCheckConfigOffline: with --offline, a configuration whose subject key and TLS files
// live only where it runs passes, listing the files not checked; without, it fails; a file
// that is present but wrong fails either way.
func TestCheckConfigOffline(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca := "/etc/transferwatch/tls/ca.crt"
	path := write("ci.yaml", "subject_key_file: /var/run/secrets/subject.key\nkafka:\n  tls: {enabled: true, ca_file: "+ca+"}\n")
	noEnv := func(string) string { return "" }

	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"check-config", "--offline", "--config", path}, &stdout, &stderr, noEnv); code != 0 {
		t.Fatalf("--offline: exit %d\n%s", code, stderr.String())
	}
	for _, want := range []string{path + ": ok (0 entities, policy cac-2024, time zone Asia/Shanghai, offline)",
		"not checked, absent here: subject_key_file: /var/run/secrets/subject.key",
		"not checked, absent here: kafka.tls.ca_file: " + ca} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}

	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"check-config", "--config", path}, &stdout, &stderr, noEnv); code != 1 ||
		!strings.Contains(stderr.String(), "kafka.tls.ca_file: open "+ca) {
		t.Errorf("without --offline: exit %d, stderr %q; want 1 and the missing CA", code, stderr.String())
	}

	bad := write("bad.yaml", "redis:\n  tls: {enabled: true, ca_file: "+write("notes.txt", "hello")+"}\npolicy: {preset: cac-2099}\n")
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"check-config", "--offline", "--config", bad}, &stdout, &stderr, noEnv); code != 1 ||
		!strings.Contains(stderr.String(), "2 problem(s)") || !strings.Contains(stderr.String(), "no PEM certificate found") {
		t.Errorf("--offline, wrong files: exit %d, stderr %q; want 1 and 2 problems", code, stderr.String())
	}
}
