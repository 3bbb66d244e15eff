package gate

import (
	"fmt"
	"log/slog"
	"testing"
	"time"
)

// fullGate returns a fresh gate holding n entities, every third blocked.
func fullGate(n int) *Gate {
	g := newGate(common{maxStale: time.Minute, now: time.Now, log: slog.New(slog.DiscardHandler)}, true)
	entries := make(map[string]Answer, n)
	for i := range n {
		id := fmt.Sprint("entity-", i)
		d := Allow
		if i%3 == 0 {
			d = Block
		}
		entries[id] = Answer{Entity: id, Decision: d, RequiredMechanism: "none", Reasons: []string{"r"}, Version: 1, Known: true}
	}
	g.update(func(map[string]Answer) (map[string]Answer, time.Time) { return entries, time.Now() })
	return g
}

func BenchmarkAllowed(b *testing.B) {
	g := fullGate(1000)
	ids := []string{"entity-1", "entity-3", "entity-998", "never-seen"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, _ = g.Allowed(ids[i&3])
		i++
	}
}

func BenchmarkAllowedParallel(b *testing.B) {
	g := fullGate(1000)
	ids := []string{"entity-1", "entity-3", "entity-998", "never-seen"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_, _ = g.Allowed(ids[i&3])
			i++
		}
	})
}

// FuzzDecode feeds the decoders of outside input (topic records and API
// answers) arbitrary bytes: they must not panic, and what they accept must
// name an entity.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("acme-sh"), []byte(`{"entity":"acme-sh","decision":"block","previous":"warn","required_mechanism":"security_assessment","policy":"cac-2022","reasons":["x"],"decided_at":"2026-11-25T10:00:01+08:00","version":7}`))
	f.Add([]byte("acme-sh"), []byte(`{"entity":"acme-sh","decision":"allow","required_mechanism":"none","reasons":[]}`))
	f.Add([]byte(""), []byte(`{"entities":[{"entity":"a","decision":"warn","counters":[],"rules":null}]}`))
	f.Add([]byte(nil), []byte(`{"version":"7"}`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		if a, err := decodeSignal(key, value); err == nil && (a.Entity == "" || !a.Known) {
			t.Errorf("decodeSignal accepted %+v", a)
		}
		if a, err := decodeVerdict(value, string(key)); err == nil && (a.Entity != string(key) || !a.Known) {
			t.Errorf("decodeVerdict(%q) accepted %+v", key, a)
		}
		if m, err := decodeEntities(value); err == nil {
			for id, a := range m {
				if id == "" || id != a.Entity || !a.Known {
					t.Errorf("decodeEntities accepted %q: %+v", id, a)
				}
			}
		}
	})
}
