package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testNow is the "now" of the tests: 2026-11-25 12:00 in Shanghai.
var testNow = time.Date(2026, 11, 25, 4, 0, 0, 0, time.UTC)

// secret is a subject identifier that must never appear in an error.
const secret = "secret-subject-0042"

// absent, as a value given to doc, removes the field.
const absent = absentField("absent")

type absentField string

// doc returns the contract's example event, with the given fields (name,
// value pairs) replaced; a raw value is used as is, even when not JSON.
func doc(t testing.TB, kv ...any) []byte {
	t.Helper()
	m := map[string]any{
		"schema":         1,
		"event_id":       "6f1c",
		"occurred_at":    "2026-11-25T10:00:00+08:00",
		"entity":         "acme-sh",
		"kind":           "transfer",
		"recipient":      "acme-inc-us",
		"destination":    "US",
		"subjects":       []string{"user-123", secret},
		"sensitive":      false,
		"important_data": false,
		"exemption":      "",
		"records":        2,
		"pipeline":       "crm-sync",
	}
	for i := 0; i < len(kv); i += 2 {
		name := kv[i].(string)
		if kv[i+1] == absent {
			delete(m, name)
		} else {
			m[name] = kv[i+1]
		}
	}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	b := []byte{'{'}
	for i, name := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, name)
		b = append(b, ':')
		if r, ok := m[name].(raw); ok {
			b = append(b, r...) // as is, even when not JSON
			continue
		}
		v, err := json.Marshal(m[name])
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, v...)
	}
	return append(b, '}')
}

type raw = json.RawMessage

// subjects returns n distinct short identifiers.
func subjects(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = strconv.FormatInt(int64(i), 36)
	}
	return s
}

// sameEvent reports how a and b differ, or "" when they are the same event:
// the same fields, occurred_at the same instant in the same offset.
func sameEvent(a, b Event) string {
	if !a.OccurredAt.Equal(b.OccurredAt) {
		return fmt.Sprintf("occurred_at %v != %v", a.OccurredAt, b.OccurredAt)
	}
	if _, oa := a.OccurredAt.Zone(); true {
		if _, ob := b.OccurredAt.Zone(); oa != ob {
			return fmt.Sprintf("occurred_at offset %d != %d", oa, ob)
		}
	}
	a.OccurredAt, b.OccurredAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(a, b) {
		return fmt.Sprintf("%+v != %+v", a, b)
	}
	return ""
}

// validCase is an event Decode must accept, and the event it must give.
type validCase struct {
	name string
	in   []byte
	want Event
}

