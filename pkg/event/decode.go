package event

import (
	"encoding/binary"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Decode decodes one encoded event and checks it against every rule of the
// schema-1 contract. It returns the event, with the defaults applied
// (schema 1, kind "transfer"), or an *Error naming the first field at fault.
// now is the current time; an event more than MaxFutureSkew after it is
// invalid.
//
// The rules beyond those of Validate:
//   - data is at most MaxSize bytes of UTF-8 JSON holding one object, with
//     nothing but white space after it;
//   - field names match exactly; unknown fields are ignored, a known field
//     given twice is invalid;
//   - null stands for an absent field;
//   - each field has its JSON type: schema and records are integers (JSON
//     numbers whose value is an integer, as in JSON Schema: 5, 5.0 and 5e0
//     are all 5), sensitive and important_data booleans, subjects an array
//     of strings, the others strings; occurred_at is RFC 3339;
//   - the strings of known fields hold no lone UTF-16 surrogate escape
//     (two different ones would decode to the same identifier).
//
// When several rules are broken, the error is chosen in a fixed order: size,
// then syntax, then the JSON types of the fields (in the order of the
// contract), then the rules of Validate.
//
// Decode does not use reflection and allocates little: the subjects share
// one allocation, as do recipient, destination, event_id and pipeline; the
// entity has its own, so that it can be kept as a map key without holding
// on to the rest. Use strings.Clone to keep one subject on its own (and
// keep none for long: they are raw identifiers).
func Decode(data []byte, now time.Time) (Event, error) {
	if len(data) > MaxSize {
		return Event{}, &Error{fieldEvent, "larger than 1 MiB (" + strconv.Itoa(len(data)) + " bytes)"}
	}
	d := decoder{data: data, errField: numFields}
	if err := d.document(); err != nil {
		return Event{}, err
	}
	if d.err != nil {
		return Event{}, d.err
	}
	ev, n := d.event()
	if err := ev.validate(now, n, true); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// maxDepth is the deepest nesting of arrays and objects accepted, the
// outer object included; the same as encoding/json.
const maxDepth = 10000

// field identifies a known field. The order is that of the contract, in
// which type errors are reported.
type field uint8

const (
	fSchema field = iota
	fOccurredAt
	fEntity
	fKind
	fRecipient
	fDestination
	fSubjects
	fSensitive
	fImportantData
	fExemption
	fRecords
	fEventID
	fPipeline
	numFields
	fUnknown = numFields
)

// fieldOf returns the field named name, or fUnknown.
func fieldOf(name []byte) field {
	switch string(name) {
	case "schema":
		return fSchema
	case "occurred_at":
		return fOccurredAt
	case "entity":
		return fEntity
	case "kind":
		return fKind
	case "recipient":
		return fRecipient
	case "destination":
		return fDestination
	case "subjects":
		return fSubjects
	case "sensitive":
		return fSensitive
	case "important_data":
		return fImportantData
	case "exemption":
		return fExemption
	case "records":
		return fRecords
	case "event_id":
		return fEventID
	case "pipeline":
		return fPipeline
	}
	return fUnknown
}

// String returns the JSON name of f.
func (f field) String() string {
	switch f {
	case fSchema:
		return "schema"
	case fOccurredAt:
		return "occurred_at"
	case fEntity:
		return "entity"
	case fKind:
		return "kind"
	case fRecipient:
		return "recipient"
	case fDestination:
		return "destination"
	case fSubjects:
		return "subjects"
	case fSensitive:
		return "sensitive"
	case fImportantData:
		return "important_data"
	case fExemption:
		return "exemption"
	case fRecords:
		return "records"
	case fEventID:
		return "event_id"
	case fPipeline:
		return "pipeline"
	}
	return "unknown"
}

// span locates the raw content of a JSON string in the input.
type span struct {
	start, end int
	escaped    bool // holds escapes: decode before use
}

// decoder is the state of one Decode. It reads the document in one pass,
// keeping the position of strings rather than copying them, and builds the
// Event at the end.
type decoder struct {
	data []byte
	pos  int

	seen     uint16 // bit f: field f was present
	errField field  // the field of err, numFields when err is nil
	err      *Error // the first type error of the earliest field

	scratch []byte // decoded strings that held escapes

	schema     int64
	occurredAt time.Time
	kind       Kind
	exemption  Exemption
	sensitive  bool
	important  bool
	records    int64
	strs       [numFields]span // by field; used for entity, recipient, destination, event_id, pipeline

	subjects   span // the whole array, brackets included
	nSubjects  int
	subjectEsc bool // some subject holds escapes
}

// fail records a type error of field f (of its element idx, when idx >= 0).
// Of several, Decode reports the one of the earliest field in the contract's
// order, and of one field the first in the document.
func (d *decoder) fail(f field, idx int, reason string) {
	if f >= d.errField {
		return
	}
	name := f.String()
	if idx >= 0 {
		name += "[" + strconv.Itoa(idx) + "]"
	}
	d.errField, d.err = f, &Error{name, reason}
}

// syntax returns a syntax error at the current position. Its message never
// quotes the content of a string.
func (d *decoder) syntax(what string) *Error {
	return &Error{fieldEvent, "not JSON: " + what + " at offset " + strconv.Itoa(d.pos)}
}

// unexpected returns the syntax error for the byte at the current position.
func (d *decoder) unexpected() *Error {
	if d.pos >= len(d.data) {
		return d.syntax("unexpected end of input")
	}
	c := d.data[d.pos]
	if c < utf8.RuneSelf && strconv.IsPrint(rune(c)) {
		return d.syntax("invalid character " + strconv.QuoteRune(rune(c)))
	}
	return d.syntax("invalid byte 0x" + strconv.FormatUint(uint64(c), 16))
}

// skipSpace moves past JSON white space.
func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek returns the byte at the current position, or 0 at the end.
func (d *decoder) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

// document reads the whole input. It returns syntax errors; type errors are
// left in d.err.
func (d *decoder) document() error {
	d.skipSpace()
	if d.peek() != '{' {
		if err := d.skipValue(0); err != nil {
			return err
		}
		if err := d.end(); err != nil {
			return err
		}
		return &Error{fieldEvent, "not a JSON object"}
	}
	d.pos++
	d.skipSpace()
	if d.peek() == '}' {
		d.pos++
		return d.end()
	}
	for {
		if d.peek() != '"' {
			return d.unexpected()
		}
		s, err := d.scanString(nil)
		if err != nil {
			return err
		}
		name := d.data[s.start:s.end]
		if s.escaped {
			d.scratch = appendUnescaped(d.scratch[:0], name)
			name = d.scratch
		}
		f := fieldOf(name)
		d.skipSpace()
		if d.peek() != ':' {
			return d.unexpected()
		}
		d.pos++
		d.skipSpace()
		switch {
		case f == fUnknown:
			err = d.skipValue(1)
		case d.seen&(1<<f) != 0:
			if err = d.skipValue(1); err == nil {
				d.fail(f, -1, "duplicate field")
			}
		default:
			d.seen |= 1 << f
			err = d.member(f)
		}
		if err != nil {
			return err
		}
		d.skipSpace()
		switch d.peek() {
		case ',':
			d.pos++
			d.skipSpace()
		case '}':
			d.pos++
			return d.end()
		default:
			return d.unexpected()
		}
	}
}

// end checks that nothing but white space follows the top-level value.
func (d *decoder) end() error {
	d.skipSpace()
	if d.pos != len(d.data) {
		return d.syntax("data after the top-level value")
	}
	return nil
}

// isNull consumes a null if one is at the current position.
func (d *decoder) isNull() (bool, error) {
	if d.peek() != 'n' {
		return false, nil
	}
	return true, d.literal("null")
}

// mistyped skips a value of the wrong type for f and records the error.
func (d *decoder) mistyped(f field, idx int, reason string) error {
	if err := d.skipValue(1); err != nil {
		return err
	}
	d.fail(f, idx, reason)
	return nil
}

// member reads the value of known field f, seen for the first time.
func (d *decoder) member(f field) error {
	if null, err := d.isNull(); null || err != nil {
		return err // null: as if absent
	}
	switch f {
	case fSchema, fRecords:
		return d.integer(f)
	case fSensitive, fImportantData:
		var v bool
		switch d.peek() {
		case 't':
			v = true
			if err := d.literal("true"); err != nil {
				return err
			}
		case 'f':
			if err := d.literal("false"); err != nil {
				return err
			}
		default:
			return d.mistyped(f, -1, "must be a boolean")
		}
		if f == fSensitive {
			d.sensitive = v
		} else {
			d.important = v
		}
		return nil
	case fSubjects:
		return d.subjectArray()
	}

	// The string fields.
	if d.peek() != '"' {
		return d.mistyped(f, -1, "must be a string")
	}
	lone := false
	s, err := d.scanString(&lone)
	if err != nil {
		return err
	}
	if lone {
		d.fail(f, -1, "lone UTF-16 surrogate escape")
		return nil
	}
	switch f {
	case fOccurredAt:
		v := d.value(s)
		t, ok := parseRFC3339(v)
		if !ok {
			d.fail(f, -1, "not RFC 3339: "+quote(string(v)))
		} else if t.IsZero() {
			d.fail(f, -1, "the zero time 0001-01-01T00:00:00Z is not accepted")
		}
		d.occurredAt = t
	case fKind:
		switch v := d.value(s); string(v) {
		case "":
		case "transfer":
			d.kind = KindTransfer
		case "processing":
			d.kind = KindProcessing
		default:
			d.kind = Kind(v) // invalid: Validate will say so
		}
	case fExemption:
		switch v := d.value(s); string(v) {
		case "":
		case "contract":
			d.exemption = ExemptionContract
		case "hr":
			d.exemption = ExemptionHR
		case "emergency":
			d.exemption = ExemptionEmergency
		case "transit":
			d.exemption = ExemptionTransit
		case "ftz_negative_list":
			d.exemption = ExemptionFTZNegativeList
		default:
			d.exemption = Exemption(v) // invalid: Validate will say so
		}
	default: // entity, recipient, destination, event_id, pipeline
		d.strs[f] = s
	}
	return nil
}

// integer reads the value of schema or records: a JSON number whose value
// is an integer (JSON Schema's "integer": 5, 5.0, 5e0 and 50e-1 are all 5)
// that fits in an int64 (and, for schema, in an int).
func (d *decoder) integer(f field) error {
	c := d.peek()
	if c != '-' && (c < '0' || c > '9') {
		if f == fSchema {
			return d.mistyped(f, -1, "must be an integer")
		}
		return d.mistyped(f, -1, "must be a non-negative integer")
	}
	start := d.pos
	isInt, err := d.scanNumber()
	if err != nil {
		return err
	}
	lit := d.data[start:d.pos]
	var v int64
	integral, ok := true, false
	if isInt {
		v, ok = parseInt(lit)
	} else {
		v, integral, ok = parseIntegral(lit)
	}
	switch {
	case !integral && f == fSchema:
		d.fail(f, -1, "must be an integer, got "+numberText(lit))
	case !integral:
		d.fail(f, -1, "must be a non-negative integer, got "+numberText(lit))
	case f == fSchema && (!ok || int64(int(v)) != v):
		d.fail(f, -1, "unsupported version "+numberText(lit))
	case !ok:
		d.fail(f, -1, "must be a non-negative integer, got "+numberText(lit))
	case f == fSchema:
		d.schema = v
	default:
		d.records = v
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

// subjectArray reads the subjects: it checks the array and counts the
// subjects, leaving their extraction to the end (see subjectList).
func (d *decoder) subjectArray() error {
	if d.peek() != '[' {
		return d.mistyped(fSubjects, -1, "must be an array of strings")
	}
	start := d.pos
	d.pos++
	d.skipSpace()
	n := 0
	if d.peek() == ']' {
		d.pos++
	} else {
		for {
			if d.peek() == '"' {
				lone := false
				s, err := d.scanString(&lone)
				if err != nil {
					return err
				}
				if lone {
					d.fail(fSubjects, n, "lone UTF-16 surrogate escape")
				}
				d.subjectEsc = d.subjectEsc || s.escaped
			} else {
				if err := d.skipValue(2); err != nil {
					return err
				}
				d.fail(fSubjects, n, "must be a string")
			}
			n++
			d.skipSpace()
			c := d.peek()
			if c == ']' {
				d.pos++
				break
			}
			if c != ',' {
				return d.unexpected()
			}
			d.pos++
			d.skipSpace()
		}
	}
	d.subjects = span{start: start, end: d.pos}
	d.nSubjects = n
	return nil
}

// skipValue checks and skips one JSON value. depth is the nesting depth of
// the array or object holding it (0 at the top).
func (d *decoder) skipValue(depth int) error {
	switch c := d.peek(); {
	case c == '"':
		_, err := d.scanString(nil)
		return err
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return d.syntax("nested deeper than 10000")
		}
		return d.skipContainer(depth + 1)
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		_, err := d.scanNumber()
		return err
	}
	return d.unexpected()
}

// skipContainer skips the array or object at the current position, itself
// at nesting depth depth.
func (d *decoder) skipContainer(depth int) error {
	closing := byte(']')
	object := d.data[d.pos] == '{'
	if object {
		closing = '}'
	}
	d.pos++
	d.skipSpace()
	if d.peek() == closing {
		d.pos++
		return nil
	}
	for {
		if object {
			if d.peek() != '"' {
				return d.unexpected()
			}
			if _, err := d.scanString(nil); err != nil {
				return err
			}
			d.skipSpace()
			if d.peek() != ':' {
				return d.unexpected()
			}
			d.pos++
			d.skipSpace()
		}
		if err := d.skipValue(depth); err != nil {
			return err
		}
		d.skipSpace()
		switch d.peek() {
		case ',':
			d.pos++
			d.skipSpace()
		case closing:
			d.pos++
			return nil
		default:
			return d.unexpected()
		}
	}
}

// literal consumes lit (true, false or null).
func (d *decoder) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		if d.peek() != lit[i] {
			return d.unexpected()
		}
		d.pos++
	}
	return nil
}

// scanNumber checks and skips a JSON number. It reports whether the number
// is an integer: no fraction, no exponent.
func (d *decoder) scanNumber() (isInt bool, err error) {
	if d.peek() == '-' {
		d.pos++
	}
	switch c := d.peek(); {
	case c == '0':
		d.pos++
	case '1' <= c && c <= '9':
		d.pos++
		d.digits()
	default:
		return false, d.unexpected()
	}
	isInt = true
	if d.peek() == '.' {
		isInt = false
		d.pos++
		if d.digits() == 0 {
			return false, d.unexpected()
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		isInt = false
		d.pos++
		if c := d.peek(); c == '+' || c == '-' {
			d.pos++
		}
		if d.digits() == 0 {
			return false, d.unexpected()
		}
	}
	return isInt, nil
}

// digits skips decimal digits and returns how many.
func (d *decoder) digits() int {
	start := d.pos
	for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
		d.pos++
	}
	return d.pos - start
}

// scanString checks and skips the JSON string whose opening quote is at the
// current position, and returns the span of its content. If lone is not
// nil, it is set when an escape is a lone UTF-16 surrogate.
func (d *decoder) scanString(lone *bool) (span, error) {
	data := d.data
	p := d.pos + 1
	s := span{start: p}
	for {
		p = plainRun(data, p)
		if p >= len(data) {
			d.pos = p
			return s, d.syntax("unexpected end of input")
		}
		switch c := data[p]; {
		case c == '"':
			s.end = p
			d.pos = p + 1
			return s, nil
		case c == '\\':
			s.escaped = true
			if p+1 >= len(data) {
				d.pos = p + 1
				return s, d.syntax("unexpected end of input")
			}
			switch data[p+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p += 2
			case 'u':
				r, ok := hex4(data, p+2)
				if !ok {
					d.pos = p
					return s, d.syntax("invalid escape in string")
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
				d.pos = p
				return s, d.syntax("invalid escape in string")
			}
		case c < 0x20:
			d.pos = p
			return s, d.syntax("control character in string")
		default: // c >= utf8.RuneSelf
			r, size := utf8.DecodeRune(data[p:])
			if r == utf8.RuneError && size == 1 {
				d.pos = p
				return s, d.syntax("invalid UTF-8")
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
func (d *decoder) value(s span) []byte {
	raw := d.data[s.start:s.end]
	if !s.escaped {
		return raw
	}
	d.scratch = appendUnescaped(d.scratch[:0], raw)
	return d.scratch
}

// event builds the decoded event, with defaults applied, and returns it with
// the number of subjects the document held.
func (d *decoder) event() (Event, int) {
	ev := Event{
		Schema:        int(d.schema),
		OccurredAt:    d.occurredAt,
		Kind:          d.kind,
		Sensitive:     d.sensitive,
		ImportantData: d.important,
		Exemption:     d.exemption,
		Records:       d.records,
	}
	if ev.Schema == 0 {
		ev.Schema = 1
	}
	if ev.Kind == "" {
		ev.Kind = KindTransfer
	}
	if s := d.strs[fEntity]; s.end > s.start {
		ev.Entity = string(d.value(s))
	}

	// The other strings share one allocation.
	shared := [...]field{fRecipient, fDestination, fEventID, fPipeline}
	size := 0
	for _, f := range shared {
		size += d.strs[f].end - d.strs[f].start
	}
	if size > 0 {
		var b strings.Builder
		b.Grow(size) // decoding only shortens
		var ends [len(shared)]int
		for i, f := range shared {
			if s := d.strs[f]; s.end > s.start {
				b.Write(d.value(s))
			}
			ends[i] = b.Len()
		}
		all, start := b.String(), 0
		for i, f := range shared {
			v := all[start:ends[i]]
			start = ends[i]
			switch f {
			case fRecipient:
				ev.Recipient = v
			case fDestination:
				ev.Destination = v
			case fEventID:
				ev.EventID = v
			case fPipeline:
				ev.Pipeline = v
			}
		}
	}

	if d.seen&(1<<fSubjects) != 0 && d.subjects.end > 0 {
		ev.Subjects = d.subjectList()
	}
	return ev, d.nSubjects
}

// subjectList extracts the subjects from the checked array. They are
// substrings of one copy of the array, except those holding escapes.
// Beyond MaxSubjects, it returns an empty list: the event is invalid and
// only the count matters.
func (d *decoder) subjectList() []string {
	n := d.nSubjects
	if n == 0 || n > MaxSubjects {
		return []string{}
	}
	base := d.subjects.start
	arr := string(d.data[base:d.subjects.end])
	list := make([]string, n)
	data := d.data
	p := base + 1
	for i := range list {
		for data[p] != '"' { // white space, commas
			p++
		}
		p++
		start := p
		esc := false
		if d.subjectEsc {
			for data[p] != '"' {
				if data[p] == '\\' {
					esc = true
					p++
				}
				p++
			}
		} else {
			p += strings.IndexByte(arr[p-base:], '"')
		}
		if esc {
			d.scratch = appendUnescaped(d.scratch[:0], data[start:p])
			list[i] = string(d.scratch)
		} else {
			list[i] = arr[start-base : p-base]
		}
		p++
	}
	return list
}
