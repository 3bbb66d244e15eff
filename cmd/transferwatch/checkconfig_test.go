package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transferwatch/transferwatch/internal/testutil/testcert"
)

// TestCheckConfigFiles runs `transferwatch check-config` on real files: a valid
// configuration with TLS files says ok and exits 0; one whose files are
// missing or wrong prints every problem, one line each naming its field,
// and exits 1.
func TestCheckConfigFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a, b := testcert.Issue(t, "check-config-a"), testcert.Issue(t, "check-config-b")
	ca, cert, key, otherKey := write("ca.pem", string(a.CAPEM)), write("cert.pem", string(a.CertPEM)),
		write("key.pem", string(a.KeyPEM)), write("other-key.pem", string(b.KeyPEM))
	getenv := func(k string) string {
		if k == "TW_SUBJECT_KEY" {
			return "00112233445566778899aabbccddeeff"
		}
		return ""
	}
	config := func(name, kafkaCA, keyFile, redisCA, tokenFile string) string {
		return write(name, `
http:
  token_file: `+tokenFile+`
kafka:
  tls: {enabled: true, ca_file: `+kafkaCA+`, cert_file: `+cert+`, key_file: `+keyFile+`}
redis:
  tls: {enabled: true, ca_file: `+redisCA+`}
`)
	}

	t.Run("valid", func(t *testing.T) {
		path := config("good.yaml", ca, key, ca, write("token", "s3cret-token\n"))
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"check-config", "--config", path}, &stdout, &stderr, getenv); code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr.String())
		}
		if !strings.Contains(stdout.String(), path+": ok") {
			t.Errorf("stdout = %q", stdout.String())
		}
	})
	t.Run("every file wrong", func(t *testing.T) {
		path := config("bad.yaml", filepath.Join(dir, "missing-ca.pem"), otherKey, write("notes.txt", "hello"), filepath.Join(dir, "missing-token"))
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"check-config", "--config", path}, &stdout, &stderr, getenv); code != 1 {
			t.Fatalf("exit %d, want 1\n%s", code, stderr.String())
		}
		out := stderr.String()
		if !strings.Contains(out, path+": 4 problem(s):\n") {
			t.Errorf("stderr does not count 4 problems:\n%s", out)
		}
		for _, want := range []string{
			"  - kafka.tls.ca_file: open " + filepath.Join(dir, "missing-ca.pem") + ": no such file or directory\n",
			"  - kafka.tls.key_file: the key in " + otherKey + " does not go with the certificate in " + cert,
			"  - redis.tls.ca_file: " + filepath.Join(dir, "notes.txt") + ": no PEM certificate found\n",
			"  - http.token_file: open " + filepath.Join(dir, "missing-token") + ": no such file or directory\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stderr lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "PRIVATE KEY-----") || stdout.Len() != 0 {
			t.Errorf("stdout %q, stderr %q", stdout.String(), out)
		}
	})
}

// TestCheckConfigPreset: check-config says which preset is in force and what it
// means; an invalid approval is a problem naming it, with every problem
// listed.
func TestCheckConfigPreset(t *testing.T) {
	env := func(k string) string {
		if k == "TW_SUBJECT_KEY" {
			return "00112233445566778899aabbccddeeff"
		}
		return ""
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"check-config", "--config", "../../deploy/config.example.yaml"}, &stdout, &stderr, env); code != 0 {
		t.Fatalf("check-config of the example: exit %d\n%s", code, stderr.String())
	}
	for _, want := range []string{
		"ok (3 entities, policy cac-2024, time zone Asia/Shanghai)",
		"policy cac-2024: Provisions on Promoting and Regulating Cross-Border Data Flows (2024, in force since 2024-03-22)",
		"ciio            a critical information infrastructure operator, from its first transfer -> security_assessment (PIPL Art. 40; 2024 Provisions Art. 7(1))",
		"hr-exemption",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(`
policy: {preset: cac-2022}
entities:
  - id: acme-sh
    approvals:
      - {mechanism: security_assessment, status: approved, reference: CAC-2025-0001, valid_from: 2025-01-01, valid_until: 2028-01-01}
      - {mechanism: certification, status: approved, reference: PIPC-1, valid_from: 2025-01-01, valid_until: 2028-01-01, filed_on: 2025-01-03}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"check-config", "--config", bad}, &stdout, &stderr, env); code != 1 {
		t.Fatalf("check-config of an invalid approval: exit %d, want 1", code)
	}
	for _, want := range []string{
		"2 problem(s):",
		`entities[0].approvals[0].valid_until: approval "CAC-2025-0001" (security_assessment): valid 2025-01-01 to 2028-01-01, beyond the legal term of 2 years under cac-2022 (2022 Measures Art. 14): must be 2027-01-01 or earlier`,
		`entities[0].approvals[1].filed_on: approval "PIPC-1" (certification): only a standard contract is filed`,
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("problems lack %q:\n%s", want, stderr.String())
		}
	}
}
