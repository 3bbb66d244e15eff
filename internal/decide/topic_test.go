package decide_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/decide"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/store/memstore"
	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
	"github.com/transferwatch/transferwatch/pkg/decision"
)

// transport returns a transport of its own, whose metadata cache knows
// nothing of the topics other tests made.
func transport(t *testing.T) *kafka.Transport {
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// TestCompactionCheck: Start reads the decisions topic's cleanup.policy;
// the gauge says whether it is compact, and a topic that is not draws a
// warning.
func TestCompactionCheck(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Options{})
	for _, tc := range []struct {
		policy string // "" leaves the broker's default, delete
		want   float64
	}{
		{"compact", 1},
		{"", 0},
		{"delete", 0},
		{"compact,delete", 0},
	} {
		t.Run("policy="+tc.policy, func(t *testing.T) {
			topic := "decisions-" + strings.NewReplacer(",", "-").Replace(tc.policy)
			var configs map[string]string
			if tc.policy != "" {
				configs = map[string]string{"cleanup.policy": tc.policy}
			}
			if err := c.CreateTopic(topic, 1, configs); err != nil {
				t.Fatal(err)
			}
			w := decide.NewWriter(kafka.TCP(c.Addr()), topic, nil)
			defer w.Close()
			d := newInstance(t, c, memstore.New(), nil, decide.Options{
				Topic: decide.NewTopicReader(kafka.TCP(c.Addr()), topic, transport(t)),
			})
			if err := d.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := d.counter(t, "transferwatch_decisions_topic_compacted"); got != tc.want {
				t.Errorf("transferwatch_decisions_topic_compacted = %v, want %v", got, tc.want)
			}
			warned := strings.Contains(d.logs.String(), "not compacted")
			if warned != (tc.want == 0) {
				t.Errorf("warning logged = %t, want %t:\n%s", warned, tc.want == 0, d.logs.String())
			}
		})
	}
	t.Run("missing topic", func(t *testing.T) {
		d := newInstance(t, c, memstore.New(), nil, decide.Options{
			Topic: decide.NewTopicReader(kafka.TCP(c.Addr()), "no-such-topic", nil),
		})
		if err := d.Start(context.Background()); err == nil {
			t.Error("Start succeeded without a decisions topic to read")
		}
		if got := d.counter(t, "transferwatch_decisions_topic_compacted"); got != 0 {
			t.Errorf("transferwatch_decisions_topic_compacted = %v, want 0", got)
		}
		if !strings.Contains(d.logs.String(), "cannot read the decisions topic's cleanup.policy") {
			t.Errorf("no warning:\n%s", d.logs.String())
		}
	})
}

// TestTopicReaderLatest reads a three-partition topic holding re-announced,
// out-of-order, undecodable and tombstone records: per entity, the highest
// version wins.
func TestTopicReaderLatest(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Options{})
	for topic, partitions := range map[string]int32{decisions: 3, "compacted": 1} {
		if err := c.CreateTopic(topic, partitions, map[string]string{"cleanup.policy": "compact"}); err != nil {
			t.Fatal(err)
		}
	}
	msg := func(entity string, d policy.Decision, v int64) kafka.Message {
		b, err := json.Marshal(decision.Signal{Entity: entity, Decision: d, Version: v, Reasons: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		return kafka.Message{Key: []byte(entity), Value: b}
	}
	var msgs []kafka.Message
	for i, e := range []string{"a", "b", "c", "d", "e", "f"} {
		msgs = append(msgs, msg(e, policy.Allow, 1), msg(e, policy.Block, int64(2+i)), msg(e, policy.Block, int64(2+i)))
	}
	msgs = append(msgs,
		msg("a", policy.Warn, 1),                                                          // an old message arriving late
		kafka.Message{Key: []byte("b"), Value: []byte("{oops")},                           // not JSON
		kafka.Message{Key: []byte("c"), Value: nil},                                       // a tombstone
		kafka.Message{Key: []byte("z"), Value: []byte(`{"decision":"warn","version":4}`)}, // the key names the entity
	)
	c.Produce(decisions, msgs...)
	r := decide.NewTopicReader(kafka.TCP(c.Addr()), decisions, transport(t))
	check := func() {
		t.Helper()
		got, err := r.Latest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{"a": 2, "b": 3, "c": 4, "d": 5, "e": 6, "f": 7, "z": 4}
		if len(got) != len(want) {
			t.Errorf("Latest holds %d entities, want %d: %v", len(got), len(want), got)
		}
		for e, v := range want {
			if got[e].Version != v {
				t.Errorf("%s: version %d, want %d", e, got[e].Version, v)
			}
		}
		if got["a"].Decision != "block" || got["z"].Decision != "warn" {
			t.Errorf("decisions a=%s z=%s", got["a"].Decision, got["z"].Decision)
		}
	}
	check()
	if p, err := r.CleanupPolicy(context.Background()); err != nil || p != "compact" {
		t.Errorf("CleanupPolicy = %q, %v", p, err)
	}

	// A compacted partition has gaps in its offsets; the read ends at the
	// high watermark all the same.
	c.Produce("compacted", msg("x", policy.Allow, 1), msg("y", policy.Warn, 1), msg("x", policy.Block, 2), msg("x", policy.Block, 2))
	c.Compact()
	got, err := decide.NewTopicReader(kafka.TCP(c.Addr()), "compacted", transport(t)).Latest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["x"].Version != 2 || got["x"].Decision != "block" || got["y"].Version != 1 {
		t.Errorf("Latest of the compacted topic = %+v", got)
	}
}
