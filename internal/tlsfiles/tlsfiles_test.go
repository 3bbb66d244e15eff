package tlsfiles

import (
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transferwatch/transferwatch/internal/testutil/testcert"
)

// write writes content to a new file in a test directory.
func write(t *testing.T, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestClient(t *testing.T) {
	b := testcert.Issue(t, "tlsfiles")
	c, err := Client(write(t, "ca.pem", b.CAPEM), write(t, "cert.pem", b.CertPEM), write(t, "key.pem", b.KeyPEM), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.RootCAs == nil || len(c.Certificates) != 1 || c.InsecureSkipVerify {
		t.Errorf("config = %+v", c)
	}
}

func TestCAPool(t *testing.T) {
	b := testcert.Issue(t, "tlsfiles")
	garbage := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")})
	for _, c := range []struct {
		name    string
		content []byte
		want    string // "" means valid
	}{
		{"a CA", b.CAPEM, ""},
		{"a bundle", append(append([]byte{}, b.CAPEM...), b.CertPEM...), ""},
		{"not PEM", []byte("hello\n"), "no PEM certificate found"},
		{"a key instead", b.KeyPEM, "no PEM certificate found (found PRIVATE KEY)"},
		{"a broken certificate after a good one", append(append([]byte{}, b.CAPEM...), garbage...), "PEM block 2: x509: malformed certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := write(t, "ca.pem", c.content)
			_, err := CAPool(path)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != path+": "+c.want {
				t.Errorf("CAPool = %v, want %q", err, path+": "+c.want)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		if _, err := CAPool(filepath.Join(t.TempDir(), "none.pem")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("CAPool = %v", err)
		}
	})
}

func TestKeyPair(t *testing.T) {
	a, b := testcert.Issue(t, "a"), testcert.Issue(t, "b")
	key := string(a.KeyPEM)
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("whatever")})
	brokenKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("s3cret-key-material")})
	for _, c := range []struct {
		name      string
		cert, key []byte
		want      []string // "" alone means valid
	}{
		{"a pair", a.CertPEM, a.KeyPEM, []string{""}},
		{"mismatched", a.CertPEM, b.KeyPEM, []string{"does not go with the certificate in", "private key does not match public key"}},
		{"swapped", a.KeyPEM, a.CertPEM, []string{"cert.pem: no PEM certificate found (found PRIVATE KEY)", "key.pem: no PEM private key found (found CERTIFICATE)"}},
		{"encrypted key", a.CertPEM, encrypted, []string{"key.pem: the private key is encrypted"}},
		{"broken key", a.CertPEM, brokenKey, []string{"key.pem: the PRIVATE KEY block is not a private key in PKCS #8, PKCS #1 or SEC 1 form"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := KeyPair(write(t, "cert.pem", c.cert), write(t, "key.pem", c.key))
			if c.want[0] == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("KeyPair accepted it")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("KeyPair = %v, want it to say %q", err, w)
				}
			}
			for _, secret := range []string{key, "s3cret-key-material", string(b.KeyPEM)} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows a key: %v", err)
				}
			}
		})
	}
}
