package redistest

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/transferwatch/transferwatch/internal/testutil/testcert"
)

// TLSServer starts a redis-server that accepts TLS connections only (its
// plain-text port is 0), with a certificate for 127.0.0.1 and localhost
// issued by a throwaway CA made for this test. It returns the server and a
// client configuration that trusts that CA. Clients need no certificate.
// The test is skipped if this redis-server was built without TLS.
func TLSServer(t testing.TB, args ...string) (*Instance, *tls.Config) {
	t.Helper()
	if !tlsSupported(t) {
		t.Fatal("redistest: this redis-server was built without TLS support (Debian's redis-server has it)")
	}
	dir := t.TempDir()
	ca, server, key := issue(t)
	files := map[string][]byte{"ca.crt": ca, "server.crt": server, "server.key": key}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatalf("redistest: %v", err)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("redistest: cannot read back the test CA")
	}
	client := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	in := start(t, func(port int) []string {
		return []string{
			"--port", "0",
			"--tls-port", strconv.Itoa(port),
			"--tls-cert-file", filepath.Join(dir, "server.crt"),
			"--tls-key-file", filepath.Join(dir, "server.key"),
			"--tls-ca-cert-file", filepath.Join(dir, "ca.crt"),
			"--tls-auth-clients", "no",
		}
	}, client, args)
	return in, client.Clone()
}

// tlsSupported reports whether redis-server accepts the tls-port directive:
// with every port 0 a TLS-capable server exits at once saying it listens
// nowhere, an incapable one complains about the directive.
func tlsSupported(t testing.TB) bool {
	bin := binary(t, "redis-server", "redis-server")
	out, _ := exec.Command(bin, "--port", "0", "--tls-port", "0", "--save", "", "--appendonly", "no").CombinedOutput()
	return strings.Contains(string(out), "not listen anywhere")
}

// issue makes a CA and a server certificate for the loopback address it
// signs, and returns both certificates and the server's key as PEM.
func issue(t testing.TB) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	b := testcert.Issue(t, "redistest CA")
	return b.CAPEM, b.CertPEM, b.KeyPEM
}
