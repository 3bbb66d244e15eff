package event

import (
	"fmt"
	"slices"
	"testing"

	"github.com/transferwatch/transferwatch/internal/subject"
)

// sumsHasher returns the hasher of the DecodeSums tests.
func sumsHasher() subject.Hasher { return subject.New(subject.Key{7, 1, 9}) }

// sameAsDecode reports how DecodeSums of data, with dc, differs from
// Decode: the same error text, or the same event without its subjects and
// the hashes of Decode's subjects, appended after a prefix left untouched
// (and no event_id).
// It returns "" when they agree.
func sameAsDecode(dc *Decoder, data []byte) string {
	prefix := []uint64{1, 2, 3}
	ev, err := Decode(data, testNow)
	got, sums, gotErr := dc.DecodeSums(data, testNow, slices.Clone(prefix), sumsHasher().SumBytes)
	switch {
	case (err == nil) != (gotErr == nil):
		return fmt.Sprintf("Decode: %v; DecodeSums: %v", err, gotErr)
	case err != nil && err.Error() != gotErr.Error():
		return fmt.Sprintf("Decode: %q; DecodeSums: %q", err, gotErr)
	case !slices.Equal(sums[:min(len(sums), len(prefix))], prefix):
		return fmt.Sprintf("DecodeSums changed the prefix of dst: %v", sums)
	case err != nil:
		if len(sums) != len(prefix) {
			return fmt.Sprintf("DecodeSums failed (%v) but returned %d sums", gotErr, len(sums)-len(prefix))
		}
		return ""
	}
	if got.Subjects != nil {
		return fmt.Sprintf("DecodeSums returned %d subjects", len(got.Subjects))
	}
	want := sumsHasher().AppendSums(slices.Clone(prefix), ev.Subjects)
	if !slices.Equal(sums, want) {
		return fmt.Sprintf("sums %v, want %v", sums, want)
	}
	if got.EventID != "" {
		return fmt.Sprintf("DecodeSums returned event_id %q", got.EventID)
	}
	ev.Subjects, ev.EventID = nil, ""
	return sameEvent(got, ev)
}

// TestDecodeSumsAgrees checks DecodeSums against Decode on the seed corpus
// (every shape of event, and the invalid cases of the tests, large ones
// included), with one Decoder reused throughout, as the ingester does.
func TestDecodeSumsAgrees(t *testing.T) {
	var dc Decoder
	cases := fuzzSeeds(t)
	for _, c := range invalidCases(t) {
		cases = append(cases, c.in)
	}
	cases = append(cases,
		doc(t, "subjects", []string{`a"b`, `\`, "é", "\u2028", "x"}),
		doc(t, "subjects", []string{"ok", ""}),
		[]byte(`{"occurred_at":"2026-11-25T10:00:00Z","entity":"e","recipient":"r","subjects":[ "a" , "\u0062" ,"c"] }`),
	)
	for i, data := range cases {
		if diff := sameAsDecode(&dc, data); diff != "" {
			t.Errorf("case %d (%.80q): %s", i, data, diff)
		}
	}
}

// TestDecodeSumsAllocations checks that DecodeSums allocates nothing per
// subject: the same, whatever the number of subjects, escaped or not.
func TestDecodeSumsAllocations(t *testing.T) {
	var dc Decoder
	var dst []uint64
	allocs := func(ids []string) float64 {
		data := doc(t, "subjects", ids)
		return testing.AllocsPerRun(100, func() {
			var err error
			_, dst, err = dc.DecodeSums(data, testNow, dst[:0], sumsHasher().SumBytes)
			if err != nil || len(dst) != len(ids) {
				t.Fatalf("DecodeSums: %v, %d sums", err, len(dst))
			}
		})
	}
	one := allocs([]string{"customer-1"})
	for _, n := range []int{100, 1000} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("customer-%d\t\"é\"", i) // escaped in JSON
		}
		if got := allocs(ids); got != one {
			t.Errorf("%d escaped subjects: %v allocations per event, 1 subject: %v", n, got, one)
		}
	}
	if one != 0 {
		t.Errorf("%v allocations per event, want none (its strings are those of the event before)", one)
	}
}

// FuzzDecodeSums checks that DecodeSums and Decode agree on any input: the
// same error text, or the same event and the hashes of the same subjects.
// The Decoder is reused, with an escaped event decoded in between, so that
// what one call leaves in its buffer cannot leak into the next.
func FuzzDecodeSums(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	escaped := []byte(`{"occurred_at":"2026-11-25T10:00:00Z","entity":"\u0065","recipient":"r","subjects":["\u00e9\ud83d\ude00zzzzzzzzzzzzzzzz"]}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		var dc Decoder
		if diff := sameAsDecode(&dc, data); diff != "" {
			t.Fatalf("%q: %s", data, diff)
		}
		if diff := sameAsDecode(&dc, escaped); diff != "" {
			t.Fatalf("after %q: %q: %s", data, escaped, diff)
		}
		if diff := sameAsDecode(&dc, data); diff != "" {
			t.Fatalf("%q, reusing the decoder: %s", data, diff)
		}
	})
}

// TestDecodeSumsManyEntities checks the strings DecodeSums shares between
// events when there are more of them than it remembers.
func TestDecodeSumsManyEntities(t *testing.T) {
	var dc Decoder
	for i := range maxInterned + 100 {
		for _, entity := range []string{fmt.Sprintf("ent-%d", i), "ent-0"} {
			ev, _, err := dc.DecodeSums(doc(t, "entity", entity), testNow, nil, sumsHasher().SumBytes)
			if err != nil || ev.Entity != entity {
				t.Fatalf("event %d: entity %q, %v; want %q", i, ev.Entity, err, entity)
			}
		}
	}
	if len(dc.strs) > maxInterned {
		t.Errorf("%d strings remembered, want at most %d", len(dc.strs), maxInterned)
	}
}