func validCases(t testing.TB) []validCase {
	example := Event{
		Schema:      1,
		EventID:     "6f1c",
		OccurredAt:  time.Date(2026, 11, 25, 10, 0, 0, 0, time.FixedZone("", 8*3600)),
		Entity:      "acme-sh",
		Kind:        KindTransfer,
		Recipient:   "acme-inc-us",
		Destination: "US",
		Subjects:    []string{"user-123", secret},
		Records:     2,
		Pipeline:    "crm-sync",
	}
	with := func(change func(*Event)) Event {
		e := example
		e.Subjects = append([]string(nil), example.Subjects...)
		change(&e)
		return e
	}
	minimal := Event{
		Schema:     1,
		OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Entity:     "e",
		Kind:       KindTransfer,
		Recipient:  "r",
		Subjects:   []string{"s"},
	}
	return []validCase{
		{"contract example", doc(t), example},
		{"minimal, defaults applied",
			[]byte(`{"occurred_at":"2026-01-02T03:04:05Z","entity":"e","recipient":"r","subjects":["s"]}`), minimal},
		{"white space everywhere",
			[]byte(" \t\r\n{ \"occurred_at\" : \"2026-01-02T03:04:05Z\" ,\n\"entity\":\"e\", \"recipient\":\"r\",\"subjects\" : [ \"s\" ] }\n\n"), minimal},
		{"schema 0 means 1", doc(t, "schema", 0), example},
		{"schema -0 means 1", doc(t, "schema", raw(`-0`)), example},
		{"schema null means 1", doc(t, "schema", nil), example},
		{"schema absent means 1", doc(t, "schema", absent), example},
		{"kind absent means transfer", doc(t, "kind", absent), example},
		{"kind null means transfer", doc(t, "kind", nil), example},
		{"kind empty means transfer", doc(t, "kind", ""), example},
		{"processing without recipient", doc(t, "kind", "processing", "recipient", absent),
			with(func(e *Event) { e.Kind = KindProcessing; e.Recipient = "" })},
		{"processing with null recipient", doc(t, "kind", "processing", "recipient", nil),
			with(func(e *Event) { e.Kind = KindProcessing; e.Recipient = "" })},
		{"optional fields null", doc(t, "event_id", nil, "destination", nil, "sensitive", nil,
			"important_data", nil, "exemption", nil, "records", nil, "pipeline", nil),
			with(func(e *Event) { e.EventID, e.Destination, e.Records, e.Pipeline = "", "", 0, "" })},
		{"optional fields absent", doc(t, "event_id", absent, "destination", absent, "sensitive", absent,
			"important_data", absent, "exemption", absent, "records", absent, "pipeline", absent),
			with(func(e *Event) { e.EventID, e.Destination, e.Records, e.Pipeline = "", "", 0, "" })},
		{"destination empty", doc(t, "destination", ""), with(func(e *Event) { e.Destination = "" })},
		{"flags", doc(t, "sensitive", true, "important_data", true),
			with(func(e *Event) { e.Sensitive, e.ImportantData = true, true })},
		{"exemption contract", doc(t, "exemption", "contract"), with(func(e *Event) { e.Exemption = ExemptionContract })},
		{"exemption hr", doc(t, "exemption", "hr"), with(func(e *Event) { e.Exemption = ExemptionHR })},
		{"exemption emergency", doc(t, "exemption", "emergency"), with(func(e *Event) { e.Exemption = ExemptionEmergency })},
		{"exemption transit", doc(t, "exemption", "transit"), with(func(e *Event) { e.Exemption = ExemptionTransit })},
		{"exemption ftz_negative_list", doc(t, "exemption", "ftz_negative_list"),
			with(func(e *Event) { e.Exemption = ExemptionFTZNegativeList })},
		{"records 0", doc(t, "records", 0), with(func(e *Event) { e.Records = 0 })},
		{"records max int64", doc(t, "records", raw(`9223372036854775807`)),
			with(func(e *Event) { e.Records = 1<<63 - 1 })},
		{"records 5.0", doc(t, "records", raw(`5.0`)), with(func(e *Event) { e.Records = 5 })},
		{"records 1e3", doc(t, "records", raw(`1e3`)), with(func(e *Event) { e.Records = 1000 })},
		{"records 50E-1", doc(t, "records", raw(`50E-1`)), with(func(e *Event) { e.Records = 5 })},
		{"records 0.5e+1", doc(t, "records", raw(`0.5e+1`)), with(func(e *Event) { e.Records = 5 })},
		{"records 1.2300e2", doc(t, "records", raw(`1.2300e2`)), with(func(e *Event) { e.Records = 123 })},
		{"records -0.0", doc(t, "records", raw(`-0.0`)), with(func(e *Event) { e.Records = 0 })},
		{"records 0e-999999999999", doc(t, "records", raw(`0e-999999999999`)), with(func(e *Event) { e.Records = 0 })},
		{"records max int64 with an exponent", doc(t, "records", raw(`9.223372036854775807e18`)),
			with(func(e *Event) { e.Records = 1<<63 - 1 })},
		{"records max int64 with trailing zeros", doc(t, "records", raw(`9223372036854775807.000`)),
			with(func(e *Event) { e.Records = 1<<63 - 1 })},
		{"schema 1.0", doc(t, "schema", raw(`1.0`)), example},
		{"schema 1e0", doc(t, "schema", raw(`1e0`)), example},
		{"schema 10e-1", doc(t, "schema", raw(`10e-1`)), example},
		{"schema 0.0 means 1", doc(t, "schema", raw(`0.0`)), example},
		{"unknown fields ignored", doc(t, "extra", map[string]any{"a": []any{1, "x", nil, true}}, "Entity", 5, "zz", raw(`-1.5e+7`)),
			example},
		{"entity of every allowed character", doc(t, "entity", "AZaz09._:-"), with(func(e *Event) { e.Entity = "AZaz09._:-" })},
		{"entity of 128 characters", doc(t, "entity", strings.Repeat("e", 128)),
			with(func(e *Event) { e.Entity = strings.Repeat("e", 128) })},
		{"escapes decoded", []byte(`{"occurred_at":"2026-01-02T03:04:05\u005a","entity":"\u0065","recipient":"\/r\"\\\b\f\n\r\t",` +
			`"subjects":["s","\u00e9\ud83d\ude00","a\u0000b"],"k\u0069nd":"processing"}`),
			Event{Schema: 1, OccurredAt: minimal.OccurredAt, Entity: "e", Kind: KindProcessing,
				Recipient: "/r\"\\\b\f\n\r\t", Subjects: []string{"s", "é😀", "a\x00b"}}},
		{"escaped field names", []byte(`{"occurred_\u0061t":"2026-01-02T03:04:05Z","\u0065ntity":"e","recipient":"r","subjects":["s"]}`), minimal},
		{"non-ASCII text", doc(t, "recipient", "阿克米公司", "subjects", []string{"张三", "李四"}),
			with(func(e *Event) { e.Recipient = "阿克米公司"; e.Subjects = []string{"张三", "李四"} })},
		{"fraction of a second", doc(t, "occurred_at", "2026-11-25T10:00:00.123456789+08:00"),
			with(func(e *Event) { e.OccurredAt = e.OccurredAt.Add(123456789) })},
		{"Z means UTC", doc(t, "occurred_at", "2026-11-25T02:00:00Z"),
			with(func(e *Event) { e.OccurredAt = e.OccurredAt.UTC() })},
		{"negative offset", doc(t, "occurred_at", "2026-11-24T21:00:00-05:00"),
			with(func(e *Event) { e.OccurredAt = e.OccurredAt.In(time.FixedZone("", -5*3600)) })},
		{"long ago", doc(t, "occurred_at", "0000-01-01T00:00:00Z"),
			with(func(e *Event) { e.OccurredAt = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC) })},
		{"same subject twice", doc(t, "subjects", []string{"a", "a"}), with(func(e *Event) { e.Subjects = []string{"a", "a"} })},
		{"unknown field twice", doc(t, "x", raw(`1,"x":2`)), example},
		{"nested unknown fields", doc(t, "x", raw(strings.Repeat("[", 9999)+strings.Repeat("]", 9999))), example},
	}
}

