package decide

import (
	"testing"
)

// FuzzRecordOf: a decisions-topic message is outside input (anyone who may
// write to the topic): decoding never panics, and what it accepts names an
// entity and a published version.
func FuzzRecordOf(f *testing.F) {
	f.Add([]byte("acme-sh"), []byte(`{"entity":"acme-sh","decision":"block","previous":"warn","decided_at":"2026-11-25T10:00:01+08:00","version":7}`))
	f.Add([]byte("acme-sh"), []byte(`{"decision":"allow","version":1}`))
	f.Add([]byte(""), []byte(`{"decision":"allow","version":1}`))
	f.Add([]byte("x"), []byte(`{"entity":"x","version":0}`))
	f.Add([]byte("x"), []byte(`{"entity":"x","version":-3}`))
	f.Add([]byte("x"), []byte(`not json`))
	f.Add([]byte("x"), []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		entity, rec, err := recordOf(key, value)
		if err != nil {
			return
		}
		if entity == "" || rec.Version < 1 || string(rec.Value) != string(value) {
			t.Fatalf("accepted entity %q version %d", entity, rec.Version)
		}
	})
}
