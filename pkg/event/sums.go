package event

import (
	"time"
)

// A Decoder decodes events as Decode does, keeping its buffers from one
// call to the next. The zero Decoder is ready to use; it is not safe for
// concurrent use.
type Decoder struct {
	scratch []byte // decoded strings that held escapes
	// strs holds the entity, recipient, destination and pipeline values
	// seen, so that events repeating them cost no allocation.
	strs map[string]string
}

// maxInterned bounds Decoder.strs: past it, the values are forgotten.
const maxInterned = 16 << 10

// intern returns b as a string, the same string for the same bytes while
// it is remembered.
func (dc *Decoder) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := dc.strs[string(b)]; ok {
		return s
	}
	if dc.strs == nil || len(dc.strs) >= maxInterned {
		dc.strs = make(map[string]string)
	}
	s := string(b)
	dc.strs[s] = s
	return s
}

// DecodeSums decodes data exactly as Decode does — the same rules, the same
// errors — but instead of returning the subjects it appends sum of each, in
// order, to dst, and returns the event with Subjects nil and dst extended.
// On error dst comes back as it was given. The bytes passed to sum are the
// decoded subject, valid only during the call: no subject is kept, and none
// is allocated (escaped ones are decoded into a buffer the Decoder reuses).
//
// The event has no EventID either (it is informational, and different in
// every event); its entity, recipient, destination and pipeline are shared
// with the earlier events of the Decoder that had the same, so that a
// stream of events from a bounded set of pipelines allocates nothing.
func (dc *Decoder) DecodeSums(data []byte, now time.Time, dst []uint64, sum func(subject []byte) uint64) (Event, []uint64, error) {
	if len(data) > MaxSize {
		_, err := Decode(data, now) // the size error, without reading data
		return Event{}, dst, err
	}
	d := decoder{scanner: scanner{data: data, scratch: dc.scratch}, errField: numFields}
	ev, out, err := d.decodeSums(dc, now, dst, sum)
	dc.scratch = d.scratch[:0]
	if err != nil {
		return Event{}, dst, err
	}
	return ev, out, nil
}

// decodeSums is DecodeSums after the size check.
func (d *decoder) decodeSums(dc *Decoder, now time.Time, dst []uint64, sum func([]byte) uint64) (Event, []uint64, error) {
	if err := d.document(); err != nil {
		return Event{}, dst, err
	}
	if d.err != nil {
		return Event{}, dst, d.err
	}
	// The checks of validate, in its order, with the subjects read from
	// the array (at most MaxSubjects of them once counted) instead of a list.
	ev := d.interned(dc)
	if err := ev.validateHead(now, true); err != nil {
		return Event{}, dst, err
	}
	if err := validateCount(d.hasSubjects(), d.nSubjects); err != nil {
		return Event{}, dst, err
	}
	p := d.subjects.start + 1
	for i := range d.nSubjects {
		start, end, esc := d.nextSubject(p)
		s := d.data[start:end]
		if esc {
			d.scratch = appendUnescaped(d.scratch[:0], s)
			s = d.scratch
		}
		p = end + 1
		if err := subjectLenError(i, len(s)); err != nil {
			return Event{}, dst, err
		}
		dst = append(dst, sum(s))
	}
	if err := ev.validateTail(true); err != nil {
		return Event{}, dst, err
	}
	return ev, dst, nil
}

// interned builds the decoded event but its subjects and event_id, as
// fields does, with the strings of dc.
func (d *decoder) interned(dc *Decoder) Event {
	ev := d.scalars()
	for _, f := range [...]field{fEntity, fRecipient, fDestination, fPipeline} {
		s := d.strs[f]
		if s.end <= s.start {
			continue
		}
		*stringOf(&ev, f) = dc.intern(d.value(s))
	}
	return ev
}
