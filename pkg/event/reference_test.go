package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// referenceDecode is Decode written the obvious way, with encoding/json, to
// check the hand-written decoder against: the same event, or an error about
// the same field. It follows the documented order of errors: size, syntax,
// JSON types (fields in the contract's order, within a field the first
// problem in the document), then Validate.
func referenceDecode(data []byte, now time.Time) (Event, error) {
	if len(data) > MaxSize {
		return Event{}, &Error{"event", "too large"}
	}
	if !json.Valid(data) {
		return Event{}, &Error{"event", "not JSON (encoding/json)"}
	}
	if !utf8.Valid(data) {
		return Event{}, &Error{"event", "not UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return Event{}, &Error{"event", "not a JSON object"}
	}

	var (
		ev      Event
		seen    = map[string]bool{}
		errs    = map[string]*Error{} // the first type error of each field
		n       int
		present bool
	)
	fail := func(field, name, reason string) {
		if errs[field] == nil {
			errs[field] = &Error{name, reason}
		}
	}
	str := func(field string, raw json.RawMessage, dst *string) bool {
		if err := json.Unmarshal(raw, dst); err != nil {
			fail(field, field, "must be a string")
			return false
		}
		if loneSurrogate(raw) {
			fail(field, field, "lone surrogate")
			return false
		}
		return true
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Event{}, fmt.Errorf("reference: %w", err) // json.Valid said yes
		}
		name := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return Event{}, fmt.Errorf("reference: %w", err)
		}
		if !knownField(name) {
			continue
		}
		if seen[name] {
			fail(name, name, "duplicate field")
			continue
		}
		seen[name] = true
		if string(raw) == "null" {
			continue
		}
		switch name {
		case "schema":
			v, ok := referenceInteger(raw)
			if !ok || int64(int(v)) != v {
				fail(name, name, "must be an integer")
			}
			ev.Schema = int(v)
		case "records":
			v, ok := referenceInteger(raw)
			if !ok {
				fail(name, name, "must be an integer")
			}
			ev.Records = v
		case "sensitive":
			if err := json.Unmarshal(raw, &ev.Sensitive); err != nil {
				fail(name, name, "must be a boolean")
			}
		case "important_data":
			if err := json.Unmarshal(raw, &ev.ImportantData); err != nil {
				fail(name, name, "must be a boolean")
			}
		case "occurred_at":
			var s string
			if !str(name, raw, &s) {
				continue
			}
			if t, ok := referenceRFC3339(s); !ok {
				fail(name, name, "not RFC 3339")
			} else if ev.OccurredAt = t; t.IsZero() {
				fail(name, name, "zero time")
			}
		case "kind":
			var s string
			str(name, raw, &s)
			ev.Kind = Kind(s)
		case "exemption":
			var s string
			str(name, raw, &s)
			ev.Exemption = Exemption(s)
		case "entity":
			str(name, raw, &ev.Entity)
		case "recipient":
			str(name, raw, &ev.Recipient)
		case "destination":
			str(name, raw, &ev.Destination)
		case "event_id":
			str(name, raw, &ev.EventID)
		case "pipeline":
			str(name, raw, &ev.Pipeline)
		case "subjects":
			var elems []json.RawMessage
			if err := json.Unmarshal(raw, &elems); err != nil {
				fail(name, name, "must be an array of strings")
				continue
			}
			present, n = true, len(elems)
			ev.Subjects = make([]string, 0, len(elems))
			for i, e := range elems {
				var s string
				if e[0] != '"' || json.Unmarshal(e, &s) != nil {
					fail(name, name+"["+strconv.Itoa(i)+"]", "must be a string")
				} else if loneSurrogate(e) {
					fail(name, name+"["+strconv.Itoa(i)+"]", "lone surrogate")
				}
				ev.Subjects = append(ev.Subjects, s)
			}
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return Event{}, fmt.Errorf("reference: object not closed: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Event{}, fmt.Errorf("reference: data after the object: %w", err) // json.Valid said no
	}
	for f := range numFields { // the contract's order
		if err := errs[f.String()]; err != nil {
			return Event{}, err
		}
	}
	if ev.Schema == 0 {
		ev.Schema = 1
	}
	if ev.Kind == "" {
		ev.Kind = KindTransfer
	}
	if !present {
		ev.Subjects = nil
	}
	if err := ev.Validate(now); err != nil {
		return Event{}, err
	}
	if n != len(ev.Subjects) {
		panic("reference: subjects miscounted")
	}
	return ev, nil
}

// referenceInteger returns the value of the JSON number raw if it is an
// integer (whatever its form: 5, 5.0, 50e-1) that fits in an int64. It
// works on the decimal digits as strings: the digits of the integer part
// and the fraction, and the power of ten they are scaled by.
func referenceInteger(raw json.RawMessage) (int64, bool) {
	s := string(raw)
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return 0, false // not a number
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, expText, hasExp := strings.Cut(strings.ToLower(s), "e")
	exp := new(big.Int)
	if hasExp {
		if _, ok := exp.SetString(strings.TrimPrefix(expText, "+"), 10); !ok {
			panic("reference: bad exponent " + expText) // json.Valid said yes
		}
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	scale := new(big.Int).Sub(exp, big.NewInt(int64(len(frac))))
	for strings.HasSuffix(digits, "0") {
		digits = digits[:len(digits)-1]
		scale.Add(scale, big.NewInt(1))
	}
	digits = strings.TrimLeft(digits, "0")
	switch {
	case digits == "":
		return 0, true // zero
	case scale.Sign() < 0:
		return 0, false // a fraction is left
	case !scale.IsInt64() || int64(len(digits))+scale.Int64() > 19:
		return 0, false // too large
	}
	text := digits + strings.Repeat("0", int(scale.Int64()))
	if neg {
		text = "-" + text
	}
	v, err := strconv.ParseInt(text, 10, 64)
	return v, err == nil
}

func knownField(name string) bool { return fieldOf([]byte(name)) != fUnknown }

// loneSurrogate reports whether the JSON string raw holds an escape that is
// a UTF-16 surrogate without its pair.
func loneSurrogate(raw []byte) bool {
	var units []uint16
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			units = append(units, 0) // anything that is not a surrogate
			continue
		}
		i++
		if raw[i] != 'u' {
			units = append(units, 0)
			continue
		}
		v, err := strconv.ParseUint(string(raw[i+1:i+5]), 16, 16)
		if err != nil {
			panic(err) // json.Valid said yes
		}
		units = append(units, uint16(v))
		i += 4
	}
	for i := 0; i < len(units); i++ {
		u := rune(units[i])
		if !utf16.IsSurrogate(u) {
			continue
		}
		if u < 0xdc00 && i+1 < len(units) && utf16.DecodeRune(u, rune(units[i+1])) != utf8.RuneError {
			i++
			continue
		}
		return true
	}
	return false
}

// rfc3339 is the form of RFC 3339 section 5.6; the ranges of the fields are
// left to time.Parse.
var rfc3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$`)

func referenceRFC3339(s string) (time.Time, bool) {
	if !rfc3339.MatchString(s) {
		return time.Time{}, false
	}
	s = s[:10] + "T" + strings.ToUpper(s[11:])
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}
