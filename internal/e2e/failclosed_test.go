package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
	"github.com/transferwatch/transferwatch/internal/testutil/poll"
	"github.com/transferwatch/transferwatch/internal/testutil/redistest"
)

// TestBrokerRestartResumes: a broker that goes away for 3 seconds and comes
// back leaves the instance alive, and counting resumes within 10 seconds
// of the broker's return, losing nothing.
func TestBrokerRestartResumes(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Options{
		Partitions: 2, Topics: []string{topic, dlqTopic, decTopic}, DataDir: t.TempDir(),
	})
	rds := redistest.Server(t)
	s := generate(t, 11, 2000)
	svc := start(t, serviceConfig(t, c.Addr(), rds.Addr(), "tw", "tw", ""))
	c.Produce(topic, s.msgs[:1000]...)
	eventually(t, "the first half committed", func() bool { return drained(c, "tw", 1000) })

	c.Stop()
	time.Sleep(3 * time.Second) // the length of the outage, not a wait for an event
	c.Restart()
	c.Produce(topic, s.msgs[1000:]...)
	poll.Until(t, 10*time.Second, "every message committed within 10 s of the broker's return", func() bool {
		return drained(c, "tw", len(s.msgs))
	})
	assertSame(t, redisFigures(t, rds.Addr(), "tw", s.expect.Entities()), s.expected(t))
	if code, _ := svc.get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d after the outage", code)
	}
	eventually(t, "/readyz 200", func() bool { code, _ := svc.get("/readyz"); return code == 200 })
	svc.stop()
}

// TestKilledInstanceReplaced: an instance killed with SIGKILL and started
// again is not ready until the group gave it the partitions, and consumes
// again within about kafka.session_timeout.
func TestKilledInstanceReplaced(t *testing.T) {
	c := cluster(t, 2)
	rds := redistest.Server(t)
	s := generate(t, 12, 1000)
	cfg := withKafka(t, serviceConfig(t, c.Addr(), rds.Addr(), "tw", "tw", ""), "session_timeout: 6s")
	a := start(t, cfg)
	c.Produce(topic, s.msgs[:500]...)
	eventually(t, "the first half committed", func() bool { return drained(c, "tw", 500) })
	a.kill()
	killed := time.Now()

	b := start(t, cfg)
	// The group waits for the dead member's session to end: meanwhile the
	// new instance holds no partition and says so.
	code, body := b.get("/readyz")
	if code != 503 || !strings.Contains(body, "consumer") {
		t.Errorf("/readyz = %d %q right after start; want 503 naming the consumer", code, body)
	}
	c.Produce(topic, s.msgs[500:]...)
	poll.Until(t, 6*time.Second+10*time.Second, "consuming again within about the session timeout", func() bool {
		return drained(c, "tw", len(s.msgs))
	})
	t.Logf("consumed again %s after the kill (session timeout 6s)", time.Since(killed).Round(100*time.Millisecond))
	eventually(t, "/readyz 200", func() bool { code, _ := b.get("/readyz"); return code == 200 })
	assertSame(t, redisFigures(t, rds.Addr(), "tw", s.expect.Entities()), s.expected(t))
	b.stop()
}

// decisionWatch asks an instance's decision endpoint for an entity again
// and again, from start until stop, and remembers every answer other than
// a 200 "block" and a 503: a pipeline asking at any moment.
type decisionWatch struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	bad  []string
	n503 int
}

