package event

import (
	"encoding/binary"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a general JSON scanner: it checks the syntax of RFC 8259
// (UTF-8 only, nesting at most maxDepth deep) in one pass, without
// reflection and without copying, and knows nothing of the event schema.
// decode.go maps the members of the event object onto the schema.

// scanner reads one JSON document held in data, from pos on. Its errors are
// *Error about the event as a whole, giving the offset and never quoting the
// content of a string.
type scanner struct {
	data []byte
	pos  int

	scratch []byte // decoded strings that held escapes
}

// maxDepth is the deepest nesting of arrays and objects accepted, the
// outer object included; the same as encoding/json.
const maxDepth = 10000

// span locates the raw content of a JSON string in the input.
type span struct {
	start, end int
	escaped    bool // holds escapes: decode before use
}

// syntax returns a syntax error at the current position. Its message never
// quotes the content of a string.
func (sc *scanner) syntax(what string) *Error {
	return &Error{fieldEvent, "not JSON: " + what + " at offset " + strconv.Itoa(sc.pos)}
}

// unexpected returns the syntax error for the byte at the current position.
func (sc *scanner) unexpected() *Error {
	if sc.pos >= len(sc.data) {
		return sc.syntax("unexpected end of input")
	}
	c := sc.data[sc.pos]
	if c < utf8.RuneSelf && strconv.IsPrint(rune(c)) {
		return sc.syntax("invalid character " + strconv.QuoteRune(rune(c)))
	}
	return sc.syntax("invalid byte 0x" + strconv.FormatUint(uint64(c), 16))
}

// skipSpace moves past JSON white space.
func (sc *scanner) skipSpace() {
	for sc.pos < len(sc.data) {
		switch sc.data[sc.pos] {
		case ' ', '\t', '\n', '\r':
			sc.pos++
		default:
			return
		}
	}
}

// peek returns the byte at the current position, or 0 at the end.
func (sc *scanner) peek() byte {
	if sc.pos < len(sc.data) {
		return sc.data[sc.pos]
	}
	return 0
}

// end checks that nothing but white space follows the top-level value.
func (sc *scanner) end() error {
	sc.skipSpace()
	if sc.pos != len(sc.data) {
		return sc.syntax("data after the top-level value")
	}
	return nil
}

// parseIntegral parses the JSON number b, which has a fraction or an
// exponent (see scanNumber). It reports whether the value of b is an
// integer and, if so, whether that integer fits in an int64, and returns it
// when it does. The arithmetic is exact, on the digits: 5.0, 50e-1 and
// 0.5e1 are 5; 5.5 and 1e-400 are not integers; 1e400 is an integer that
// does not fit.
func parseIntegral(b []byte) (v int64, integral, fits bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	// b is int [. frac] [e|E [sign] exp]: the value is the digits of int
	// and frac read as one integer, times 10^(exp - len(frac)).
	n := 0
	for n < len(b) && '0' <= b[n] && b[n] <= '9' {
		n++
	}
	intPart, frac := b[:n], b[:0]
	rest := b[n:]
	if len(rest) > 0 && rest[0] == '.' {
		m := 1
		for m < len(rest) && '0' <= rest[m] && rest[m] <= '9' {
			m++
		}
		frac, rest = rest[1:m], rest[m:]
	}
	var exp int64
	if len(rest) > 0 { // e or E
		rest = rest[1:]
		expNeg := rest[0] == '-'
		if rest[0] == '-' || rest[0] == '+' {
			rest = rest[1:]
		}
		for _, c := range rest {
			// Past 1<<30 the answer no longer depends on the exponent: the
			// input holds fewer digits than that.
			if exp < 1<<30 {
				exp = exp*10 + int64(c-'0')
			}
		}
		if expNeg {
			exp = -exp
		}
	}
	digit := func(i int) byte {
		if i < len(intPart) {
			return intPart[i]
		}
		return frac[i-len(intPart)]
	}
	total := len(intPart) + len(frac)
	first, last := 0, total-1
	for first < total && digit(first) == '0' {
		first++
	}
	if first == total {
		return 0, true, true // zero, whatever the exponent
	}
	for digit(last) == '0' {
		last--
	}
	// The value is digits[first..last] times 10^scale.
	scale := exp - int64(len(frac)) + int64(total-1-last)
	if scale < 0 {
		return 0, false, false
	}
	if int64(last-first+1)+scale > 19 { // 10^19 > MaxInt64
		return 0, true, false
	}
	var u uint64 // at most 19 digits: no overflow
	for i := first; i <= last; i++ {
		u = u*10 + uint64(digit(i)-'0')
	}
	for range scale {
		u *= 10
	}
	const cutoff = 1 << 63 // magnitude of MinInt64
	switch {
	case neg && u <= cutoff:
		return -int64(u), true, true // -(1<<63) wraps to itself, as wanted
	case !neg && u < cutoff:
		return int64(u), true, true
	}
	return 0, true, false
}

// numberText returns the JSON number lit for an error message, shortened
// when long.
func numberText(lit []byte) string {
	if len(lit) <= maxQuoted {
		return string(lit)
	}
	return string(lit[:maxQuoted]) + "... (" + strconv.Itoa(len(lit)) + " bytes)"
}

// parseInt parses the JSON integer b. It reports false when b does not fit
// in an int64.
func parseInt(b []byte) (int64, bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	const cutoff = 1 << 63 // magnitude of MinInt64
	var u uint64
	for _, c := range b {
		if u > cutoff/10 { // u*10 + 9 still fits in a uint64 below
			return 0, false
		}
		u = u*10 + uint64(c-'0')
		if u > cutoff {
			return 0, false
		}
	}
	if neg {
		return -int64(u), true // -(1<<63) wraps to itself, as wanted
	}
	if u > cutoff-1 {
		return 0, false
	}
	return int64(u), true
}

// skipValue checks and skips one JSON value. depth is the nesting depth of
// the array or object holding it (0 at the top).
func (sc *scanner) skipValue(depth int) error {
	switch c := sc.peek(); {
	case c == '"':
		_, err := sc.scanString(nil)
		return err
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return sc.syntax("nested deeper than 10000")
		}
		inner := depth + 1
		if c == '{' {
			return sc.object(func(span) error { return sc.skipValue(inner) })
		}
		return sc.array(func(int) error { return sc.skipValue(inner) })
	case c == 't':
		return sc.literal("true")
	case c == 'f':
		return sc.literal("false")
	case c == 'n':
		return sc.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		_, err := sc.scanNumber()
		return err
	}
	return sc.unexpected()
}

