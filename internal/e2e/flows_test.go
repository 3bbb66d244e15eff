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

// transfers returns events of entity to recipient in destination carrying
// the subjects numbered [from, to), 500 to an event.
func transfers(t *testing.T, entity, recipient, destination string, from, to int) []kafka.Message {
	t.Helper()
	var msgs []kafka.Message
	for lo := from; lo < to; lo += 500 {
		var subjects []string
		for i := lo; i < min(lo+500, to); i++ {
			subjects = append(subjects, fmt.Sprintf("member-%d", i))
		}
		v, err := json.Marshal(map[string]any{
			"occurred_at": time.Now().Format(time.RFC3339), "entity": entity, "recipient": recipient,
			"destination": destination, "subjects": subjects, "pipeline": "loyalty-sync",
		})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Key: []byte(entity), Value: v})
	}
	return msgs
}

// TestScopeBlocksNewRecipient: an entity under cac-2024 past 100,000
// people, whose filed standard contract is scoped to its US recipient, is
// allowed; when it starts sending to a new recipient in Singapore, the
// entity turns block with the scope reason, through Kafka, Redis, the API
// (status and flows) and the decisions topic.
func TestScopeBlocksNewRecipient(t *testing.T) {
	c := cluster(t, 2)
	rds := redistest.Server(t)
	day := func(d int) string { return time.Now().AddDate(0, 0, d).Format(time.DateOnly) }
	cfg := serviceConfig(t, c.Addr(), rds.Addr(), "tw", "tw", fmt.Sprintf(`entities:
  - id: orbit-sh
    approvals:
      - mechanism: standard_contract
        status: approved
        reference: SC-ORBIT-1
        valid_from: %s
        valid_until: %s
        filed_on: %s
        scope: {recipients: [orbit-inc-us], destinations: [US], categories: [personal]}
`, day(-60), day(700), day(-60)))
	s := start(t, cfg)
	status := func(want ...string) func() bool {
		return func() bool {
			code, body := s.get("/v1/entities/orbit-sh")
			if code != 200 {
				return false
			}
			for _, w := range want {
				if !strings.Contains(body, w) {
					return false
				}
			}
			return true
		}
	}

	c.Produce(topic, transfers(t, "orbit-sh", "orbit-inc-us", "US", 0, 101_000)...)
	eventually(t, "allow, personal-100k breached and covered", status(`"decision":"allow"`, `"flows_total":1,"flows_outside_scope":0`,
		`"id":"personal-100k"`, `"covered":true`))

	c.Produce(topic, transfers(t, "orbit-sh", "newco-sg", "SG", 200_000, 202_000)...)
	reason := "scope breached: transfer to newco-sg (SG), personal, "
	eventually(t, "block with the scope reason", status(`"decision":"block"`, `"flows_total":2,"flows_outside_scope":1`,
		reason, "is outside the scope of SC-ORBIT-1", `"required_mechanism":"standard_contract"`))

	code, body := s.get("/v1/entities/orbit-sh/flows")
	var flows struct {
		Entity string `json:"entity"`
		Flows  []struct {
			Recipient   string   `json:"recipient"`
			Destination string   `json:"destination"`
			Category    string   `json:"category"`
			Pipelines   []string `json:"pipelines"`
			Estimate    uint64   `json:"estimate"`
			Events      uint64   `json:"events"`
			Approvals   []string `json:"approvals"`
			InsideScope bool     `json:"inside_scope"`
		} `json:"flows"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &flows) != nil || len(flows.Flows) != 2 {
		t.Fatalf("GET flows = %d %s", code, body)
	}
	sg, us := flows.Flows[0], flows.Flows[1] // sorted by recipient
	if us.Recipient != "orbit-inc-us" || !us.InsideScope || len(us.Approvals) != 1 || us.Approvals[0] != "SC-ORBIT-1" ||
		us.Events != 202 || us.Estimate < 98_000 || us.Estimate > 104_000 || us.Pipelines[0] != "loyalty-sync" {
		t.Errorf("US flow %+v", us)
	}
	if sg.Recipient != "newco-sg" || sg.Destination != "SG" || sg.Category != "personal" || sg.InsideScope ||
		len(sg.Approvals) != 0 || sg.Events != 4 || sg.Estimate < 1_950 || sg.Estimate > 2_050 {
		t.Errorf("SG flow %+v", sg)
	}

	eventually(t, "block with the scope reason on the decisions topic", func() bool {
		msgs := c.ReadAll(decTopic, 100, 2*time.Second)
		if len(msgs) == 0 {
			return false
		}
		var last signal
		if err := json.Unmarshal(msgs[len(msgs)-1].Value, &last); err != nil {
			t.Fatalf("decisions message is not JSON: %v", err)
		}
		if last.Decision != "block" || last.Entity != "orbit-sh" {
			return false
		}
		for _, r := range last.Reasons {
			if strings.HasPrefix(r, reason) && strings.HasSuffix(r, "is outside the scope of SC-ORBIT-1") {
				return true
			}
		}
		t.Fatalf("block without the scope reason: %q", last.Reasons)
		return false
	})
	code, body = s.get("/metrics")
	if code != 200 || !strings.Contains(body, `transferwatch_flows{entity="orbit-sh"} 2`) ||
		!strings.Contains(body, `transferwatch_flows_outside_scope{entity="orbit-sh"} 1`) {
		t.Errorf("metrics lack the flow gauges of orbit-sh")
	}
}
