package config

import (
	"encoding/json"
	"fmt"
)

// redacted stands for a secret that is set wherever a configuration is
// printed or encoded.
const redacted = "<redacted>"

// Secret is a configuration value that must never be shown: a password or
// a token. It is read from YAML like a string, but prints (%v, %+v, %s,
// %#v) and encodes (YAML, JSON) as "<redacted>" when set and as "" when
// not, so a configuration printed, logged or marshalled whole cannot leak
// it, whatever field is added later (as prometheus/common config.Secret).
// Convert it with string() only where the secret is used.
type Secret string

// String returns "<redacted>", or "" when the secret is not set.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString is String, for %#v.
func (s Secret) GoString() string { return s.String() }

// MarshalYAML encodes the secret as String does.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON encodes the secret as String does.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// SecretKey is a 16-byte key that must never be shown (the subject hashing
// key). It prints with every verb, %x included, as "<redacted>" when set
// (non-zero) and as "" when not; it is never read from or written to the
// file (yaml:"-").
type SecretKey [16]byte

// String returns "<redacted>", or "" for the zero key.
func (k SecretKey) String() string {
	if k == (SecretKey{}) {
		return ""
	}
	return redacted
}

// Format prints the key as String does, whatever the verb.
func (k SecretKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// MarshalJSON encodes the key as String does.
func (k SecretKey) MarshalJSON() ([]byte, error) { return json.Marshal(k.String()) }
