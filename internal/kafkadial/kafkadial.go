// Package kafkadial turns the kafka section of the configuration into the
// dialer and transport that kafka-go readers and writers use: TLS and SASL
// (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).
package kafkadial

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/transferwatch/transferwatch/internal/config"
	"github.com/transferwatch/transferwatch/internal/tlsfiles"
)

// Settings are the resolved connection settings of one Kafka cluster.
type Settings struct {
	TLS  *tls.Config
	SASL sasl.Mechanism
}

// New resolves the TLS files and SASL mechanism of k.
func New(k config.Kafka) (Settings, error) {
	var s Settings
	if k.TLS.Enabled {
		c, err := tlsfiles.Client(k.TLS.CAFile, k.TLS.CertFile, k.TLS.KeyFile, k.TLS.InsecureSkipVerify)
		if err != nil {
			return s, fmt.Errorf("kafka.tls: %w", err)
		}
		s.TLS = c
	}
	switch k.SASL.Mechanism {
	case "":
	case "plain":
		s.SASL = plain.Mechanism{Username: k.SASL.Username, Password: string(k.SASL.Password)}
	case "scram-sha-256", "scram-sha-512":
		algo := scram.SHA256
		if k.SASL.Mechanism == "scram-sha-512" {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, k.SASL.Username, string(k.SASL.Password))
		if err != nil {
			return s, fmt.Errorf("kafka.sasl: %w", err)
		}
		s.SASL = m
	default:
		return s, fmt.Errorf("kafka.sasl.mechanism: unknown mechanism %q", k.SASL.Mechanism)
	}
	return s, nil
}

// Dialer returns a dialer for consumer-group readers.
func (s Settings) Dialer() *kafka.Dialer {
	return &kafka.Dialer{
		Timeout:       10 * time.Second,
		DualStack:     true,
		TLS:           s.TLS,
		SASLMechanism: s.SASL,
	}
}

// Transport returns a transport for writers.
func (s Settings) Transport() *kafka.Transport {
	return &kafka.Transport{
		DialTimeout: 10 * time.Second,
		TLS:         s.TLS,
		SASL:        s.SASL,
	}
}
