package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaPath is the JSON Schema that producers in any language validate
// their events with before sending.
const schemaPath = "../../docs/event.schema.json"

// Documents whose ```json blocks holding an "occurred_at" are example events.
var exampleDocs = []string{"../../docs/contract.md", "../../README.md"}

// A schemaException is a rule of the decoder that JSON Schema cannot say.
// On an input it applies to, the decoder must refuse the event whatever the
// schema says; everywhere else, the schema and the decoder must agree.
type schemaException struct {
	name    string
	applies func(t *testing.T, in []byte) bool
}

// schemaExceptions is the complete list: docs/event.schema.json names the
// same rules in its description.
var schemaExceptions = []schemaException{
	{"an encoded event larger than 1 MiB (a schema sees values, not bytes)",
		func(_ *testing.T, in []byte) bool { return len(in) > MaxSize }},
	{"a known field given twice (a JSON parser keeps one of them)",
		knownFieldTwice},
	{"a lone UTF-16 surrogate escape in a known field's string (a JSON parser turns it into U+FFFD)",
		loneSurrogateInKnownField},
	{"a subject of more than 256 bytes of UTF-8 within 256 characters (maxLength counts characters)",
		func(t *testing.T, in []byte) bool {
			s, ok := member(t, in, "subjects").([]any)
			if !ok {
				return false
			}
			for _, x := range s {
				if v, ok := x.(string); ok && len(v) > MaxSubjectLen && utf8.RuneCountInString(v) <= MaxSubjectLen {
					return true
				}
			}
			return false
		}},
	{"occurred_at more than 24 h after now (a schema has no clock)",
		func(t *testing.T, in []byte) bool {
			at, ok := occurredAt(t, in)
			return ok && at.After(testNow.Add(MaxFutureSkew))
		}},
	{"occurred_at at the instant 0001-01-01T00:00:00Z, which many forms write",
		func(t *testing.T, in []byte) bool {
			at, ok := occurredAt(t, in)
			return ok && at.IsZero()
		}},
}

// TestSchemaAgreesWithDecode checks docs/event.schema.json against Decode:
// on every seed of the fuzz test, every case of the decoder's tests, the
// fuzz corpus in testdata/fuzz (when there is one) and every example event
// of the docs, an event is valid per the schema exactly when Decode accepts
// it, but for the exceptions above. Every exception must be needed: some
// input the schema accepts falls under it.
func TestSchemaAgreesWithDecode(t *testing.T) {
	sch := compileSchema(t)

	type input struct {
		where string
		in    []byte
	}
	var inputs []input
	for i, in := range fuzzSeeds(t) {
		inputs = append(inputs, input{fmt.Sprintf("fuzz seed %d", i), in})
	}
	for _, c := range validCases(t) {
		inputs = append(inputs, input{"valid case " + c.name, c.in})
	}
	for _, c := range invalidCases(t) {
		inputs = append(inputs, input{"invalid case " + c.name, c.in})
	}
	for _, in := range fuzzCorpus(t, "testdata/fuzz/FuzzDecode") {
		inputs = append(inputs, input{"fuzz corpus " + in.name, in.data})
	}
	examples := exampleEvents(t)
	for _, ex := range examples {
		inputs = append(inputs, input(ex))
	}
	// Inputs the cases above lack: a duplicate of a known field in an
	// otherwise valid event, forms of the zero instant.
	inputs = append(inputs,
		input{"entity twice", doc(t, "x", raw(`0,"entity":"acme-sh"`))},
		input{"zero instant at +08:00", doc(t, "occurred_at", "0001-01-01T08:00:00+08:00")},
		input{"zero instant, lower case", doc(t, "occurred_at", "0001-01-01t00:00:00.000z")},
		input{"leap second", doc(t, "occurred_at", "2016-12-31T23:59:60Z")},
		input{"records 1e400", doc(t, "records", raw(`1e400`))},
	)

	needed := make([]int, len(schemaExceptions))
	var agreeValid, agreeInvalid int
	for _, x := range inputs {
		_, decodeErr := Decode(x.in, testNow)
		schemaErr := validate(sch, x.in)
		var applied []string
		for i, e := range schemaExceptions {
			if e.applies(t, x.in) {
				applied = append(applied, e.name)
				if schemaErr == nil {
					needed[i]++
				}
			}
		}
		switch {
		case len(applied) > 0:
			if decodeErr == nil {
				t.Errorf("%s: Decode accepts it, but it falls under %q\n%.300s", x.where, applied, x.in)
			}
		case decodeErr == nil && schemaErr != nil:
			t.Errorf("%s: Decode accepts it, the schema does not: %v\n%.300s", x.where, schemaErr, x.in)
		case decodeErr != nil && schemaErr == nil:
			t.Errorf("%s: the schema accepts it, Decode does not: %v\n%.300s", x.where, decodeErr, x.in)
		case decodeErr == nil:
			agreeValid++
		default:
			agreeInvalid++
		}
	}
	for i, e := range schemaExceptions {
		if needed[i] == 0 {
			t.Errorf("exception %q: no input the schema accepts falls under it; drop it or add one", e.name)
		}
	}
	// Each side of the equivalence is exercised, and the docs do hold
	// examples (which must be valid).
	if agreeValid < 40 || agreeInvalid < 80 {
		t.Errorf("only %d valid and %d invalid inputs agreed; the corpus is too thin", agreeValid, agreeInvalid)
	}
	if len(examples) < 3 {
		t.Errorf("found %d example events in the docs and the schema, want at least 3", len(examples))
	}
	for _, ex := range examples {
		if _, err := Decode(ex.in, testNow); err != nil {
			t.Errorf("%s is an invalid example: %v", ex.where, err)
		}
	}
}

