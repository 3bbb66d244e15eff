// Package civil holds Date, the calendar day used by the configuration
// (approval dates) and by the policy reports (deadlines, windows): one type,
// so that a day read from the file is the day the reports print.
package civil

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Date is a calendar day, without time of day or time zone. It is written
// "YYYY-MM-DD" in YAML, JSON and text. The zero Date means "not set" and is
// written as "" (null in YAML). Dates are comparable with ==.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ErrInvalid reports text that is not a YYYY-MM-DD day.
var ErrInvalid = errors.New("invalid date")

// ParseDate parses a day written YYYY-MM-DD. The empty string gives the
// zero Date.
func ParseDate(s string) (Date, error) {
	if s == "" {
		return Date{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("%w %q: want YYYY-MM-DD", ErrInvalid, s)
	}
	return DateOf(t), nil
}

// DateOf returns the calendar day of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{Year: y, Month: m, Day: d}
}

// NewDate returns the day year-month-day, normalised as time.Date does (so
// NewDate(2025, 2, 29) is 2025-03-01).
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
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// In returns midnight at the start of d in loc.
func (d Date) In(loc *time.Location) time.Time { return d.Time(loc) }

// AddDays returns the day n days after d (before it when n < 0).
func (d Date) AddDays(n int) Date {
	return NewDate(d.Year, d.Month, d.Day+n)
}

// DaysSince returns the number of days from e to d: positive when d is later.
func (d Date) DaysSince(e Date) int {
	return int(d.number() - e.number())
}

// number is the day number of d counted from 1970-01-01.
func (d Date) number() int64 {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// Compare returns -1, 0 or +1 as d is before, equal to or after o.
func (d Date) Compare(o Date) int {
	switch {
	case d.Year != o.Year:
		return cmp.Compare(d.Year, o.Year)
	case d.Month != o.Month:
		return cmp.Compare(d.Month, o.Month)
	default:
		return cmp.Compare(d.Day, o.Day)
	}
}

// Before reports whether d is earlier than o.
func (d Date) Before(o Date) bool { return d.number() < o.number() }

// After reports whether d is later than o.
func (d Date) After(o Date) bool { return d.number() > o.number() }

// String returns the day as YYYY-MM-DD, or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// MarshalText returns the day as YYYY-MM-DD (empty for the zero Date); JSON
// writes it as a string.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a day written YYYY-MM-DD; empty text gives the zero
// Date.
func (d *Date) UnmarshalText(text []byte) error {
	v, err := ParseDate(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes the day as YYYY-MM-DD, or null for the zero Date.
func (d Date) MarshalYAML() (any, error) {
	if d.IsZero() {
		return nil, nil
	}
	return d.String(), nil
}

// UnmarshalYAML reads a day written YYYY-MM-DD, quoted or not. Its errors
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
