package sketch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// TestAxiomhqVersion fails when the build uses another version of
// github.com/axiomhq/hyperloglog than the one axiomhq.go parses the private
// encoding of: read the new version's encoding (sparse.go, compressed.go,
// hyperloglog.go's AppendBinary, beta.go) against axiomhq.go, then move
// axiomhqVersion.
func TestAxiomhqVersion(t *testing.T) {
	// go.mod: what `go get -u` moves.
	mod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var required string
	for line := range strings.Lines(string(mod)) {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "replace" && slices.Contains(f, axiomhqModule) {
			t.Fatalf("go.mod replaces %s: axiomhq.go parses the encoding of %s", axiomhqModule, axiomhqVersion)
		}
		if len(f) > 0 && f[0] == "require" {
			f = f[1:]
		}
		if len(f) >= 2 && f[0] == axiomhqModule {
			required = f[1]
		}
	}
	if required != axiomhqVersion {
		t.Fatalf("go.mod requires %s %q, axiomhq.go parses the encoding of %s: check it and update axiomhqVersion", axiomhqModule, required, axiomhqVersion)
	}
	// And the build, where the binary records its dependencies.
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == axiomhqModule && (m.Version != axiomhqVersion || m.Replace != nil) {
				t.Fatalf("the build uses %s %s (replaced: %v), axiomhq.go parses %s", axiomhqModule, m.Version, m.Replace != nil, axiomhqVersion)
			}
		}
	}
}

// Two hashes whose sparse keys and dense registers are worked out by hand
// from the encoding axiomhq.go describes.
const (
	// The top 25 bits are ones: sparse key idx<<1 with idx = 2^25-1;
	// dense register 2^14-1, rho 1.
	hashHigh = 0xFFFF_FF80_0000_0000
	// Only bit 0: idx 0, the 11 bits below are zero, so the key carries
	// rho: 39 leading zeros of (1<<25 | 2^25-1) + 1, key 0<<7 | 39<<1 | 1;
	// dense register 0, rho 50 (w = 1<<14 | 1<<13: 49 leading zeros).
	hashOne = 1
)

// TestAxiomhqSparseEncoding pins the version-2 sparse encoding that
// appendSparseKeys parses and sparseEncoding writes.
func TestAxiomhqSparseEncoding(t *testing.T) {
	keys := []uint32{39<<1 | 1, (1<<25 - 1) << 1}
	want := []byte{2, Precision, 0, 1, // version, p, b, sparse
		0, 0, 0, 0, // an empty tmp set
		0, 0, 0, 2, // two keys in the list
		0x03, 0xff, 0xff, 0xfe, // the last one
		0, 0, 0, 5, // 5 bytes of uvarint deltas
		0x4f}
	want = binary.AppendUvarint(want, uint64(keys[1]-keys[0]))

	sk := newSketch(Precision, false)
	sk.InsertHash(hashHigh)
	sk.InsertHash(hashOne)
	got, err := encodeSketch(sk)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("axiomhq encodes {hashHigh, hashOne} as\n%x, want\n%x", got, want)
	}
	if parsed, ok := appendSparseKeys(nil, got, Precision); !ok || !slices.Equal(parsed, keys) {
		t.Fatalf("appendSparseKeys = %x, %v; want %x", parsed, ok, keys)
	}
	if built, ok := sparseEncoding(keys, Precision); !ok || !bytes.Equal(built, want) {
		t.Fatalf("sparseEncoding = %x, %v; want %x", built, ok, want)
	}
	back, err := decodeSketch(want, Precision)
	if err != nil {
		t.Fatalf("decodeSketch of the hand-built encoding: %v", err)
	}
	if got, want := back.Estimate(), unionEstimate([]*hll{sk}); got != 2 || want != 2 {
		t.Fatalf("estimates %d (axiomhq) and %d (unionEstimate), want 2", got, want)
	}

	// Uncompacted, the keys sit in the tmp set (4-byte big-endian, any
	// order) ahead of an empty list: appendSparseKeys reads that too.
	raw := newSketch(Precision, false)
	raw.InsertHash(hashHigh)
	raw.InsertHash(hashOne)
	enc, err := raw.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) != 8+4*2+12 || binary.BigEndian.Uint32(enc[4:8]) != 2 {
		t.Fatalf("uncompacted encoding %x: want a tmp set of 2 keys and an empty list", enc)
	}
	if parsed, ok := appendSparseKeys(nil, enc, Precision); !ok || !slices.Equal(parsed, keys) {
		t.Fatalf("appendSparseKeys(uncompacted) = %x, %v; want %x", parsed, ok, keys)
	}
}

// TestAxiomhqDenseEncoding pins the dense encoding that estimate reads
// and isDense recognises, and denseEstimate's agreement with axiomhq.
func TestAxiomhqDenseEncoding(t *testing.T) {
	sk := newSketch(Precision, true)
	sk.InsertHash(hashHigh)
	sk.InsertHash(hashOne)
	want := make([]byte, 8+1<<Precision)
	copy(want, []byte{2, Precision, 0, 0, 0, 0, 0x40, 0}) // dense, 16,384 registers
	want[8+0] = 50
	want[8+1<<Precision-1] = 1
	got, err := encodeSketch(sk)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("axiomhq's dense encoding of {hashHigh, hashOne} differs from the hand-built one (first 16 bytes %x)", got[:min(16, len(got))])
	}
	if dense, _ := isDense(sk, nil); !dense {
		t.Fatal("isDense(dense sketch) = false")
	}
	if got, want := estimate(sk), sk.Estimate(); got != want {
		t.Fatalf("estimate = %d, axiomhq's Estimate = %d", got, want)
	}
	sparse := newSketch(Precision, false)
	sparse.InsertHash(hashOne)
	if dense, _ := isDense(sparse, nil); dense {
		t.Fatal("isDense(sparse sketch) = true")
	}
}

// TestDecodeSketchPrecision: a sketch of another precision is corrupt
// data, not a sketch that silently merges with none of ours.
func TestDecodeSketchPrecision(t *testing.T) {
	b, err := encodeSketch(newSketch(FlowPrecision, false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeSketch(b, Precision); !errors.Is(err, ErrCorrupt) || !errors.Is(err, errPrecision) {
		t.Fatalf("decodeSketch(precision %d as %d) = %v, want ErrCorrupt and errPrecision", FlowPrecision, Precision, err)
	}
	if _, err := decodeSketch(b, FlowPrecision); err != nil {
		t.Fatalf("decodeSketch(precision %d) = %v", FlowPrecision, err)
	}
}
