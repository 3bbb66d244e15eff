package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/kafkatest"
	"github.com/transferwatch/transferwatch/internal/poll"
	"github.com/transferwatch/transferwatch/internal/redistest"
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