func TestDecodeValid(t *testing.T) {
	for _, tt := range validCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.in, testNow)
			if err != nil {
				t.Fatalf("Decode(%s): %v", tt.in, err)
			}
			if diff := sameEvent(got, tt.want); diff != "" {
				t.Errorf("Decode(%s): %s", tt.in, diff)
			}
			if err := got.Validate(testNow); err != nil {
				t.Errorf("Validate: %v", err)
			}
			ref, err := referenceDecode(tt.in, testNow)
			if err != nil {
				t.Fatalf("reference: %v", err)
			}
			if diff := sameEvent(got, ref); diff != "" {
				t.Errorf("reference disagrees: %s", diff)
			}
		})
	}
}

// invalidCase is an event Decode must reject with an error about field.
type invalidCase struct {
	name  string
	in    []byte
	field string
}

func invalidCases(t testing.TB) []invalidCase {
	long := strings.Repeat("x", MaxSubjectLen-len(secret)+1) + secret
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000) // with the object: 10001 deep
	huge := doc(t, "pad", strings.Repeat(" ", MaxSize))
	return []invalidCase{
		// the document
		{"empty", []byte(``), "event"},
		{"white space", []byte(" \n"), "event"},
		{"null", []byte(`null`), "event"},
		{"array", []byte(`[{"entity":"e"}]`), "event"},
		{"string", []byte(`"x"`), "event"},
		{"number", []byte(`1`), "event"},
		{"not closed", []byte(`{"entity":"e"`), "event"},
		{"trailing comma", []byte(`{"entity":"e",}`), "event"},
		{"missing colon", []byte(`{"entity" "e"}`), "event"},
		{"single quotes", []byte(`{'entity':'e'}`), "event"},
		{"unquoted key", []byte(`{entity:"e"}`), "event"},
		{"trailing garbage", append(doc(t), 'x'), "event"},
		{"second object", append(doc(t), []byte(` {}`)...), "event"},
		{"trailing NUL", append(doc(t), 0), "event"},
		{"byte order mark", append([]byte("\xef\xbb\xbf"), doc(t)...), "event"},
		{"invalid UTF-8 in a subject", doc(t, "subjects", raw("[\"a\xffb\"]")), "event"},
		{"invalid UTF-8 in an unknown field", doc(t, "x", raw("\"\xc0\x80\"")), "event"},
		{"UTF-8 surrogate", doc(t, "x", raw("\"\xed\xa0\x80\"")), "event"},
		{"control character in a subject", doc(t, "subjects", raw("[\""+secret+"\n\"]")), "event"},
		{"bad escape", doc(t, "subjects", raw(`["`+secret+`\x"]`)), "event"},
		{"short unicode escape", doc(t, "subjects", raw(`["\u12"]`)), "event"},
		{"bad literal", doc(t, "sensitive", raw(`tru`)), "event"},
		{"leading zero", doc(t, "records", raw(`01`)), "event"},
		{"bare minus", doc(t, "records", raw(`-`)), "event"},
		{"empty fraction", doc(t, "records", raw(`1.`)), "event"},
		{"empty exponent", doc(t, "records", raw(`1e`)), "event"},
		{"plus sign", doc(t, "records", raw(`+1`)), "event"},
		{"NaN", doc(t, "x", raw(`NaN`)), "event"},
		{"nested too deep", doc(t, "x", raw(deep)), "event"},
		{"larger than 1 MiB", huge, "event"},
		{"syntax error after a type error", []byte(`{"schema":"x","entity":}`), "event"},

		// schema
		{"schema 2", doc(t, "schema", 2), "schema"},
		{"schema -1", doc(t, "schema", -1), "schema"},
		{"schema string", doc(t, "schema", "1"), "schema"},
		{"schema fraction", doc(t, "schema", raw(`1.5`)), "schema"},
		{"schema 2.0", doc(t, "schema", raw(`2.0`)), "schema"},
		{"schema 1e-1", doc(t, "schema", raw(`1e-1`)), "schema"},
		{"schema 1e400", doc(t, "schema", raw(`1e400`)), "schema"},
		{"schema overflow", doc(t, "schema", raw(`99999999999999999999`)), "schema"},
		{"schema boolean", doc(t, "schema", true), "schema"},
		{"schema twice", []byte(`{"schema":1,"schema":1}`), "schema"},

		// occurred_at
		{"occurred_at absent", doc(t, "occurred_at", absent), "occurred_at"},
		{"occurred_at null", doc(t, "occurred_at", nil), "occurred_at"},
		{"occurred_at empty", doc(t, "occurred_at", ""), "occurred_at"},
		{"occurred_at number", doc(t, "occurred_at", 1764036000), "occurred_at"},
		{"occurred_at without offset", doc(t, "occurred_at", "2026-11-25T10:00:00"), "occurred_at"},
		{"occurred_at with a space", doc(t, "occurred_at", "2026-11-25 10:00:00Z"), "occurred_at"},
		{"occurred_at date only", doc(t, "occurred_at", "2026-11-25"), "occurred_at"},
		{"occurred_at 30 February", doc(t, "occurred_at", "2026-02-30T10:00:00Z"), "occurred_at"},
		{"occurred_at offset hour 24", doc(t, "occurred_at", "2026-11-25T10:00:00+24:00"), "occurred_at"},
		{"occurred_at zero time", doc(t, "occurred_at", "0001-01-01T00:00:00Z"), "occurred_at"},
		{"occurred_at lone surrogate", doc(t, "occurred_at", raw(`"\udc00"`)), "occurred_at"},
		{"occurred_at 24h and 1ns ahead", doc(t, "occurred_at", testNow.Add(MaxFutureSkew+1).Format(time.RFC3339Nano)), "occurred_at"},
		{"occurred_at in year 9999", doc(t, "occurred_at", "9999-12-31T23:59:59Z"), "occurred_at"},

		// entity
		{"entity absent", doc(t, "entity", absent), "entity"},
		{"entity null", doc(t, "entity", nil), "entity"},
		{"entity empty", doc(t, "entity", ""), "entity"},
		{"entity of 129 characters", doc(t, "entity", strings.Repeat("e", 129)), "entity"},
		{"entity with a space", doc(t, "entity", "acme sh"), "entity"},
		{"entity with a slash", doc(t, "entity", "acme/sh"), "entity"},
		{"entity non-ASCII", doc(t, "entity", "阿克米"), "entity"},
		{"entity number", doc(t, "entity", 7), "entity"},
		{"entity in another case only", doc(t, "entity", absent, "Entity", "acme-sh"), "entity"},
		{"entity twice", []byte(`{"entity":"a","entity":"a"}`), "entity"},

		// kind
		{"kind unknown", doc(t, "kind", "x"), "kind"},
		{"kind capitalised", doc(t, "kind", "Transfer"), "kind"},
		{"kind number", doc(t, "kind", 1), "kind"},

		// recipient
		{"recipient absent", doc(t, "recipient", absent), "recipient"},
		{"recipient absent, kind absent", doc(t, "recipient", absent, "kind", absent), "recipient"},
		{"recipient null", doc(t, "recipient", nil), "recipient"},
		{"recipient empty", doc(t, "recipient", ""), "recipient"},
		{"recipient number", doc(t, "recipient", 1), "recipient"},
		{"recipient lone surrogate", doc(t, "recipient", raw(`"a\ud800b"`)), "recipient"},

		// destination
		{"destination lower case", doc(t, "destination", "us"), "destination"},
		{"destination alpha-3", doc(t, "destination", "USA"), "destination"},
		{"destination one letter", doc(t, "destination", "U"), "destination"},
		{"destination digit", doc(t, "destination", "U1"), "destination"},
		{"destination array", doc(t, "destination", []string{"US"}), "destination"},

		// subjects
		{"subjects absent", doc(t, "subjects", absent), "subjects"},
		{"subjects null", doc(t, "subjects", nil), "subjects"},
		{"subjects empty", doc(t, "subjects", []string{}), "subjects"},
		{"subjects string", doc(t, "subjects", secret), "subjects"},
		{"subjects object", doc(t, "subjects", map[string]string{"a": secret}), "subjects"},
		{"subjects 100001", doc(t, "subjects", subjects(MaxSubjects+1)), "subjects"},
		{"subject number", doc(t, "subjects", []any{1}), "subjects[0]"},
		{"subject null", doc(t, "subjects", []any{secret, nil}), "subjects[1]"},
		{"subject array", doc(t, "subjects", []any{secret, "b", []string{secret}}), "subjects[2]"},
		{"subject empty", doc(t, "subjects", []string{secret, "b", ""}), "subjects[2]"},
		{"subject of 257 bytes", doc(t, "subjects", []string{"a", long}), "subjects[1]"},
		{"subject of 257 bytes once decoded", doc(t, "subjects", raw(`["`+strings.Repeat(`\u00e9`, 128)+`a"]`)), "subjects[0]"},
		{"subject lone high surrogate", doc(t, "subjects", raw(`["a","\ud800"]`)), "subjects[1]"},
		{"subject lone low surrogate", doc(t, "subjects", raw(`["a","b","x\udc00\ud800"]`)), "subjects[2]"},
		{"subject surrogates reversed", doc(t, "subjects", raw(`["\udc00\ud800"]`)), "subjects[0]"},
		{"subject type error before empty one", doc(t, "subjects", []any{"", 1}), "subjects[1]"},
		{"subjects twice", []byte(`{"subjects":["a"],"subjects":["a"]}`), "subjects"},

		// flags
		{"sensitive string", doc(t, "sensitive", "true"), "sensitive"},
		{"sensitive number", doc(t, "sensitive", 1), "sensitive"},
		{"important_data number", doc(t, "important_data", 0), "important_data"},

		// exemption
		{"exemption unknown", doc(t, "exemption", "x"), "exemption"},
		{"exemption upper case", doc(t, "exemption", "HR"), "exemption"},
		{"exemption number", doc(t, "exemption", 3), "exemption"},

		// records
		{"records negative", doc(t, "records", -1), "records"},
		{"records fraction", doc(t, "records", 1.5), "records"},
		{"records negative fraction", doc(t, "records", raw(`-1.0`)), "records"},
		{"records small exponent", doc(t, "records", raw(`1e-3`)), "records"},
		{"records fraction with an exponent", doc(t, "records", raw(`1.25e1`)), "records"},
		{"records fraction far down", doc(t, "records", raw(`5.000000000000000000000001`)), "records"},
		{"records exponent overflow", doc(t, "records", raw(`1e19`)), "records"},
		{"records max int64 + 1 with an exponent", doc(t, "records", raw(`9.223372036854775808e18`)), "records"},
		{"records huge exponent", doc(t, "records", raw(`1e999999999999`)), "records"},
		{"records tiny exponent", doc(t, "records", raw(`1e-999999999999`)), "records"},
		{"records string", doc(t, "records", "2"), "records"},
		{"records overflow", doc(t, "records", raw(`9223372036854775808`)), "records"},
		{"records min int64", doc(t, "records", raw(`-9223372036854775808`)), "records"},
		{"records negative overflow", doc(t, "records", raw(`-9223372036854775809`)), "records"},
		{"schema min int64", doc(t, "schema", raw(`-9223372036854775808`)), "schema"},

		// informational strings
		{"event_id number", doc(t, "event_id", 1), "event_id"},
		{"pipeline object", doc(t, "pipeline", map[string]int{}), "pipeline"},

		// order of errors
		{"type errors before rules", doc(t, "entity", "", "sensitive", 1), "sensitive"},
		{"type errors in the contract's order", doc(t, "records", "x", "schema", "x"), "schema"},
		{"rules in the contract's order", doc(t, "exemption", "x", "entity", ""), "entity"},
		{"the first problem of a field", []byte(`{"entity":1,"entity":"a"}`), "entity"},
	}
}