func watchDecision(s *service, entity string) *decisionWatch {
	w := &decisionWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			code, body := s.get("/v1/entities/" + entity + "/decision")
			w.mu.Lock()
			switch {
			case code == 503:
				w.n503++
			case code == 200 && strings.Contains(body, `"decision":"block"`):
			case code == 0:
				// the instance is being stopped
			default:
				w.bad = append(w.bad, fmt.Sprintf("%d %s", code, body))
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *decisionWatch) end() (bad []string, n503 int) {
	close(w.stop)
	<-w.done
	return w.bad, w.n503
}

// lastDecisions returns the last decisions message of each entity.
func lastDecisions(t *testing.T, c *kafkatest.Cluster, atLeast int) map[string]signal {
	t.Helper()
	out := map[string]signal{}
	for _, m := range c.ReadAll(decTopic, atLeast, 10*time.Second) {
		var s signal
		if err := json.Unmarshal(m.Value, &s); err != nil {
			t.Fatal(err)
		}
		if prev, ok := out[s.Entity]; ok && s.Version < prev.Version {
			t.Errorf("decisions of %s went backwards on the topic: version %d after %d", s.Entity, s.Version, prev.Version)
		}
		out[s.Entity] = s
	}
	return out
}

// TestRedisEmptiedNeverAllows: an entity at block; Redis restarts empty
// (no persistence). The entity never answers allow: the decision endpoint
// says 503 until the events are read again, transferwatch_store_ok drops
// to 0, nothing goes backwards on the topic, and the figures come back
// equal to an uninterrupted run's. Then a backup taken earlier is
// restored: the service reads what the backup lacks and again ends equal.
func TestRedisEmptiedNeverAllows(t *testing.T) {
	c := cluster(t, 2)
	rds := redistest.Server(t)
	policy := "policy: {preset: cac-2022}\n"
	ref := start(t, serviceConfig(t, c.Addr(), rds.Addr(), "ref", "ref", policy))
	svc := start(t, serviceConfig(t, c.Addr(), rds.Addr(), "tw", "tw", policy))
	isBlock := func() bool {
		code, body := svc.get("/v1/entities/acme-sh/decision")
		return code == 200 && strings.Contains(body, `"decision":"block"`)
	}
	c.Produce(topic, sensitiveEvents(t, "acme-sh", 0, 10_400)...)
	eventually(t, "block", isBlock)
	eventually(t, "everything committed", func() bool { return drained(c, "tw", 21) && drained(c, "ref", 21) })
	before := lastDecisions(t, c, 1)["acme-sh"]
	backup := rds.Backup()

	w := watchDecision(svc, "acme-sh")
	c.Produce(topic, sensitiveEvents(t, "acme-sh", 10_400, 11_000)...)
	eventually(t, "the new events committed", func() bool { return drained(c, "tw", 23) && drained(c, "ref", 23) })
	rds.RestartWith(nil) // Redis back, empty
	eventually(t, "transferwatch_store_ok 0", func() bool { return metric(svc, "transferwatch_store_ok") == 0 })
	eventually(t, "store_ok back to 1 after the replay", func() bool { return metric(svc, "transferwatch_store_ok") == 1 })
	eventually(t, "block again", isBlock)
	entities := []string{"acme-sh"}
	eventually(t, "figures equal to an uninterrupted run", func() bool {
		return fmt.Sprint(redisFigures(t, rds.Addr(), "tw", entities)) == fmt.Sprint(redisFigures(t, rds.Addr(), "ref", entities)) &&
			redisFigures(t, rds.Addr(), "tw", entities)["acme-sh/sensitive/true"].Estimate > 10_000
	})

	// The backup: older than what the group committed since.
	rds.RestartWith(backup)
	eventually(t, "transferwatch_store_ok 0 after the restore", func() bool { return metric(svc, "transferwatch_store_ok") == 0 })
	eventually(t, "store_ok back to 1", func() bool { return metric(svc, "transferwatch_store_ok") == 1 })
	eventually(t, "block after the restore", isBlock)
	bad, n503 := w.end()
	if len(bad) > 0 {
		t.Errorf("the decision endpoint answered %d times other than block or 503, first %q", len(bad), bad[0])
	}
	if n503 == 0 {
		t.Error("the decision endpoint never answered 503 while the store was incomplete")
	}
	assertSame(t, redisFigures(t, rds.Addr(), "tw", entities), redisFigures(t, rds.Addr(), "ref", entities))
	after := lastDecisions(t, c, 1)["acme-sh"]
	if after.Decision != "block" || after.Version < before.Version {
		t.Errorf("last decision on the topic %+v; before the loss %+v", after, before)
	}
	ref.stop()
	svc.stop()
}

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
	withheld(t, svc, "with Redis down at start")
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
	withheld(t, svc, "with Redis gone")
	rds.Start()
	eventually(t, "a decision once Redis is back", func() bool {
		code, _ := svc.get("/v1/entities/acme-sh/decision")
		return code == 200
	})
	svc.stop()
}