// TestSchemaCatches shows that the schema refuses what it is meant to:
// without these checks a schema accepting everything would agree with
// Decode on every valid input.
func TestSchemaCatches(t *testing.T) {
	sch := compileSchema(t)
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"records 5.5", doc(t, "records", raw(`5.5`))},
		{"records 2^63", doc(t, "records", raw(`9223372036854775808`))},
		{"schema 2", doc(t, "schema", 2)},
		{"30 February", doc(t, "occurred_at", "2026-02-30T10:00:00Z")},
		{"no offset", doc(t, "occurred_at", "2026-11-25T10:00:00")},
		{"transfer without recipient", doc(t, "recipient", absent)},
		{"transfer with empty recipient", doc(t, "kind", "", "recipient", "")},
		{"subjects empty", doc(t, "subjects", []string{})},
		{"subject empty", doc(t, "subjects", []string{"a", ""})},
		{"exemption unknown", doc(t, "exemption", "x")},
		{"destination lower case", doc(t, "destination", "us")},
		{"entity with a space", doc(t, "entity", "acme sh")},
		{"not JSON", []byte(`{"entity":`)},
	} {
		if err := validate(sch, tc.in); err == nil {
			t.Errorf("%s: the schema accepts %s", tc.name, tc.in)
		}
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", schemaPath, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("event.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("event.schema.json")
	if err != nil {
		t.Fatalf("%s: %v", schemaPath, err)
	}
	if sch.DraftVersion != 2020 {
		t.Errorf("%s: draft %d, want 2020-12", schemaPath, sch.DraftVersion)
	}
	return sch
}

// validate validates the encoded event in with the schema, as a producer
// would: the input must first be JSON (RFC 8259: UTF-8, one value).
func validate(sch *jsonschema.Schema, in []byte) error {
	if !utf8.Valid(in) {
		return errors.New("not UTF-8")
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(in))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return sch.Validate(v)
}

// members returns the members of the top-level object of in, in order and
// duplicates included, or nil when in is not a JSON object.
func members(t *testing.T, in []byte) (names []string, values []json.RawMessage) {
	if !json.Valid(in) {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(in))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("json.Valid said yes: %v", err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("json.Valid said yes: %v", err)
		}
		names, values = append(names, tok.(string)), append(values, v)
	}
	return names, values
}

// member returns the decoded value of the first member name of in, or nil.
func member(t *testing.T, in []byte, name string) any {
	names, values := members(t, in)
	for i, n := range names {
		if n == name {
			var v any
			if err := json.Unmarshal(values[i], &v); err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	return nil
}

func knownFieldTwice(t *testing.T, in []byte) bool {
	names, _ := members(t, in)
	seen := map[string]bool{}
	for _, n := range names {
		if knownField(n) && seen[n] {
			return true
		}
		seen[n] = true
	}
	return false
}

func loneSurrogateInKnownField(t *testing.T, in []byte) bool {
	names, values := members(t, in)
	for i, n := range names {
		if !knownField(n) {
			continue
		}
		v := values[i]
		var list []json.RawMessage
		if json.Unmarshal(v, &list) != nil {
			list = []json.RawMessage{v}
		}
		for _, s := range list {
			if len(s) > 0 && s[0] == '"' && loneSurrogate(s) {
				return true
			}
		}
	}
	return false
}

// occurredAt returns the instant of the first occurred_at of in, if it is
// an RFC 3339 string.
func occurredAt(t *testing.T, in []byte) (time.Time, bool) {
	s, ok := member(t, in, "occurred_at").(string)
	if !ok {
		return time.Time{}, false
	}
	return referenceRFC3339(s)
}

// fuzzFile is one input of a fuzz corpus.
type fuzzFile struct {
	name string
	data []byte
}

// fuzzCorpus reads the inputs of a `go test fuzz v1` corpus directory; none
// when there is no such directory.
func fuzzCorpus(t *testing.T, dir string) []fuzzFile {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []fuzzFile
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") {
			t.Fatalf("%s: not a go test fuzz v1 file of one []byte", e.Name())
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		out = append(out, fuzzFile{e.Name(), []byte(s)})
	}
	return out
}

// example is an example event found in the docs or the schema.
type example struct {
	where string
	in    []byte
}

var jsonBlock = regexp.MustCompile("(?s)```json\n(.*?)```")

// exampleEvents returns the ```json blocks of the docs that hold an event
// (an "occurred_at"), and the schema's own examples.
func exampleEvents(t *testing.T) []example {
	t.Helper()
	var out []example
	for _, path := range exampleDocs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range jsonBlock.FindAllSubmatch(b, -1) {
			if bytes.Contains(m[1], []byte(`"occurred_at"`)) {
				out = append(out, example{fmt.Sprintf("%s json block %d", filepath.Base(path), i), m[1]})
			}
		}
	}
	f, err := os.Open(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var s struct {
		Examples []json.RawMessage `json:"examples"`
	}
	if err := json.NewDecoder(bufio.NewReader(io.LimitReader(f, 1<<20))).Decode(&s); err != nil {
		t.Fatal(err)
	}
	for i, ex := range s.Examples {
		out = append(out, example{fmt.Sprintf("schema example %d", i), ex})
	}
	return out
}