func TestDecodeInvalid(t *testing.T) {
	for _, tt := range invalidCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode(tt.in, testNow)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Decode(%.200q) = %+v, %v; want an *Error about %s", tt.in, ev, err, tt.field)
			}
			if e.Field != tt.field {
				t.Errorf("Decode(%.200q): %v; want an error about %s", tt.in, err, tt.field)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error %q is not one line", msg)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error %q holds a subject identifier", msg)
			}
			if len(msg) > 300 {
				t.Errorf("error of %d bytes: %.300s", len(msg), msg)
			}
			if !reflect.DeepEqual(ev, Event{}) {
				t.Errorf("Decode returned %+v with its error", ev)
			}
			_, err = referenceDecode(tt.in, testNow)
			if !errors.As(err, &e) || e.Field != tt.field {
				t.Errorf("reference: %v; want an error about %s", err, tt.field)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{doc(t, "subjects", []string{}), "subjects: must hold 1 to 100000 identifiers, got 0"},
		{doc(t, "subjects", absent), "subjects: required"},
		{doc(t, "occurred_at", absent), "occurred_at: required"},
		{doc(t, "occurred_at", "yesterday"), `occurred_at: not RFC 3339: "yesterday"`},
		{doc(t, "occurred_at", "2026-11-27T04:00:00.000000001Z"), "occurred_at: more than 24h in the future: 2026-11-27T04:00:00.000000001Z"},
		{doc(t, "entity", "a b"), "entity: must be 1-128 characters of A-Za-z0-9._:-"},
		{doc(t, "entity", absent), "entity: required"},
		{doc(t, "kind", "x"), `kind: must be "transfer" or "processing", got "x"`},
		{doc(t, "kind", strings.Repeat("k", 100)), `kind: must be "transfer" or "processing", got "` + strings.Repeat("k", 64) + `"... (100 bytes)`},
		{doc(t, "kind", "a"+strings.Repeat("é", 40)), `kind: must be "transfer" or "processing", got "a` + strings.Repeat("é", 31) + `"... (81 bytes)`},
		{doc(t, "recipient", absent), `recipient: required for kind "transfer"`},
		{doc(t, "destination", "usa"), "destination: must be an ISO 3166-1 alpha-2 code"},
		{doc(t, "subjects", []string{"a", "b", "c", ""}), "subjects[3]: empty"},
		{doc(t, "subjects", []string{"a", strings.Repeat("a", 257)}), "subjects[1]: longer than 256 bytes"},
		{doc(t, "subjects", []any{"a", 1}), "subjects[1]: must be a string"},
		{doc(t, "subjects", raw(`["\ud800"]`)), "subjects[0]: lone UTF-16 surrogate escape"},
		{doc(t, "subjects", "a"), "subjects: must be an array of strings"},
		{doc(t, "exemption", "x"), `exemption: unknown value "x"`},
		{doc(t, "schema", 2), "schema: unsupported version 2"},
		{doc(t, "schema", raw(`1.5`)), "schema: must be an integer, got 1.5"},
		{doc(t, "schema", raw(`2.0`)), "schema: unsupported version 2"},
		{doc(t, "schema", raw(`1e400`)), "schema: unsupported version 1e400"},
		{doc(t, "records", raw(`1.5`)), "records: must be a non-negative integer, got 1.5"},
		{doc(t, "records", raw(`1e19`)), "records: must be a non-negative integer, got 1e19"},
		{doc(t, "records", raw(`-3.0`)), "records: must be a non-negative integer, got -3"},
		{doc(t, "schema", raw(`99999999999999999999`)), "schema: unsupported version 99999999999999999999"},
		{doc(t, "records", raw(`1`+strings.Repeat("0", 100))), "records: must be a non-negative integer, got 1" + strings.Repeat("0", 63) + "... (101 bytes)"},
		{doc(t, "records", -3), "records: must be a non-negative integer, got -3"},
		{doc(t, "sensitive", "yes"), "sensitive: must be a boolean"},
		{doc(t, "entity", 1), "entity: must be a string"},
		{[]byte(`{"entity":"a","entity":"a"}`), "entity: duplicate field"},
		{make([]byte, MaxSize+1), "event: larger than 1 MiB (1048577 bytes)"},
		{[]byte(`{"a":1} x`), "event: not JSON: data after the top-level value at offset 8"},
		{[]byte(`{"a":x}`), "event: not JSON: invalid character 'x' at offset 5"},
		{[]byte(`{"a":"` + secret + "\x01\"}"), "event: not JSON: control character in string at offset 25"},
		{[]byte("{\"a\":\xff}"), "event: not JSON: invalid byte 0xff at offset 5"},
		{[]byte(`{"a":1`), "event: not JSON: unexpected end of input at offset 6"},
		{[]byte(`[]`), "event: not a JSON object"},
	}
	for _, tt := range tests {
		_, err := Decode(tt.in, testNow)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Decode(%.100q) = %v\nwant %s", tt.in, err, tt.want)
		}
	}
}

