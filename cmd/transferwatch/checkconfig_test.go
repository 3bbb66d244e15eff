package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transferwatch/transferwatch/internal/testcert"
)

// TestCheckConfig runs `transferwatch check-config` on real files: a valid
// configuration with TLS files says ok and exits 0; one whose files are
// missing or wrong prints every problem, one line each naming its field,
// and exits 1.
func TestCheckConfig(t *testing.T) {
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
