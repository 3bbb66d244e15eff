package kafkatest

import (
	"crypto/tls"
	"testing"

	"github.com/transferwatch/transferwatch/internal/testutil/testcert"
)

// Certs are a throwaway CA and a server certificate it signed for
// 127.0.0.1 and localhost, made for one test.
type Certs struct {
	// CAPEM is the CA certificate, for a ca_file.
	CAPEM []byte
	// Server is the brokers' configuration: Options.ServerTLS.
	Server *tls.Config
	// Client trusts the CA: Options.ClientTLS. It sets no ServerName, as
	// the service's own configuration does not: the clients take it from
	// the address they dial.
	Client *tls.Config
}

// NewCerts issues a CA and a server certificate valid for a day.
func NewCerts(t testing.TB) Certs {
	t.Helper()
	b := testcert.Issue(t, "kafkatest CA")
	return Certs{CAPEM: b.CAPEM, Server: b.Server, Client: b.Client}
}