func TestDecodeLimits(t *testing.T) {
	accept := func(t *testing.T, in []byte) Event {
		t.Helper()
		ev, err := Decode(in, testNow)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		return ev
	}
	reject := func(t *testing.T, in []byte, want string) {
		t.Helper()
		_, err := Decode(in, testNow)
		if err == nil || err.Error() != want {
			t.Fatalf("Decode: %v; want %s", err, want)
		}
	}

	t.Run("100000 subjects", func(t *testing.T) {
		in := doc(t, "subjects", subjects(MaxSubjects))
		if len(in) > MaxSize {
			t.Fatalf("test document of %d bytes", len(in))
		}
		ev := accept(t, in)
		if len(ev.Subjects) != MaxSubjects || ev.Subjects[MaxSubjects-1] != subjects(MaxSubjects)[MaxSubjects-1] {
			t.Errorf("got %d subjects", len(ev.Subjects))
		}
	})
	t.Run("100001 subjects", func(t *testing.T) {
		reject(t, doc(t, "subjects", subjects(MaxSubjects+1)), "subjects: must hold 1 to 100000 identifiers, got 100001")
	})
	t.Run("subject of 256 bytes", func(t *testing.T) {
		s := strings.Repeat("s", MaxSubjectLen)
		if ev := accept(t, doc(t, "subjects", []string{s})); ev.Subjects[0] != s {
			t.Errorf("subject changed")
		}
	})
	t.Run("subject of 256 bytes once decoded", func(t *testing.T) {
		s := strings.Repeat("é", MaxSubjectLen/2)
		in := doc(t, "subjects", raw(`["`+strings.Repeat(`\u00e9`, MaxSubjectLen/2)+`"]`))
		if ev := accept(t, in); ev.Subjects[0] != s {
			t.Errorf("subject changed")
		}
	})
	t.Run("subject of 257 bytes", func(t *testing.T) {
		reject(t, doc(t, "subjects", []string{"a", strings.Repeat("s", MaxSubjectLen+1)}), "subjects[1]: longer than 256 bytes")
	})

	pad := func(t *testing.T, size int) []byte {
		in := doc(t, "pad", "")
		in = doc(t, "pad", strings.Repeat("p", size-len(in)))
		if len(in) != size {
			t.Fatalf("padded to %d bytes", len(in))
		}
		return in
	}
	t.Run("1 MiB", func(t *testing.T) { accept(t, pad(t, MaxSize)) })
	t.Run("1 MiB and 1 byte", func(t *testing.T) {
		reject(t, pad(t, MaxSize+1), "event: larger than 1 MiB (1048577 bytes)")
	})

	at := func(d time.Duration) []byte {
		return doc(t, "occurred_at", testNow.Add(d).In(time.FixedZone("", 8*3600)).Format(time.RFC3339Nano))
	}
	t.Run("24h ahead", func(t *testing.T) { accept(t, at(MaxFutureSkew)) })
	t.Run("24h and 1ns ahead", func(t *testing.T) {
		reject(t, at(MaxFutureSkew+1), "occurred_at: more than 24h in the future: 2026-11-26T12:00:00.000000001+08:00")
	})
	t.Run("now", func(t *testing.T) { accept(t, at(0)) })
	t.Run("years ago", func(t *testing.T) { accept(t, at(-10*365*24*time.Hour)) })

	t.Run("nested 10000 deep", func(t *testing.T) {
		accept(t, doc(t, "x", raw(strings.Repeat("[", 9999)+strings.Repeat("]", 9999))))
	})
	t.Run("nested 10001 deep", func(t *testing.T) {
		_, err := Decode(doc(t, "x", raw(strings.Repeat("{\"a\":", 10000)+"1"+strings.Repeat("}", 10000))), testNow)
		var e *Error
		if !errors.As(err, &e) || e.Field != "event" || !strings.Contains(e.Reason, "deeper") {
			t.Fatalf("Decode: %v", err)
		}
	})
}

