package i18n

import "strconv"

// Uint writes n with a comma between groups of three digits: 1,234,567.
// English and Simplified Chinese write figures alike, so reasons, the
// evidence pack, the console and the demo's view all use it.
func Uint(n uint64) string { return group(strconv.FormatUint(n, 10)) }

// Int is Uint for a signed n: -1,234.
func Int(n int64) string {
	if n < 0 {
		return "-" + group(strconv.FormatUint(uint64(-n), 10))
	}
	return group(strconv.FormatInt(n, 10))
}

// group puts a comma between groups of three of the decimal digits s.
func group(s string) string {
	if len(s) <= 3 {
		return s
	}
	b := make([]byte, 0, len(s)+(len(s)-1)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}