// object reads the object whose opening brace is at the current position.
// For each member it reads the name, the colon and the white space after
// it, then calls member with the span of the name; member must read the
// value. It stops at the first error.
func (sc *scanner) object(member func(name span) error) error {
	sc.pos++
	sc.skipSpace()
	if sc.peek() == '}' {
		sc.pos++
		return nil
	}
	for {
		if sc.peek() != '"' {
			return sc.unexpected()
		}
		name, err := sc.scanString(nil)
		if err != nil {
			return err
		}
		sc.skipSpace()
		if sc.peek() != ':' {
			return sc.unexpected()
		}
		sc.pos++
		sc.skipSpace()
		if err := member(name); err != nil {
			return err
		}
		sc.skipSpace()
		switch sc.peek() {
		case ',':
			sc.pos++
			sc.skipSpace()
		case '}':
			sc.pos++
			return nil
		default:
			return sc.unexpected()
		}
	}
}

// array reads the array whose opening bracket is at the current position,
// calling elem at the start of each element with its index; elem must read
// the element. It stops at the first error.
func (sc *scanner) array(elem func(i int) error) error {
	sc.pos++
	sc.skipSpace()
	if sc.peek() == ']' {
		sc.pos++
		return nil
	}
	for i := 0; ; i++ {
		if err := elem(i); err != nil {
			return err
		}
		sc.skipSpace()
		switch sc.peek() {
		case ',':
			sc.pos++
			sc.skipSpace()
		case ']':
			sc.pos++
			return nil
		default:
			return sc.unexpected()
		}
	}
}

// literal consumes lit (true, false or null).
func (sc *scanner) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		if sc.peek() != lit[i] {
			return sc.unexpected()
		}
		sc.pos++
	}
	return nil
}

