package event

import (
	"testing"
	"time"
)

func TestParseRFC3339(t *testing.T) {
	plus8 := time.FixedZone("", 8*3600)
	tests := []struct {
		in   string
		want time.Time // zero: invalid
	}{
		{"2026-11-25T10:00:00+08:00", time.Date(2026, 11, 25, 10, 0, 0, 0, plus8)},
		{"2026-11-25T10:00:00Z", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)},
		{"2026-11-25t10:00:00z", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)},
		{"2026-11-25T10:00:00+00:00", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)},
		{"2026-11-25T10:00:00-00:00", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)},
		{"2026-11-25T10:00:00-09:30", time.Date(2026, 11, 25, 10, 0, 0, 0, time.FixedZone("", -(9*3600+1800)))},
		{"2026-11-25T10:00:00+23:59", time.Date(2026, 11, 25, 10, 0, 0, 0, time.FixedZone("", 23*3600+59*60))},
		{"2026-11-25T10:00:00.5Z", time.Date(2026, 11, 25, 10, 0, 0, 5e8, time.UTC)},
		{"2026-11-25T10:00:00.123456789Z", time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)},
		{"2026-11-25T10:00:00.1234567891234Z", time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)},
		{"2024-02-29T00:00:00Z", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"2000-02-29T00:00:00Z", time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"0000-01-01T00:00:00Z", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"9999-12-31T23:59:59.999999999Z", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{"2026-11-25T23:59:59-23:59", time.Date(2026, 11, 25, 23, 59, 59, 0, time.FixedZone("", -(23*3600+59*60)))},

		{"", time.Time{}},
		{"2026-11-25", time.Time{}},
		{"2026-11-25T10:00:00", time.Time{}},
		{"2026-11-25 10:00:00Z", time.Time{}},
		{"2026-11-25T1:00:00Z", time.Time{}},
		{"2026-11-25T10:00:00,5Z", time.Time{}},
		{"2026-11-25T10:00:00.Z", time.Time{}},
		{"2026-11-25T10:00:00+24:00", time.Time{}},
		{"2026-11-25T10:00:00+08:60", time.Time{}},
		{"2026-11-25T10:00:00+0800", time.Time{}},
		{"2026-11-25T10:00:00+08", time.Time{}},
		{"2026-11-25T10:00:60Z", time.Time{}},
		{"2026-11-25T10:60:00Z", time.Time{}},
		{"2026-11-25T24:00:00Z", time.Time{}},
		{"2026-13-25T10:00:00Z", time.Time{}},
		{"2026-00-25T10:00:00Z", time.Time{}},
		{"2026-11-00T10:00:00Z", time.Time{}},
		{"2026-11-31T10:00:00Z", time.Time{}},
		{"2026-02-29T10:00:00Z", time.Time{}},
		{"1900-02-29T10:00:00Z", time.Time{}},
		{"+2026-11-25T10:00:00Z", time.Time{}},
		{"20261-11-25T10:00:00Z", time.Time{}},
		{"2026-11-25T10:00:00ZZ", time.Time{}},
		{"2026-11-25T10:00:00 Z", time.Time{}},
		{"2026-1a-25T10:00:00Z", time.Time{}},
		{"2026-11-25T10:00:00+08:0a", time.Time{}},
		{"２026-11-25T10:00:00Z", time.Time{}},
	}
	for _, tt := range tests {
		got, ok := parseRFC3339([]byte(tt.in))
		if ok != !tt.want.IsZero() || !got.Equal(tt.want) {
			t.Errorf("parseRFC3339(%q) = %v, %v; want %v", tt.in, got, ok, tt.want)
			continue
		}
		_, off := got.Zone()
		if _, woff := tt.want.Zone(); off != woff {
			t.Errorf("parseRFC3339(%q): offset %d, want %d", tt.in, off, woff)
		}
		if ref, rok := referenceRFC3339(tt.in); rok != ok || !ref.Equal(got) {
			t.Errorf("reference(%q) = %v, %v", tt.in, ref, rok)
		}
	}
}

// FuzzParseRFC3339 checks parseRFC3339 against the reference: a regular
// expression for the form and time.Parse for the ranges.
func FuzzParseRFC3339(f *testing.F) {
	for _, s := range []string{
		"2026-11-25T10:00:00+08:00", "2026-11-25t10:00:00.000000001z", "2024-02-29T23:59:59-23:59",
		"2026-11-25T10:00:00,5Z", "2026-11-25T1:00:00Z", "2026-11-25T10:00:00+24:00", "0000-01-01T00:00:00Z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseRFC3339([]byte(s))
		want, wok := referenceRFC3339(s)
		if ok != wok || !got.Equal(want) {
			t.Fatalf("parseRFC3339(%q) = %v, %v; reference %v, %v", s, got, ok, want, wok)
		}
		if !ok {
			return
		}
		_, off := got.Zone()
		if _, woff := want.Zone(); off != woff {
			t.Fatalf("parseRFC3339(%q): offset %d, reference %d", s, off, woff)
		}
	})
}
