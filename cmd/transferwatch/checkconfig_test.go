package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfig: check-config says which preset is in force and what it
// means; an invalid approval is a problem naming it, with every problem
// listed.
func TestCheckConfig(t *testing.T) {
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
