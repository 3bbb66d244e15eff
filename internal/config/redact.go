package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// redacted replaces a secret that is set when a configuration is printed.
const redacted = "<redacted>"

// Redacted returns a deep copy of c fit for printing: the passwords and the
// API token are replaced by "<redacted>" when set, and the subject key is
// zeroed (HasSubjectKey still says whether one was given). The copy is for
// display only; never run on it.
func (c *Config) Redacted() *Config {
	r := *c
	r.Kafka.Brokers = slices.Clone(c.Kafka.Brokers)
	r.Kafka.SASL.Password = redact(c.Kafka.SASL.Password)
	r.Redis.Addrs = slices.Clone(c.Redis.Addrs)
	r.Redis.Password = redact(c.Redis.Password)
	r.SubjectKey = [16]byte{}
	r.APIToken = redact(c.APIToken)
	r.Entities = slices.Clone(c.Entities)
	for i := range r.Entities {
		r.Entities[i].Approvals = slices.Clone(r.Entities[i].Approvals)
	}
	return &r
}

// String returns the effective configuration as YAML, with every secret
// redacted, followed by comments on what Resolve loaded. It is what
// "transferwatch check-config" prints.
func (c Config) String() string {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c.Redacted()); err != nil {
		return fmt.Sprintf("# configuration cannot be printed: %v\n", err)
	}
	_ = enc.Close()
	loc := "not resolved"
	if c.Location != nil {
		loc = c.Location.String()
	}
	fmt.Fprintf(&b, "# location: %s\n", loc)
	fmt.Fprintf(&b, "# subject key: %s\n", setOrNot(c.HasSubjectKey))
	fmt.Fprintf(&b, "# api token: %s\n", setOrNot(c.APIToken != ""))
	return b.String()
}

// GoString is String, so that %#v does not show secrets either.
func (c Config) GoString() string { return c.String() }

// MarshalJSON encodes the redacted configuration, so that a Config handed
// to a JSON logger does not show secrets either.
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config // no methods: no recursion
	return json.Marshal((*plain)(c.Redacted()))
}

// String shows the SASL settings with the password redacted.
func (s SASL) String() string {
	return fmt.Sprintf("{Mechanism:%s Username:%s Password:%s}", s.Mechanism, s.Username, redact(s.Password))
}

// GoString is String, so that %#v does not show the password either.
func (s SASL) GoString() string { return s.String() }

// String shows the Redis settings with the password redacted.
func (r Redis) String() string {
	return fmt.Sprintf("{Addrs:%v Username:%s Password:%s DB:%d TLS:%+v KeyPrefix:%s}",
		r.Addrs, r.Username, redact(r.Password), r.DB, r.TLS, r.KeyPrefix)
}

// GoString is String, so that %#v does not show the password either.
func (r Redis) GoString() string { return r.String() }

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return redacted
}

func setOrNot(set bool) string {
	if set {
		return "set"
	}
	return "not set"
}

// Fingerprint returns the sha256, in hex, of the effective configuration
// with every secret redacted (the YAML String prints, without its
// comments): two instances with the same fingerprint hold the same
// figures against the same rules. A secret changes no fingerprint, so the
// fingerprint discloses nothing of it.
func (c *Config) Fingerprint() string {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c.Redacted()); err != nil {
		b.WriteString("unprintable: " + err.Error())
	}
	_ = enc.Close()
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}
