package redisstore

import (
	"strconv"
	"testing"
)

// FuzzDeltaField: a field name is a delta's only in the one spelling
// d<seq>.<part> with seq a positive decimal without leading zeros, so that
// no field of a base (s0, c0, imp, flows) or of the hash (v, n, k, id) is
// taken for one, and no two spellings name the same delta part.
func FuzzDeltaField(f *testing.F) {
	for _, s := range []string{"d1.s0", "d12.c7", "d0.s0", "d01.s0", "d1.", "d.s0", "d-1.s0", "s0", "imp", "v", "id", "d1.d2.s0", "d9223372036854775808.s0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		seq, part, ok := deltaField(name)
		if !ok {
			return
		}
		if seq <= 0 || part == "" {
			t.Fatalf("deltaField(%q) = %d, %q", name, seq, part)
		}
		if back := deltaPrefix + strconv.FormatInt(seq, 10) + "." + part; back != name {
			t.Fatalf("deltaField(%q) = %d, %q, which spell %q", name, seq, part, back)
		}
	})
}

// TestParseStoredRejects: parts of the hash that cannot be what this
// package wrote are corrupt, not ignored.
func TestParseStoredRejects(t *testing.T) {
	for _, m := range []map[string]string{
		{"v": "seven"},
		{"k": "-1"},
		{"n": "x"},
		{"d1.zz": "x"},
		{"d0.s0": "x"}, // not a delta's name: a base field no Year has
		{"s0": "garbage"},
	} {
		st, err := parseStored(m)
		if err == nil {
			_, err = st.year()
		}
		if err == nil {
			t.Errorf("the hash %q was read without error", m)
		}
	}
}
