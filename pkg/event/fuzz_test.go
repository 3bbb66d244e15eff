package event

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics, that it agrees with the
// encoding/json reference (the same event, or an error about the same
// field), that what it accepts passes Validate, and that json.Marshal of a
// decoded event decodes to the same event.
func FuzzDecode(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Decode(data, testNow)
		ref, refErr := referenceDecode(data, testNow)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Decode(%q): %v is not an *Error", data, err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("Decode(%q): error %q is not one line", data, err)
			}
			if refErr == nil {
				t.Fatalf("Decode(%q): %v; encoding/json accepts it", data, err)
			}
			var re *Error
			if !errors.As(refErr, &re) {
				t.Fatalf("reference(%q): %v", data, refErr)
			}
			if e.Field != re.Field {
				t.Fatalf("Decode(%q): %v; encoding/json: %v", data, err, refErr)
			}
			return
		}
		if refErr != nil {
			t.Fatalf("Decode(%q) accepts; encoding/json: %v", data, refErr)
		}
		if diff := sameEvent(ev, ref); diff != "" {
			t.Fatalf("Decode(%q) differs from encoding/json: %s", data, diff)
		}
		if err := ev.Validate(testNow); err != nil {
			t.Fatalf("Decode(%q) accepts what Validate rejects: %v", data, err)
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("json.Marshal(%+v): %v", ev, err)
		}
		if len(b) > MaxSize { // escaping can make it longer
			return
		}
		again, err := Decode(b, testNow)
		if err != nil {
			t.Fatalf("Decode(json.Marshal(Decode(%q))) = Decode(%q): %v", data, b, err)
		}
		if diff := sameEvent(ev, again); diff != "" {
			t.Fatalf("%q: round trip through %q: %s", data, b, diff)
		}
	})
}

// fuzzSeeds returns the seed corpus of FuzzDecode: a few documents of every
// shape, and the invalid cases of the tests (the short ones).
func fuzzSeeds(t testing.TB) [][]byte {
	seeds := [][]byte{
		doc(t),
		doc(t, "kind", "processing", "recipient", absent, "exemption", "hr", "sensitive", true),
		doc(t, "schema", absent, "kind", nil, "destination", ""),
		[]byte(`{"occurred_at":"2026-01-02T03:04:05Z","entity":"e","recipient":"r","subjects":["s"]}`),
		[]byte(`{"occurred_at":"2026-01-02t03:04:05.123z","entity":"\u0065","recipient":"\/r\"\\\b\f\n\r\t",` +
			`"subjects":["s","\u00e9\ud83d\ude00","a\u0000b"],"k\u0069nd":"processing","x":[{"y":null}]}`),
		[]byte(`{"occurred_at":"2026-11-25T10:00:00-09:30","entity":"e","recipient":"阿克米","subjects":["张三","\ud800"]}`),
		[]byte(`{"schema":1,"schema":2}`),
		[]byte(`{"records":-0,"schema":-0,"occurred_at":"2026-11-25T10:00:00+08:00","entity":"e","recipient":"r","subjects":["s"]}`),
		[]byte(`{"records":5.0,"schema":1.0,"occurred_at":"2026-11-25T10:00:00+08:00","entity":"e","recipient":"r","subjects":["s"]}`),
		[]byte(`{"records":12.50e1,"schema":10E-1,"occurred_at":"2026-11-25T10:00:00+08:00","entity":"e","recipient":"r","subjects":["s"]}`),
	}
	for _, c := range invalidCases(t) {
		if len(c.in) < 4096 {
			seeds = append(seeds, c.in)
		}
	}
	return seeds
}
