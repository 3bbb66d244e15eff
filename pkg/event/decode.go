package event

import (
	"bytes"
	"strconv"
	"strings"
	"time"
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
	d := decoder{scanner: scanner{data: data}, errField: numFields}
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

// decoder is the state of one Decode. It reads the document in one pass,
// keeping the position of strings rather than copying them, and builds the
// Event at the end.
type decoder struct {
	scanner

	seen     uint16 // bit f: field f was present
	errField field  // the field of err, numFields when err is nil
	err      *Error // the first type error of the earliest field

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
	if err := d.object(d.objectMember); err != nil {
		return err
	}
	return d.end()
}

// objectMember reads the value of the member of the event object named by
// the string at name.
func (d *decoder) objectMember(name span) error {
	f := fieldOf(d.value(name))
	switch {
	case f == fUnknown:
		return d.skipValue(1)
	case d.seen&(1<<f) != 0:
		if err := d.skipValue(1); err != nil {
			return err
		}
		d.fail(f, -1, "duplicate field")
		return nil
	default:
		d.seen |= 1 << f
		return d.member(f)
	}
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

// subjectArray reads the subjects: it checks the array and counts the
// subjects, leaving their extraction to the end (see subjectList).
func (d *decoder) subjectArray() error {
	if d.peek() != '[' {
		return d.mistyped(fSubjects, -1, "must be an array of strings")
	}
	start := d.pos
	n := 0
	err := d.array(func(i int) error {
		n++
		if d.peek() != '"' {
			if err := d.skipValue(2); err != nil {
				return err
			}
			d.fail(fSubjects, i, "must be a string")
			return nil
		}
		lone := false
		s, err := d.scanString(&lone)
		if err != nil {
			return err
		}
		if lone {
			d.fail(fSubjects, i, "lone UTF-16 surrogate escape")
		}
		d.subjectEsc = d.subjectEsc || s.escaped
		return nil
	})
	if err != nil {
		return err
	}
	d.subjects = span{start: start, end: d.pos}
	d.nSubjects = n
	return nil
}

// event builds the decoded event, with defaults applied, and returns it with
// the number of subjects the document held.
func (d *decoder) event() (Event, int) {
	ev := d.fields()
	if d.hasSubjects() {
		ev.Subjects = d.subjectList()
	}
	return ev, d.nSubjects
}

// fields builds the decoded event but its subjects, with defaults applied.
func (d *decoder) fields() Event {
	ev := d.scalars()
	d.setStrings(&ev)
	return ev
}

// scalars builds the decoded event but its strings and subjects, with
// defaults applied.
func (d *decoder) scalars() Event {
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
	return ev
}

// setStrings sets the strings of ev: entity, recipient, destination, event_id
// and pipeline.
func (d *decoder) setStrings(ev *Event) {
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
			*stringOf(ev, f) = all[start:ends[i]]
			start = ends[i]
		}
	}
}

// stringOf returns the field of ev that holds the string member f (one of
// entity, recipient, destination, event_id and pipeline).
func stringOf(ev *Event, f field) *string {
	switch f {
	case fEntity:
		return &ev.Entity
	case fRecipient:
		return &ev.Recipient
	case fDestination:
		return &ev.Destination
	case fEventID:
		return &ev.EventID
	case fPipeline:
		return &ev.Pipeline
	}
	panic("event: no string member " + f.String())
}

// hasSubjects reports whether the document holds an array of subjects
// (possibly empty): subjects neither absent nor null.
func (d *decoder) hasSubjects() bool {
	return d.seen&(1<<fSubjects) != 0 && d.subjects.end > 0
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
	p := base + 1
	for i := range list {
		start, end, esc := d.nextSubject(p)
		if esc {
			d.scratch = appendUnescaped(d.scratch[:0], d.data[start:end])
			list[i] = string(d.scratch)
		} else {
			list[i] = arr[start-base : end-base]
		}
		p = end + 1
	}
	return list
}

// nextSubject finds the first subject of the checked array at or after
// position p: its raw bytes are data[start:end] (end is its closing
// quote), holding an escape if esc.
func (d *decoder) nextSubject(p int) (start, end int, esc bool) {
	data := d.data
	for data[p] != '"' { // white space, commas
		p++
	}
	p++
	start = p
	if d.subjectEsc {
		for data[p] != '"' {
			if data[p] == '\\' {
				esc = true
				p++
			}
			p++
		}
	} else {
		p += bytes.IndexByte(data[p:d.subjects.end], '"')
	}
	return start, p, esc
}
