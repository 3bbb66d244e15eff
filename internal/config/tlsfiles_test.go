package config

import (
	"encoding/pem"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transferwatch/transferwatch/internal/testutil/testcert"
)

// TestResolveTLSFiles checks that Resolve reads every TLS file of an
// enabled TLS setting, as the clients will, and names the field of each
// problem.
func TestResolveTLSFiles(t *testing.T) {
	a, b := testcert.Issue(t, "config-a"), testcert.Issue(t, "config-b")
	ca := writeFile(t, "ca.pem", string(a.CAPEM))
	cert := writeFile(t, "cert.pem", string(a.CertPEM))
	key := writeFile(t, "key.pem", string(a.KeyPEM))
	otherKey := writeFile(t, "other-key.pem", string(b.KeyPEM))
	notPEM := writeFile(t, "notes.txt", "hello\n")
	brokenCert := writeFile(t, "broken.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")})))
	missing := filepath.Join(t.TempDir(), "missing.pem")

	type files struct {
		kafkaCA, cert, key, redisCA string
	}
	tests := []struct {
		name  string
		files files
		// want maps each field that must have a problem to what its line says.
		want map[string]string
		// is is what the joined error must wrap.
		is []error
	}{
		{name: "every file valid", files: files{ca, cert, key, ca}},
		{name: "only CAs", files: files{kafkaCA: ca, redisCA: ca}},
		{
			name:  "missing CA",
			files: files{kafkaCA: missing},
			want:  map[string]string{"kafka.tls.ca_file": "no such file or directory"},
			is:    []error{fs.ErrNotExist},
		},
		{
			name:  "CA not PEM",
			files: files{kafkaCA: notPEM},
			want:  map[string]string{"kafka.tls.ca_file": notPEM + ": no PEM certificate found"},
			is:    []error{ErrInvalid},
		},
		{
			name:  "CA a key",
			files: files{redisCA: key},
			want:  map[string]string{"redis.tls.ca_file": "no PEM certificate found (found PRIVATE KEY)"},
			is:    []error{ErrInvalid},
		},
		{
			name:  "broken certificate",
			files: files{cert: brokenCert, key: key},
			want:  map[string]string{"kafka.tls.cert_file": "malformed certificate"},
		},
		{
			name:  "mismatched certificate and key",
			files: files{cert: cert, key: otherKey},
			want:  map[string]string{"kafka.tls.key_file": "the key in " + otherKey + " does not go with the certificate in " + cert},
			is:    []error{ErrInvalid},
		},
		{
			name:  "key missing, certificate not PEM",
			files: files{cert: notPEM, key: missing},
			want: map[string]string{
				"kafka.tls.cert_file": "no PEM certificate found",
				"kafka.tls.key_file":  "no such file or directory",
			},
			is: []error{fs.ErrNotExist, ErrInvalid},
		},
		{
			name:  "several problems listed together",
			files: files{kafkaCA: missing, cert: key, key: cert, redisCA: notPEM},
			want: map[string]string{
				"kafka.tls.ca_file":   "no such file or directory",
				"kafka.tls.cert_file": "no PEM certificate found (found PRIVATE KEY)",
				"kafka.tls.key_file":  "no PEM private key found (found CERTIFICATE)",
				"redis.tls.ca_file":   "no PEM certificate found",
			},
			is: []error{fs.ErrNotExist, ErrInvalid},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Kafka.TLS = KafkaTLS{Enabled: true, CAFile: tt.files.kafkaCA, CertFile: tt.files.cert, KeyFile: tt.files.key}
			c.Redis.TLS = RedisTLS{Enabled: true, CAFile: tt.files.redisCA}
			err := c.Resolve()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Resolve = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Resolve accepted the files")
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != len(tt.want) {
				t.Errorf("%d problems, want %d:\n%v", n, len(tt.want), err)
			}
			for field, says := range tt.want {
				if line := problemLine(err, field); !strings.Contains(line, says) {
					t.Errorf("problem of %s = %q, want it to say %q\nall: %v", field, line, says, err)
				}
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v) = false: %v", target, err)
				}
			}
			if strings.Contains(err.Error(), "PRIVATE KEY-----") || strings.Contains(err.Error(), strings.TrimSpace(string(a.KeyPEM))[40:80]) {
				t.Errorf("the error shows a key: %v", err)
			}
		})
	}
}

// TestResolveTLSFilesOnlyWhenEnabled checks that the files of a disabled
// TLS setting are not read: Validate reports them as set for nothing.
func TestResolveTLSFilesOnlyWhenEnabled(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	c := Default()
	c.Kafka.TLS = KafkaTLS{CAFile: missing, CertFile: missing, KeyFile: missing}
	c.Redis.TLS = RedisTLS{CAFile: missing}
	if err := c.Resolve(); err != nil {
		t.Errorf("Resolve read the files of a disabled TLS setting: %v", err)
	}
	if err := c.Validate(); problemLine(err, "kafka.tls.ca_file") == "" || problemLine(err, "redis.tls.ca_file") == "" {
		t.Errorf("Validate = %v, want the unused files reported", err)
	}
}

// TestLoadReportsEveryFileProblem writes a configuration naming a file of
// each kind, every one of them wrong, and checks that Load reports all of
// them at once, each naming its field, without showing a secret.
func TestLoadReportsEveryFileProblem(t *testing.T) {
	a, b := testcert.Issue(t, "config-a"), testcert.Issue(t, "config-b")
	secretKey := strings.Repeat("z", 32) // not hex
	dir := t.TempDir()
	path := writeFile(t, "config.yaml", `
subject_key_file: `+writeFile(t, "subject.key", secretKey)+`
http:
  token_file: `+filepath.Join(dir, "no-token")+`
kafka:
  tls:
    enabled: true
    ca_file: `+filepath.Join(dir, "no-ca.pem")+`
    cert_file: `+writeFile(t, "cert.pem", string(a.CertPEM))+`
    key_file: `+writeFile(t, "key.pem", string(b.KeyPEM))+`
redis:
  tls:
    enabled: true
    ca_file: `+writeFile(t, "redis-ca.pem", "not a certificate")+`
`)
	_, err := Load(path, env(nil))
	if err == nil {
		t.Fatal("Load accepted the configuration")
	}
	for _, field := range []string{"subject_key_file", "http.token_file", "kafka.tls.ca_file", "kafka.tls.key_file", "redis.tls.ca_file"} {
		if problemLine(err, field) == "" {
			t.Errorf("no problem names %s:\n%v", field, err)
		}
	}
	if problemLine(err, "kafka.tls.cert_file") != "" {
		t.Errorf("the valid certificate is reported:\n%v", err)
	}
	if strings.Contains(err.Error(), secretKey) || strings.Contains(err.Error(), "PRIVATE KEY-----") {
		t.Errorf("the error shows a secret:\n%v", err)
	}
}
