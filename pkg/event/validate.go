package event

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Error is a violation of the event contract.
//
// Field names the offending JSON field ("occurred_at", "subjects[3]"), or
// "event" when the document as a whole is at fault (size, syntax). Reason
// says what is wrong, on one line. Neither ever holds a subject identifier:
// a bad subject is named by its index only. Use errors.As to get at the
// field:
//
//	var e *event.Error
//	if errors.As(err, &e) { ... e.Field ... }
type Error struct {
	Field  string
	Reason string
}

// Error returns "field: reason".
func (e *Error) Error() string { return e.Field + ": " + e.Reason }

// fieldEvent is the Field of errors about the document as a whole.
const fieldEvent = "event"

// maxQuoted is the longest part of a value quoted in an error message.
const maxQuoted = 64

// quote quotes s for an error message: one line, at most maxQuoted bytes of
// s. Never use it on a subject identifier.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

// Validate reports whether e obeys every rule of the schema-1 contract, the
// same rules Decode applies to an event on the wire. It returns nil or an
// *Error. now is the current time; an event more than MaxFutureSkew after it
// is invalid.
//
// The zero values of Schema (0) and Kind ("") stand for their defaults, 1
// and KindTransfer, as they do on the wire. An event that passes Validate
// encodes with json.Marshal to a document that Decode accepts.
func (e *Event) Validate(now time.Time) error {
	return e.validate(now, len(e.Subjects), false)
}

// validate checks e. nSubjects is the number of subjects the event carried,
// which Decode knows without keeping them all when there are too many.
// decoded says e comes from Decode, whose strings are valid UTF-8 already.
//
// The fields are checked in a fixed order (that of the contract), so that an
// event breaking several rules always gets the same error.
func (e *Event) validate(now time.Time, nSubjects int, decoded bool) error {
	if err := e.validateHead(now, decoded); err != nil {
		return err
	}
	if err := validateCount(e.Subjects != nil, nSubjects); err != nil {
		return err
	}
	for i, s := range e.Subjects {
		// Never put s itself in the error: it is a raw identifier.
		if err := subjectLenError(i, len(s)); err != nil {
			return err
		}
		if !decoded && !utf8.ValidString(s) {
			return subjectError(i, "not valid UTF-8")
		}
	}
	return e.validateTail(decoded)
}

// validateHead checks the fields that come before the subjects in the
// contract's order.
func (e *Event) validateHead(now time.Time, decoded bool) error {
	if e.Schema != 0 && e.Schema != 1 {
		return &Error{"schema", "unsupported version " + strconv.Itoa(e.Schema)}
	}

	t := e.OccurredAt
	if t.IsZero() {
		return &Error{"occurred_at", "required"}
	}
	if !decoded {
		if y := wireTime(t).Year(); y < 0 || y > 9999 {
			return &Error{"occurred_at", "year " + strconv.Itoa(y) + " cannot be written in RFC 3339"}
		}
	}
	if t.After(now.Add(MaxFutureSkew)) {
		return &Error{"occurred_at", "more than 24h in the future: " + wireTime(t).Format(time.RFC3339Nano)}
	}

	if e.Entity == "" {
		return &Error{"entity", "required"}
	}
	if !ValidEntityID(e.Entity) {
		return &Error{"entity", "must be " + EntityIDRule}
	}

	switch e.Kind {
	case "", KindTransfer:
		if e.Recipient == "" {
			return &Error{"recipient", `required for kind "transfer"`}
		}
	case KindProcessing:
	default:
		return &Error{"kind", `must be "transfer" or "processing", got ` + quote(string(e.Kind))}
	}
	if !decoded && !utf8.ValidString(e.Recipient) {
		return &Error{"recipient", "not valid UTF-8"}
	}

	if e.Destination != "" && !validAlpha2(e.Destination) {
		return &Error{"destination", "must be an ISO 3166-1 alpha-2 code"}
	}

	return nil
}

// validateCount checks the number of subjects: present says the event
// holds an array of them (possibly empty), n how many it holds.
func validateCount(present bool, n int) error {
	if !present && n == 0 {
		return &Error{"subjects", "required"}
	}
	if n < 1 || n > MaxSubjects {
		return &Error{"subjects", "must hold 1 to 100000 identifiers, got " + strconv.Itoa(n)}
	}
	return nil
}

// subjectLenError returns the error of the i-th subject, of n bytes, when n
// is out of bounds, else nil.
func subjectLenError(i, n int) error {
	switch {
	case n == 0:
		return subjectError(i, "empty")
	case n > MaxSubjectLen:
		return subjectError(i, "longer than 256 bytes")
	}
	return nil
}

// validateTail checks the fields that come after the subjects in the
// contract's order.
func (e *Event) validateTail(decoded bool) error {
	switch e.Exemption {
	case ExemptionNone, ExemptionContract, ExemptionHR, ExemptionEmergency,
		ExemptionTransit, ExemptionFTZNegativeList:
	default:
		return &Error{"exemption", "unknown value " + quote(string(e.Exemption))}
	}

	if e.Records < 0 {
		return &Error{"records", "must be a non-negative integer, got " + strconv.FormatInt(e.Records, 10)}
	}
	if !decoded {
		if !utf8.ValidString(e.EventID) {
			return &Error{"event_id", "not valid UTF-8"}
		}
		if !utf8.ValidString(e.Pipeline) {
			return &Error{"pipeline", "not valid UTF-8"}
		}
	}
	return nil
}

// subjectError is an error about the i-th subject.
func subjectError(i int, reason string) *Error {
	return &Error{"subjects[" + strconv.Itoa(i) + "]", reason}
}

// EntityIDRule describes the entity ids ValidEntityID accepts, for error
// messages.
const EntityIDRule = "1-128 characters of A-Za-z0-9._:-"

// ValidEntityID reports whether s is a valid entity id: 1 to 128 characters
// of A-Za-z0-9._:- (CONTRACT §3). Events, the configuration, the HTTP API,
// the store's keys and the gate all hold entity ids to this one rule.
func ValidEntityID(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// validAlpha2 reports whether s has the form of an ISO 3166-1 alpha-2 code:
// two upper-case ASCII letters.
func validAlpha2(s string) bool {
	return len(s) == 2 && 'A' <= s[0] && s[0] <= 'Z' && 'A' <= s[1] && s[1] <= 'Z'
}

// wireTime returns t as it is written on the wire: in its own offset when
// RFC 3339 can express that offset (whole minutes, less than 24 h), else in
// UTC, so that the instant survives the trip.
func wireTime(t time.Time) time.Time {
	_, off := t.Zone()
	if off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
		return t.UTC()
	}
	return t
}
