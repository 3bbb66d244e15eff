package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/testutil/redistest"
)

// TestLawThroughKafkaAndRedis runs issue 11's cases through Kafka, Redis,
// the API and the decisions topic under the default preset, cac-2024: a
// CIIO without a security assessment is blocked before its first transfer;
// important data exempt under hr blocks; an unfiled standard contract
// covers nothing, a filed one covers.
func TestLawThroughKafkaAndRedis(t *testing.T) {
	c := cluster(t, 1)
	rds := redistest.Server(t)
	day := func(d int) string { return time.Now().AddDate(0, 0, d).Format(time.DateOnly) }
	svc := start(t, serviceConfig(t, c.Addr(), rds.Addr(), "tw", "tw", fmt.Sprintf(`entities:
  - id: grid-sh
    ciio: true
  - id: acme-hr
  - id: acme-unfiled
    approvals:
      - {mechanism: standard_contract, status: approved, reference: SC-UNFILED, valid_from: %[1]s, valid_until: %[2]s}
  - id: acme-filed
    approvals:
      - {mechanism: standard_contract, status: approved, reference: SC-FILED, valid_from: %[1]s, valid_until: %[2]s, filed_on: %[1]s}
`, day(-60), day(700))))
	status := func(id string) map[string]any {
		code, body := svc.get("/v1/entities/" + id)
		if code != 200 {
			return nil
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("status of %s: %v", id, err)
		}
		return m
	}
	reasonWith := func(m map[string]any, part string) bool {
		rs, _ := m["reasons"].([]any)
		for _, r := range rs {
			if s, _ := r.(string); strings.Contains(s, part) {
				return true
			}
		}
		return false
	}

	// The CIIO, before any event.
	eventually(t, "grid-sh blocked before its first transfer", func() bool {
		m := status("grid-sh")
		return m != nil && m["decision"] == "block" && m["required_mechanism"] == "security_assessment" &&
			reasonWith(m, "needs a security assessment before its first outbound transfer")
	})

	event := func(entity string, fields map[string]any) kafka.Message {
		v := map[string]any{"occurred_at": time.Now().Format(time.RFC3339), "entity": entity, "recipient": "hq-us",
			"subjects": []string{"p-1", "p-2", "p-3"}}
		maps.Copy(v, fields)
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return kafka.Message{Key: []byte(entity), Value: b}
	}
	c.Produce(topic,
		event("acme-hr", map[string]any{"exemption": "hr", "important_data": true}),
		event("acme-unfiled", map[string]any{"sensitive": true}),
		event("acme-filed", map[string]any{"sensitive": true}),
	)
	eventually(t, "acme-hr blocked for important data exempt under hr", func() bool {
		m := status("acme-hr")
		return m != nil && m["decision"] == "block" && reasonWith(m, "important-data breached")
	})
	eventually(t, "acme-unfiled blocked: its contract was not filed", func() bool {
		m := status("acme-unfiled")
		return m != nil && m["decision"] == "block" && reasonWith(m, "not filed within 10 working days")
	})
	eventually(t, "acme-filed allowed under its filed contract", func() bool {
		m := status("acme-filed")
		return m != nil && m["decision"] == "allow" && reasonWith(m, "covered by SC-FILED")
	})

	// The decisions topic says the same.
	last := map[string]signal{}
	eventually(t, "the decisions topic", func() bool {
		for _, m := range c.ReadAll(decTopic, 100, 3*time.Second) { // all there is
			var s signal
			if json.Unmarshal(m.Value, &s) == nil {
				last[s.Entity] = s
			}
		}
		return last["grid-sh"].Decision == "block" && last["acme-hr"].Decision == "block" &&
			last["acme-unfiled"].Decision == "block" && last["acme-filed"].Decision == "allow"
	})
}