// withheld checks that while the decision endpoint answers 503, neither the
// evidence pack nor the console states a decision: the pack answers 503
// too, and the console's Entities page shows why decisions are withheld
// and no entity as allowed.
func withheld(t *testing.T, svc *service, when string) {
	t.Helper()
	if code, body := svc.get("/v1/entities/acme-sh/report?format=json"); code != 503 || strings.Contains(body, `"allow"`) {
		t.Errorf("evidence pack %s = %d %.200s, want 503", when, code, body)
	}
	code, body := svc.get("/ui/")
	if code != 200 || !strings.Contains(body, `id="withheld"`) || strings.Contains(body, `data-decision="allow"`) {
		t.Errorf("console %s = %d, withheld banner %t, an entity shown allowed %t", when, code,
			strings.Contains(body, `id="withheld"`), strings.Contains(body, `data-decision="allow"`))
	}
	if code, _ := svc.get("/ui/entities/acme-sh"); code != 503 {
		t.Errorf("console entity page %s = %d, want 503", when, code)
	}
}

// TestStoreStatusAndAcceptLoss: Redis comes back empty and Kafka no longer
// holds the oldest events. `transferwatch store status` says, per
// partition, what is lost; `accept-loss --dry-run` records nothing;
// `accept-loss` records the loss, and the service counts again from the
// oldest events Kafka holds.
func TestStoreStatusAndAcceptLoss(t *testing.T) {
	c := cluster(t, 1)
	rds := redistest.Server(t)
	cfg := serviceConfig(t, c.Addr(), rds.Addr(), "tw", "tw", "entities:\n  - id: acme-sh\n")
	s := generate(t, 13, 100)
	c.Produce(topic, s.msgs...)
	svc := start(t, cfg)
	eventually(t, "everything committed", func() bool { return drained(c, "tw", len(s.msgs)) })
	svc.stop()
	c.DeleteRecords(topic, 0, 40) // retention took offsets 0-39
	rds.RestartWith(nil)

	code, out, errOut := cli(t, nil, "store", "status", "--config", cfg)
	if code != 0 || !strings.Contains(out, "LOST: 40 events counted nowhere (offsets 0 to 39)") {
		t.Fatalf("store status = %d\n%s%s", code, out, errOut)
	}

	// While the loss waits for an operator, nothing states a decision: the
	// report command refuses, and so does the service.
	code, out, errOut = cli(t, nil, "report", "--config", cfg, "--entity", "acme-sh", "--out", t.TempDir())
	if code != 1 || !strings.Contains(errOut, "store status") {
		t.Errorf("report from a store that lost data = %d\n%s%s", code, out, errOut)
	}
	svc = start(t, cfg)
	eventually(t, "transferwatch_store_ok 0", func() bool { return metric(svc, "transferwatch_store_ok") == 0 })
	withheld(t, svc, "while the loss waits for accept-loss")
	svc.stop()

	code, out, _ = cli(t, nil, "store", "accept-loss", "--config", cfg, "--dry-run")
	if code != 0 || !strings.Contains(out, "dry run: nothing recorded") {
		t.Fatalf("accept-loss --dry-run = %d\n%s", code, out)
	}
	if _, out, _ = cli(t, nil, "store", "status", "--config", cfg); !strings.Contains(out, "LOST") {
		t.Fatalf("the dry run recorded something:\n%s", out)
	}
	code, out, _ = cli(t, nil, "store", "accept-loss", "--config", cfg, "--reason", "INC-1: no backup")
	if code != 0 || !strings.Contains(out, "recorded the loss of partition 0 offsets 0 to 39 (40 events)") {
		t.Fatalf("accept-loss = %d\n%s", code, out)
	}
	code, out, _ = cli(t, nil, "store", "status", "--config", cfg)
	if code != 0 || strings.Contains(out, "LOST") || !strings.Contains(out, "(INC-1: no backup)") {
		t.Fatalf("store status after accept-loss = %d\n%s", code, out)
	}

	svc = start(t, cfg)
	eventually(t, "ready again", func() bool { code, _ := svc.get("/readyz"); return code == 200 })
	eventually(t, "the 60 events Kafka holds counted again", func() bool {
		return metric(svc, `transferwatch_events_total{result="accepted"}`) >= 60
	})
	svc.stop()
}
