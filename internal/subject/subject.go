// Package subject turns data-subject identifiers into keyed 64-bit hashes.
//
// transferwatch never keeps a raw identifier: it is hashed on arrival with
// SipHash-2-4 under a secret 128-bit key, and only the hash goes further. A
// keyed PRF (rather than a plain hash) means that someone who reads the
// sketches cannot test whether a given person's identifier is in them
// without the key.
package subject

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/dchest/siphash"
)

// KeySize is the size of a subject key in bytes.
const KeySize = 16

// Key is a 128-bit SipHash key.
type Key [KeySize]byte

// ErrKey reports a malformed key.
var ErrKey = errors.New("subject key must be 32 hexadecimal characters")

// ParseKey parses a key written as 32 hexadecimal characters (surrounding
// white space ignored). The error never repeats the input.
func ParseKey(s string) (Key, error) {
	var k Key
	s = strings.TrimSpace(s)
	if len(s) != 2*KeySize {
		return k, fmt.Errorf("%w (got %d characters)", ErrKey, len(s))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return k, ErrKey
	}
	return k, nil
}

// Hasher hashes subject identifiers under one key. The zero Hasher uses the
// all-zero key; use New.
type Hasher struct{ k0, k1 uint64 }

// New returns a hasher for key.
func New(key Key) Hasher {
	return Hasher{
		k0: binary.LittleEndian.Uint64(key[:8]),
		k1: binary.LittleEndian.Uint64(key[8:]),
	}
}

// Sum returns the SipHash-2-4 of id.
func (h Hasher) Sum(id string) uint64 {
	// Read the string's bytes in place: SipHash only reads them.
	return siphash.Hash(h.k0, h.k1, unsafe.Slice(unsafe.StringData(id), len(id)))
}

// SumBytes returns the SipHash-2-4 of id, as Sum does of string(id).
func (h Hasher) SumBytes(id []byte) uint64 {
	return siphash.Hash(h.k0, h.k1, id)
}

// AppendSums appends the hashes of ids to dst.
func (h Hasher) AppendSums(dst []uint64, ids []string) []uint64 {
	for _, id := range ids {
		dst = append(dst, h.Sum(id))
	}
	return dst
}
