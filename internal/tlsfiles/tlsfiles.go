// Package tlsfiles reads the PEM files named in the configuration (CA
// bundles, client certificates and keys) and builds client TLS
// configurations from them. The configuration's check (config.Resolve, run
// by `transferwatch check-config` and at start-up) and the clients use the
// same functions, so a file the check accepts is a file the clients can use.
//
// Errors name the file and say what is wrong; they never show the content
// of a key.
package tlsfiles

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxFileSize bounds the files read, so that a wrong path (a device, a log
// file) fails quickly instead of filling memory. A bundle of every public
// CA is about 200 KiB.
const maxFileSize = 4 << 20

// Client returns a client TLS configuration: caFile (PEM) replaces the
// system roots when set; certFile and keyFile give a client certificate;
// insecure skips verification of the server (the operator's explicit
// choice, for tests).
func Client(caFile, certFile, keyFile string, insecure bool) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // explicit option
	if caFile != "" {
		pool, err := CAPool(caFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		cert, err := KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// CAPool reads a PEM bundle of CA certificates into a pool. Every
// CERTIFICATE block must parse; a file without one is an error.
func CAPool(path string) (*x509.CertPool, error) {
	certs, err := Certificates(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// Certificates reads the PEM certificates of a file. Every CERTIFICATE
// block must parse; blocks of other types are skipped; a file without a
// certificate is an error.
func Certificates(path string) ([]*x509.Certificate, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var (
		certs  []*x509.Certificate
		others []string
	)
	for i := 1; ; i++ {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			others = append(others, b.Type)
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: PEM block %d: %w", path, i, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate found%s", path, found(others))
	}
	return certs, nil
}

// PrivateKey reads the PEM private key of a file: the first block whose
// type ends in PRIVATE KEY, unencrypted, in PKCS #8, PKCS #1 (RSA) or SEC 1
// (EC) form, as crypto/tls reads it.
func PrivateKey(path string) (crypto.PrivateKey, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var others []string
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		switch {
		case b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED"):
			return nil, fmt.Errorf("%s: the private key is encrypted; give it unencrypted", path)
		case b.Type == "PRIVATE KEY" || strings.HasSuffix(b.Type, " PRIVATE KEY"):
			if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
				return k, nil
			}
			if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
				return k, nil
			}
			if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
				return k, nil
			}
			// The parsers' errors could quote the key's bytes: none is shown.
			return nil, fmt.Errorf("%s: the %s block is not a private key in PKCS #8, PKCS #1 or SEC 1 form", path, b.Type)
		default:
			others = append(others, b.Type)
		}
	}
	return nil, fmt.Errorf("%s: no PEM private key found%s", path, found(others))
}

// KeyPair reads a client certificate and its private key, and checks that
// they go together.
func KeyPair(certFile, keyFile string) (tls.Certificate, error) {
	_, cerr := Certificates(certFile)
	_, kerr := PrivateKey(keyFile)
	if err := errors.Join(cerr, kerr); err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("the key in %s does not go with the certificate in %s: %w", keyFile, certFile, err)
	}
	return cert, nil
}

// found says which PEM blocks a file held instead of the one looked for.
func found(types []string) string {
	if len(types) == 0 {
		return ""
	}
	return " (found " + strings.Join(types, ", ") + ")"
}

// readFile reads a file of at most maxFileSize bytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFileSize)
	}
	return data, nil
}
