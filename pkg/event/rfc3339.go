package event

import "time"

// parseRFC3339 parses an RFC 3339 date-time (section 5.6):
//
//	YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
//
// with every field in range (offsets up to 23:59, no leap second, which
// Go cannot represent) and "T" and "Z" in either case. Fractions finer than
// a nanosecond are truncated. The time keeps the offset written, as an
// unnamed fixed zone (UTC for Z and ±00:00), whatever the local time zone.
//
// The standard library is no help here: time.Parse(time.RFC3339, ...) and
// Time.UnmarshalText accept one-digit hours, a comma before the fraction and
// offsets of 24 hours or more.
func parseRFC3339(b []byte) (time.Time, bool) {
	const minLen = len("2006-01-02T15:04:05Z")
	if len(b) < minLen ||
		b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	ok := true
	num := func(s []byte, max int) int {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				ok = false
				return 0
			}
			n = n*10 + int(c-'0')
		}
		if n > max {
			ok = false
		}
		return n
	}
	year := num(b[0:4], 9999)
	month := num(b[5:7], 12)
	day := num(b[8:10], 31)
	hour := num(b[11:13], 23)
	minute := num(b[14:16], 59)
	sec := num(b[17:19], 59)
	if !ok || month < 1 || day < 1 || day > daysIn(time.Month(month), year) {
		return time.Time{}, false
	}
	b = b[19:]

	nsec := 0
	if b[0] == '.' {
		n := 1
		for n < len(b) && '0' <= b[n] && b[n] <= '9' {
			if n <= 9 {
				nsec = nsec*10 + int(b[n]-'0')
			}
			n++
		}
		if n == 1 {
			return time.Time{}, false
		}
		for i := n; i <= 9; i++ {
			nsec *= 10
		}
		b = b[n:]
	}

	loc := time.UTC
	switch {
	case len(b) == 1 && (b[0] == 'Z' || b[0] == 'z'):
	case len(b) == len("+07:00") && (b[0] == '+' || b[0] == '-') && b[3] == ':':
		offset := (num(b[1:3], 23)*60 + num(b[4:6], 59)) * 60
		if !ok {
			return time.Time{}, false
		}
		if b[0] == '-' {
			offset = -offset
		}
		if offset != 0 {
			loc = time.FixedZone("", offset)
		}
	default:
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc), true
}

// daysIn returns the number of days of month m of year y.
func daysIn(m time.Month, y int) int {
	switch m {
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}