func TestDecodeOffsetKept(t *testing.T) {
	in := doc(t, "occurred_at", "2026-11-25T23:30:00+08:00")
	ev, err := Decode(in, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 25, 15, 30, 0, 0, time.UTC); !ev.OccurredAt.Equal(want) {
		t.Errorf("occurred_at %v, want the instant %v", ev.OccurredAt, want)
	}
	if _, off := ev.OccurredAt.Zone(); off != 8*3600 {
		t.Errorf("occurred_at offset %d, want +08:00", off)
	}
	// The calendar day is the one written, 25 November, not the UTC one.
	if y, m, d := ev.OccurredAt.Date(); y != 2026 || m != time.November || d != 25 {
		t.Errorf("occurred_at date %d-%d-%d", y, m, d)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"occurred_at":"2026-11-25T23:30:00+08:00"`) {
		t.Errorf("re-encoded as %s", b)
	}
}

func TestDecodeSharesNothingWithInput(t *testing.T) {
	in := doc(t)
	ev, err := Decode(in, testNow)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'X'
	}
	if ev.Entity != "acme-sh" || ev.Recipient != "acme-inc-us" || ev.Subjects[1] != secret || ev.Pipeline != "crm-sync" {
		t.Errorf("event changed with its input: %+v", ev)
	}
}

func TestValidate(t *testing.T) {
	valid := func() Event {
		return Event{
			OccurredAt: testNow.Add(-time.Hour),
			Entity:     "acme-sh",
			Recipient:  "acme-inc-us",
			Subjects:   []string{"user-123"},
		}
	}
	tests := []struct {
		name   string
		change func(*Event)
		field  string // "" when valid
	}{
		{"zero schema and kind", func(*Event) {}, ""},
		{"all set", func(e *Event) {
			e.Schema, e.Kind, e.Destination, e.Exemption, e.Records = 1, KindTransfer, "CN", ExemptionHR, 5
		}, ""},
		{"processing without recipient", func(e *Event) { e.Kind, e.Recipient = KindProcessing, "" }, ""},
		{"24h ahead", func(e *Event) { e.OccurredAt = testNow.Add(MaxFutureSkew) }, ""},
		{"100000 subjects", func(e *Event) { e.Subjects = subjects(MaxSubjects) }, ""},
		{"schema 2", func(e *Event) { e.Schema = 2 }, "schema"},
		{"schema -1", func(e *Event) { e.Schema = -1 }, "schema"},
		{"occurred_at zero", func(e *Event) { e.OccurredAt = time.Time{} }, "occurred_at"},
		{"occurred_at 24h and 1ns ahead", func(e *Event) { e.OccurredAt = testNow.Add(MaxFutureSkew + 1) }, "occurred_at"},
		{"occurred_at before year 0", func(e *Event) { e.OccurredAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }, "occurred_at"},
		{"entity empty", func(e *Event) { e.Entity = "" }, "entity"},
		{"entity invalid", func(e *Event) { e.Entity = "a\x00" }, "entity"},
		{"kind invalid", func(e *Event) { e.Kind = "outbound" }, "kind"},
		{"recipient empty", func(e *Event) { e.Recipient = "" }, "recipient"},
		{"recipient not UTF-8", func(e *Event) { e.Recipient = "\xff" }, "recipient"},
		{"destination invalid", func(e *Event) { e.Destination = "cn" }, "destination"},
		{"subjects nil", func(e *Event) { e.Subjects = nil }, "subjects"},
		{"subjects empty", func(e *Event) { e.Subjects = []string{} }, "subjects"},
		{"100001 subjects", func(e *Event) { e.Subjects = subjects(MaxSubjects + 1) }, "subjects"},
		{"subject empty", func(e *Event) { e.Subjects = []string{"a", ""} }, "subjects[1]"},
		{"subject too long", func(e *Event) { e.Subjects = []string{strings.Repeat("a", 257)} }, "subjects[0]"},
		{"subject not UTF-8", func(e *Event) { e.Subjects = []string{"a", "b", "\xff" + secret} }, "subjects[2]"},
		{"exemption invalid", func(e *Event) { e.Exemption = "none" }, "exemption"},
		{"records negative", func(e *Event) { e.Records = -1 }, "records"},
		{"event_id not UTF-8", func(e *Event) { e.EventID = "\xc0" }, "event_id"},
		{"pipeline not UTF-8", func(e *Event) { e.Pipeline = "\xc0" }, "pipeline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid()
			tt.change(&e)
			err := e.Validate(testNow)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				// What passes Validate encodes to what Decode accepts.
				b, err := json.Marshal(e)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := Decode(b, testNow); err != nil {
					t.Fatalf("Decode(json.Marshal(e)): %v", err)
				}
				return
			}
			var ve *Error
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("Validate: %v; want an error about %s", err, tt.field)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q holds a subject identifier", err)
			}
		})
	}
}

func TestMarshalJSON(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	e := Event{
		OccurredAt: time.Date(2026, 11, 25, 10, 0, 0, 5, shanghai),
		Entity:     "acme-sh",
		Recipient:  "acme-inc-us",
		Subjects:   []string{"<user>&", "\u2028"},
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"schema":1`, `"kind":"transfer"`, `"occurred_at":"2026-11-25T10:00:00.000000005+08:00"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("json.Marshal(e) = %s, want %s in it", b, want)
		}
	}
	if p, err := json.Marshal(&e); err != nil || string(p) != string(b) {
		t.Errorf("json.Marshal(&e) = %s, %v; want %s", p, err, b)
	}
	got, err := Decode(b, testNow)
	if err != nil {
		t.Fatal(err)
	}
	want := e
	want.Schema, want.Kind = 1, KindTransfer
	if diff := sameEvent(got, want); diff != "" {
		t.Errorf("Decode(json.Marshal(e)): %s", diff)
	}

	// Before 1901, Shanghai is 8:05:43 ahead of UTC, which RFC 3339 cannot
	// write: the instant must survive all the same.
	e.OccurredAt = time.Date(1900, 1, 1, 0, 0, 0, 0, shanghai)
	b, err = json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err = Decode(b, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !got.OccurredAt.Equal(e.OccurredAt) {
		t.Errorf("occurred_at %v became %v (%s)", e.OccurredAt, got.OccurredAt, b)
	}
}
