package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/testutil/redistest"
)

// sensitiveEvents returns events of entity carrying sensitive data of the
// subjects numbered [from, to), 500 to an event.
func sensitiveEvents(t *testing.T, entity string, from, to int) []kafka.Message {
	t.Helper()
	var msgs []kafka.Message
	for lo := from; lo < to; lo += 500 {
		var subjects []string
		for i := lo; i < min(lo+500, to); i++ {
			subjects = append(subjects, fmt.Sprintf("person-%d", i))
		}
		v, err := json.Marshal(map[string]any{
			"occurred_at": time.Now().Format(time.RFC3339), "entity": entity, "recipient": "hq-us",
			"sensitive": true, "subjects": subjects,
		})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Key: []byte(entity), Value: v})
	}
	return msgs
}

// withContract returns the entities section of a configuration giving
// each entity an approved standard contract, filed, valid from 60 days ago
// for about two years.
func withContract(ids ...string) string {
	day := func(d int) string { return time.Now().AddDate(0, 0, d).Format(time.DateOnly) }
	out := "entities:\n"
	for _, id := range ids {
		out += fmt.Sprintf("  - id: %s\n    approvals:\n      - {mechanism: standard_contract, status: approved, reference: SC-%s, valid_from: %s, valid_until: %s, filed_on: %s}\n",
			id, id, day(-60), day(700), day(-60))
	}
	return out
}

type signal struct {
	Entity            string   `json:"entity"`
	Decision          string   `json:"decision"`
	Previous          string   `json:"previous"`
	RequiredMechanism string   `json:"required_mechanism"`
	Policy            string   `json:"policy"`
	Reasons           []string `json:"reasons"`
	DecidedAt         string   `json:"decided_at"`
	Version           int64    `json:"version"`
}

// TestDecisionsAllowWarnBlock drives one entity from allow to warn to block
// under cac-2022 (sensitive-10k) with two instances running, and checks
// that each change is published exactly once and that the API and the
// metrics agree with the decisions topic.
func TestDecisionsAllowWarnBlock(t *testing.T) {
	c := cluster(t, 2)
	rds := redistest.Server(t)
	// A filed standard contract covers personal-any (cac-2022 asks one for
	// any transfer); sensitive-10k needs a security assessment.
	cfg := serviceConfig(t, c.Addr(), rds.Addr(), "tw", "tw", "policy: {preset: cac-2022}\n"+withContract("acme-sh"))
	a := start(t, cfg)
	b := start(t, cfg)
	decision := func(want string) func() bool {
		return func() bool {
			for _, s := range []*service{a, b} {
				// The status, not the decision endpoint: that one answers
				// allow for an entity not evaluated yet.
				code, body := s.get("/v1/entities/acme-sh")
				if code == 200 && strings.Contains(body, `"decision":"`+want+`"`) {
					return true
				}
			}
			return false
		}
	}

	// Both instances announce the configured entity's decision at start,
	// republishing the latest one; their first round (and so that
	// announcement) is done once they answer the decision endpoint. Wait
	// for it, so that an announcement repeats allow v1, not a later change.
	for _, s := range []*service{a, b} {
		eventually(t, "the start-up round done", func() bool {
			code, _ := s.get("/v1/entities/acme-sh/decision")
			return code == 200
		})
	}

	steps := []struct {
		upTo int
		want string
	}{
		{1_000, "allow"},  // 10% of 10,000
		{8_800, "warn"},   // upper bound ≈ 9,000: warning
		{10_400, "block"}, // breached
	}
	from := 0
	for _, st := range steps {
		c.Produce(topic, sensitiveEvents(t, "acme-sh", from, st.upTo)...)
		from = st.upTo
		eventually(t, "decision "+st.want, decision(st.want))
	}

	// Each instance announces the configured entity's decision at start
	// (allow v1, up to twice more); each change is published once.
	var got []signal
	eventually(t, "block v3 on the topic", func() bool {
		got = got[:0]
		for _, m := range c.ReadAll(decTopic, 100, 2*time.Second) {
			var s signal
			if err := json.Unmarshal(m.Value, &s); err != nil {
				t.Fatalf("decisions message is not JSON: %v", err)
			}
			if string(m.Key) != s.Entity {
				t.Errorf("key %q, entity %q", m.Key, s.Entity)
			}
			got = append(got, s)
		}
		return len(got) > 0 && got[len(got)-1].Version == 3
	})
	perVersion := map[int64][]signal{}
	var order []int64
	for _, g := range got {
		if len(perVersion[g.Version]) == 0 {
			order = append(order, g.Version)
		}
		perVersion[g.Version] = append(perVersion[g.Version], g)
	}
	want := []struct {
		decision, previous string
		version            int64
	}{{"allow", "", 1}, {"warn", "allow", 2}, {"block", "warn", 3}}
	if len(order) != len(want) || len(perVersion[2]) != 1 || len(perVersion[3]) != 1 || len(perVersion[1]) > 3 {
		t.Fatalf("decisions topic holds %+v; want allow v1 (at most 3 times), warn v2 and block v3 once each", got)
	}
	for i, w := range want {
		g := perVersion[order[i]][0]
		if g.Decision != w.decision || g.Previous != w.previous || g.Version != w.version || g.Policy != "cac-2022" {
			t.Errorf("message of version %d = %+v, want %+v", order[i], g, w)
		}
	}
	got = []signal{perVersion[1][0], perVersion[2][0], perVersion[3][0]}
	last := got[2]
	if last.RequiredMechanism != "security_assessment" || len(last.Reasons) == 0 || !strings.HasPrefix(last.Reasons[0], "sensitive-10k breached") {
		t.Errorf("block message = %+v", last)
	}
	if _, err := time.Parse(time.RFC3339, last.DecidedAt); err != nil {
		t.Errorf("decided_at: %v", err)
	}

	// The API and the metrics agree with the topic, on both instances once
	// the idle one refreshes; the instance that consumed agrees at once.
	var owner *service
	eventually(t, "an instance whose API says block", func() bool {
		for _, s := range []*service{a, b} {
			if code, body := s.get("/v1/entities/acme-sh"); code == 200 && strings.Contains(body, `"decision":"block"`) {
				owner = s
				return true
			}
		}
		return false
	})
	_, status := owner.get("/v1/entities/acme-sh")
	var st struct {
		Decision string `json:"decision"`
		Rules    []struct {
			ID    string  `json:"id"`
			Level string  `json:"level"`
			Ratio float64 `json:"ratio"`
		} `json:"rules"`
	}
	if err := json.Unmarshal([]byte(status), &st); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range st.Rules {
		if r.ID == "sensitive-10k" {
			found = true
			if r.Level != "breached" || r.Ratio < 1 {
				t.Errorf("sensitive-10k = %+v", r)
			}
		}
	}
	if !found {
		t.Error("no sensitive-10k rule in the status")
	}
	if v := metric(owner, `transferwatch_entity_decision{decision="block",entity="acme-sh"}`); v != 1 {
		t.Errorf("entity_decision block = %v, want 1", v)
	}
	if v := metric(owner, `transferwatch_rule_level{entity="acme-sh",rule="sensitive-10k"}`); v != 4 {
		t.Errorf("rule_level = %v, want 4", v)
	}
	changes := 0.0
	for _, s := range []*service{a, b} {
		for _, d := range []string{"allow", "warn", "block"} {
			changes += metric(s, `transferwatch_decision_changes_total{decision="`+d+`"}`)
		}
	}
	if changes != 3 {
		t.Errorf("decision changes counted by both instances = %v, want 3", changes)
	}
	a.stop()
	b.stop()
}