// scanNumber checks and skips a JSON number. It reports whether the number
// is an integer: no fraction, no exponent.
func (sc *scanner) scanNumber() (isInt bool, err error) {
	if sc.peek() == '-' {
		sc.pos++
	}
	switch c := sc.peek(); {
	case c == '0':
		sc.pos++
	case '1' <= c && c <= '9':
		sc.pos++
		sc.digits()
	default:
		return false, sc.unexpected()
	}
	isInt = true
	if sc.peek() == '.' {
		isInt = false
		sc.pos++
		if sc.digits() == 0 {
			return false, sc.unexpected()
		}
	}
	if c := sc.peek(); c == 'e' || c == 'E' {
		isInt = false
		sc.pos++
		if c := sc.peek(); c == '+' || c == '-' {
			sc.pos++
		}
		if sc.digits() == 0 {
			return false, sc.unexpected()
		}
	}
	return isInt, nil
}

// digits skips decimal digits and returns how many.
func (sc *scanner) digits() int {
	start := sc.pos
	for sc.pos < len(sc.data) && '0' <= sc.data[sc.pos] && sc.data[sc.pos] <= '9' {
		sc.pos++
	}
	return sc.pos - start
}

// scanString checks and skips the JSON string whose opening quote is at the
// current position, and returns the span of its content. If lone is not
// nil, it is set when an escape is a lone UTF-16 surrogate.
func (sc *scanner) scanString(lone *bool) (span, error) {
	data := sc.data
	p := sc.pos + 1
	s := span{start: p}
	for {
		p = plainRun(data, p)
		if p >= len(data) {
			sc.pos = p
			return s, sc.syntax("unexpected end of input")
		}
		switch c := data[p]; {
		case c == '"':
			s.end = p
			sc.pos = p + 1
			return s, nil
		case c == '\\':
			s.escaped = true
			if p+1 >= len(data) {
				sc.pos = p + 1
				return s, sc.syntax("unexpected end of input")
			}
			switch data[p+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p += 2
			case 'u':
				r, ok := hex4(data, p+2)
				if !ok {
					sc.pos = p
					return s, sc.syntax("invalid escape in string")
				}
				p += 6
				if !utf16.IsSurrogate(r) {
					break
				}
				if r < 0xdc00 && p+6 <= len(data) && data[p] == '\\' && data[p+1] == 'u' {
					if r2, ok := hex4(data, p+2); ok && 0xdc00 <= r2 && r2 < 0xe000 {
						p += 6
						break
					}
				}
				if lone != nil {
					*lone = true
				}
			default:
				sc.pos = p
				return s, sc.syntax("invalid escape in string")
			}
		case c < 0x20:
			sc.pos = p
			return s, sc.syntax("control character in string")
		default: // c >= utf8.RuneSelf
			r, size := utf8.DecodeRune(data[p:])
			if r == utf8.RuneError && size == 1 {
				sc.pos = p
				return s, sc.syntax("invalid UTF-8")
			}
			p += size
		}
	}
}

// plainRun returns the position of the first byte from p on that needs a
// closer look inside a string: a quote, a backslash, a control character or
// a non-ASCII byte; or len(data).
func plainRun(data []byte, p int) int {
	// Eight bytes at a time, with the word tests of "Bit Twiddling Hacks":
	// (x - ones*n) &^ x & highs is non-zero when some byte of x is less
	// than n (for n <= 128), x ^ ones*c turns bytes equal to c into zeros,
	// and a non-ASCII byte has its high bit set. A word with such a byte
	// is left to the loop below, which finds it exactly.
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for p+8 <= len(data) {
		w := binary.LittleEndian.Uint64(data[p:])
		q := w ^ (ones * '"')
		b := w ^ (ones * '\\')
		m := (w-ones*0x20)&^w | (q-ones)&^q | (b-ones)&^b | w
		if m&highs != 0 {
			break
		}
		p += 8
	}
	for p < len(data) {
		c := data[p]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return p
		}
		p++
	}
	return p
}

// hex4 decodes the four hexadecimal digits at data[p:].
func hex4(data []byte, p int) (rune, bool) {
	if p+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[p : p+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// appendUnescaped appends the decoded content of the checked JSON string
// raw to dst. A lone surrogate decodes to U+FFFD.
func appendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		if raw[i] != '\\' {
			j := i + 1
			for j < len(raw) && raw[j] != '\\' {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		c := raw[i+1]
		i += 2
		switch c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(raw, i)
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2, _ = hex4(raw, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
	}
	return dst
}

// value returns the decoded content of s, valid until the next call.
func (sc *scanner) value(s span) []byte {
	raw := sc.data[s.start:s.end]
	if !s.escaped {
		return raw
	}
	sc.scratch = appendUnescaped(sc.scratch[:0], raw)
	return sc.scratch
}
