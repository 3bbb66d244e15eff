package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/transferwatch/transferwatch/internal/redistest"
)

// TestDecisionFailsClosed: started with Redis down, the service answers
// the decision endpoint 503, never allow, and still gives the configured
// entity a status (not evaluated yet); once Redis is up it answers with the
// decision's version and the time of its figures; when Redis goes away
// again, it answers 503 again within seconds.
func TestDecisionFailsClosed(t *testing.T) {
	c := cluster(t, 1)
	rds := redistest.Server(t)
	rds.Stop()
	svc := start(t, serviceConfig(t, c.Addr(), rds.Addr(), "tw", "tw",
		"entities:\n  - id: acme-sh\n    name: \"Acme (Shanghai) Co., Ltd.\"\n"))

	for _, id := range []string{"acme-sh", "nobody"} {
		code, body := svc.get("/v1/entities/" + id + "/decision")
		var e struct{ Error string }
		if code != 503 || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("decision of %s with Redis down at start = %d %s, want 503 with an error", id, code, body)
		}
	}
	code, body := svc.get("/v1/entities/acme-sh")
	if code != 200 || !strings.Contains(body, `"evaluated":false`) || !strings.Contains(body, `"decision":null`) ||
		!strings.Contains(body, `"name":"Acme (Shanghai) Co., Ltd."`) {
		t.Errorf("status of the configured entity before its first evaluation = %d %s", code, body)
	}

	rds.Start()
	var v struct {
		Decision  string  `json:"decision"`
		Version   int64   `json:"version"`
		DecidedAt *string `json:"decided_at"`
		AsOf      string  `json:"as_of"`
	}
	eventually(t, "a decision once Redis is up", func() bool {
		code, body := svc.get("/v1/entities/acme-sh/decision")
		return code == 200 && json.Unmarshal([]byte(body), &v) == nil
	})
	if v.Decision != "allow" || v.Version != 1 || v.DecidedAt == nil || v.AsOf == "" {
		t.Errorf("decision = %+v, want allow v1 with decided_at and as_of", v)
	}

	rds.Stop()
	eventually(t, "503 once Redis is gone", func() bool {
		code, body := svc.get("/v1/entities/acme-sh/decision")
		return code == 503 && strings.Contains(body, "unreachable")
	})
	rds.Start()
	eventually(t, "a decision once Redis is back", func() bool {
		code, _ := svc.get("/v1/entities/acme-sh/decision")
		return code == 200
	})
	svc.stop()
}
