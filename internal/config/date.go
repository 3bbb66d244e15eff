package config

import (
	"cmp"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Date is a calendar date without a time of day or a time zone, written
// "2025-03-01" in the configuration file. The zero Date means "not set".
// Dates are comparable with ==.
type Date struct {
	year  int
	month time.Month
	day   int
}

// ParseDate parses a date written YYYY-MM-DD. The empty string gives the
// zero Date.
func ParseDate(s string) (Date, error) {
	if s == "" {
		return Date{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("%w: date %q: want YYYY-MM-DD", ErrInvalid, s)
	}
	return DateOf(t), nil
}

// DateOf returns the calendar date of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{year: y, month: m, day: d}
}

// NewDate returns the date year-month-day, normalised as time.Date does
// (so NewDate(2025, 2, 29) is 2025-03-01).
func NewDate(year int, month time.Month, day int) Date {
	return DateOf(time.Date(year, month, day, 0, 0, 0, 0, time.UTC))
}

// IsZero reports whether d is the zero Date (not set).
func (d Date) IsZero() bool { return d == Date{} }

// Time returns midnight at the start of d in loc (UTC when loc is nil).
func (d Date) Time(loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	return time.Date(d.year, d.month, d.day, 0, 0, 0, 0, loc)
}

// Compare returns -1, 0 or +1 as d is before, equal to or after o.
func (d Date) Compare(o Date) int {
	switch {
	case d.year != o.year:
		return cmp.Compare(d.year, o.year)
	case d.month != o.month:
		return cmp.Compare(d.month, o.month)
	default:
		return cmp.Compare(d.day, o.day)
	}
}

// Before reports whether d is before o.
func (d Date) Before(o Date) bool { return d.Compare(o) < 0 }

// After reports whether d is after o.
func (d Date) After(o Date) bool { return d.Compare(o) > 0 }

// String returns the date as YYYY-MM-DD, or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.year, int(d.month), d.day)
}

// MarshalText returns the date as YYYY-MM-DD (empty for the zero Date).
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a date written YYYY-MM-DD; empty text gives the zero Date.
func (d *Date) UnmarshalText(text []byte) error {
	v, err := ParseDate(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes the date as YYYY-MM-DD, or null for the zero Date.
func (d Date) MarshalYAML() (any, error) {
	if d.IsZero() {
		return nil, nil
	}
	return d.String(), nil
}

// UnmarshalYAML reads a date written YYYY-MM-DD, quoted or not. Its errors
// are *yaml.TypeError carrying the line number, so that decoding goes on
// and every problem of the file is reported.
func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{
			fmt.Sprintf("line %d: want a date YYYY-MM-DD", n.Line),
		}}
	}
	v, err := ParseDate(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{
			fmt.Sprintf("line %d: invalid date %q, want YYYY-MM-DD", n.Line, n.Value),
		}}
	}
	*d = v
	return nil
}
