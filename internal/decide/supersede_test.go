package decide

import (
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestSupersedeKeepsNewestPerEntity(t *testing.T) {
	msg := func(k, v string) kafka.Message { return kafka.Message{Key: []byte(k), Value: []byte(v)} }
	held := []kafka.Message{msg("a", "a1"), msg("b", "b1")}
	for range 10 { // ten failed start-up rounds announce the same entities again
		held = supersede(held, []kafka.Message{msg("a", "a2"), msg("c", "c1")})
	}
	if len(held) != 3 {
		t.Fatalf("%d held messages, want 3 (one per entity)", len(held))
	}
	got := map[string]string{}
	for _, m := range held {
		got[string(m.Key)] = string(m.Value)
	}
	if got["a"] != "a2" || got["b"] != "b1" || got["c"] != "c1" {
		t.Errorf("held %v, want the newest per entity", got)
	}
}
