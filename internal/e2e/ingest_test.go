package e2e

import (
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/testutil/redistest"
)

// TestEndToEnd: events published by kcat (librdkafka) and by kafka-go reach
// the service as it runs in production, and the estimates it stores equal
// the ones computed locally from the same subjects.
func TestEndToEnd(t *testing.T) {
	c := cluster(t, 3)
	rds := redistest.Server(t)
	s := generate(t, 1, 600)
	svc := start(t, serviceConfig(t, c.Addr(), rds.Addr(), "tw", "tw", ""))

	half := len(s.msgs) / 2
	c.Produce(topic, s.msgs[:half]...)
	var in bytes.Buffer
	for _, m := range s.msgs[half:] {
		fmt.Fprintf(&in, "%s\t%s\n", m.Key, m.Value)
	}
	kcat := exec.Command("kcat", "-P", "-b", c.Addr(), "-t", topic, "-K", "\t")
	kcat.Stdin = &in
	if out, err := kcat.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}

	eventually(t, "every message committed", func() bool { return drained(c, "tw", len(s.msgs)) })
	assertSame(t, redisFigures(t, rds.Addr(), "tw", s.expect.Entities()), s.expected(t))

	code, body := svc.get("/metrics")
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`transferwatch_events_total{result="accepted"} %d`, len(s.msgs))) {
		t.Errorf("metrics do not count %d accepted events:\n%s", len(s.msgs), grep(body, "transferwatch_events_total"))
	}
	eventually(t, "the API lists the entities", func() bool {
		code, body := svc.get("/v1/entities")
		return code == 200 && strings.Contains(body, `"entity":"acme-sh"`) && strings.Contains(body, `"entity":"delta-sz"`)
	})
	if code, _ := svc.get("/readyz"); code != 200 {
		t.Errorf("/readyz = %d, want 200", code)
	}
	svc.stop()
}

// TestInvalidEventsGoToDeadLetters: every kind of bad message lands on the
// dead-letter topic with its key, value and the contract's headers, and
// consumption goes on past it.
func TestInvalidEventsGoToDeadLetters(t *testing.T) {
	c := cluster(t, 1)
	rds := redistest.Server(t)
	svc := start(t, serviceConfig(t, c.Addr(), rds.Addr(), "tw", "tw", ""))

	future := time.Now().Add(48 * time.Hour).Format(time.RFC3339)
	valid := `{"occurred_at":"` + time.Now().Format(time.RFC3339) + `","entity":"acme-sh","recipient":"r","subjects":["a"]}`
	bad := []struct{ name, value, field string }{
		{"not JSON", `this is not json`, "event"},
		{"wrong type", `{"occurred_at":"2026-01-01T00:00:00Z","entity":"acme-sh","recipient":"r","subjects":"a"}`, "subjects"},
		{"missing entity", `{"occurred_at":"2026-01-01T00:00:00Z","recipient":"r","subjects":["a"]}`, "entity"},
		{"missing subjects", `{"occurred_at":"2026-01-01T00:00:00Z","entity":"acme-sh","recipient":"r"}`, "subjects"},
		{"future", `{"occurred_at":"` + future + `","entity":"acme-sh","recipient":"r","subjects":["a"]}`, "occurred_at"},
		{"too large", `{"occurred_at":"2026-01-01T00:00:00Z","entity":"acme-sh","recipient":"r","subjects":["a"],"pad":"` + strings.Repeat("x", 1<<20) + `"}`, "event"},
	}
	var msgs []kafka.Message
	for i, b := range bad {
		msgs = append(msgs, kafka.Message{Key: []byte("k" + strconv.Itoa(i)), Value: []byte(b.value),
			Headers: []kafka.Header{{Key: "trace", Value: []byte(b.name)}}})
	}
	msgs = append(msgs, kafka.Message{Key: []byte("acme-sh"), Value: []byte(valid)})
	c.Produce(topic, msgs...)

	eventually(t, "every message committed", func() bool { return drained(c, "tw", len(msgs)) })
	dead := c.ReadAll(dlqTopic, len(bad), 30*time.Second)
	if len(dead) != len(bad) {
		t.Fatalf("dead-letter topic holds %d messages, want %d", len(dead), len(bad))
	}
	for i, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			var m kafka.Message
			for _, d := range dead {
				if string(d.Key) == "k"+strconv.Itoa(i) {
					m = d
				}
			}
			if m.Key == nil {
				t.Fatal("not on the dead-letter topic")
			}
			if !bytes.Equal(m.Value, []byte(b.value)) {
				t.Error("value changed")
			}
			h := headers(m)
			if h["trace"] != b.name {
				t.Error("original header lost")
			}
			if !strings.HasPrefix(h["tw-error"], b.field+":") || strings.Contains(h["tw-error"], "\n") {
				t.Errorf("tw-error = %q, want one line naming %s", h["tw-error"], b.field)
			}
			if h["tw-source-topic"] != topic || h["tw-source-partition"] != "0" || h["tw-source-offset"] != strconv.Itoa(i) {
				t.Errorf("source headers = %v", h)
			}
		})
	}
	_, body := svc.get("/metrics")
	for _, want := range []string{
		fmt.Sprintf(`transferwatch_events_total{result="invalid"} %d`, len(bad)),
		`transferwatch_events_total{result="accepted"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, grep(body, "transferwatch_events_total"))
		}
	}
}

// TestCrashRecovery: a service killed with SIGKILL mid-stream and restarted
// ends with estimates identical to a run that was never interrupted.
func TestCrashRecovery(t *testing.T) {
	c := cluster(t, 3)
	rds := redistest.Server(t)
	s := generate(t, 2, 3000)
	first, second := s.msgs[:1500], s.msgs[1500:]

	// The reference: one uninterrupted run over the whole stream.
	c.Produce(topic, first...)
	ref := start(t, serviceConfig(t, c.Addr(), rds.Addr(), "ref", "ref", ""))

	// The crashed run, on its own group and keys.
	cfg := serviceConfig(t, c.Addr(), rds.Addr(), "crash", "crash", "")
	crash := start(t, cfg)
	eventually(t, "a first commit", func() bool {
		for _, off := range c.Committed("crash", topic) {
			if off > 0 {
				return true
			}
		}
		return false
	})
	crash.kill()
	c.Produce(topic, second...)
	crash = start(t, cfg)

	eventually(t, "the reference drained", func() bool { return drained(c, "ref", len(s.msgs)) })
	eventually(t, "the restarted run drained", func() bool { return drained(c, "crash", len(s.msgs)) })
	want := redisFigures(t, rds.Addr(), "ref", s.expect.Entities())
	assertSame(t, redisFigures(t, rds.Addr(), "crash", s.expect.Entities()), want)
	assertSame(t, want, s.expected(t))
	ref.stop()
	crash.stop()
}

// TestTwoInstances: two instances of one consumer group share the
// partitions; one stopping mid-stream changes nothing in the result.
func TestTwoInstances(t *testing.T) {
	c := cluster(t, 4)
	rds := redistest.Server(t)
	s := generate(t, 3, 3000)
	cfg := serviceConfig(t, c.Addr(), rds.Addr(), "pair", "pair", "")
	a := start(t, cfg)
	b := start(t, cfg)
	eventually(t, "a stable group of two, each with partitions", func() bool {
		n := c.Assignments("pair")
		return len(n) == 2 && n[0] > 0 && n[1] > 0
	})

	c.Produce(topic, s.msgs[:1000]...)
	eventually(t, "both instances consumed", func() bool {
		return accepted(a) > 0 && accepted(b) > 0 && drained(c, "pair", 1000)
	})
	b.stop() // mid-stream: its partitions move to a
	c.Produce(topic, s.msgs[1000:]...)
	eventually(t, "the group drained", func() bool { return drained(c, "pair", len(s.msgs)) })
	assertSame(t, redisFigures(t, rds.Addr(), "pair", s.expect.Entities()), s.expected(t))
	a.stop()
}

// TestRedisOutage: Redis stopped for several seconds mid-stream and started
// again: /readyz goes 503 and comes back, nothing is lost.
func TestRedisOutage(t *testing.T) {
	c := cluster(t, 2)
	// A save point, so that the restarted server has the data again, as a
	// production Redis with persistence would.
	rds := redistest.Server(t, "--save", "3600 1")
	s := generate(t, 4, 2000)
	svc := start(t, serviceConfig(t, c.Addr(), rds.Addr(), "tw", "tw", ""))

	c.Produce(topic, s.msgs[:1000]...)
	eventually(t, "the first half committed", func() bool { return drained(c, "tw", 1000) })
	rds.Stop()
	c.Produce(topic, s.msgs[1000:]...)
	eventually(t, "/readyz answers 503", func() bool { code, _ := svc.get("/readyz"); return code == 503 })
	eventually(t, "several failed flushes", func() bool { return metric(svc, "transferwatch_flush_errors_total") >= 3 })
	// The lag counts what is not in the store yet, though it was read.
	eventually(t, "the consumer lag to show the waiting events", func() bool { return lagSum(svc) >= 1000 })
	if drained(c, "tw", len(s.msgs)) {
		t.Fatal("offsets were committed while Redis was down")
	}
	rds.Start()
	eventually(t, "/readyz answers 200 again", func() bool { code, _ := svc.get("/readyz"); return code == 200 })
	eventually(t, "every message committed", func() bool { return drained(c, "tw", len(s.msgs)) })
	assertSame(t, redisFigures(t, rds.Addr(), "tw", s.expect.Entities()), s.expected(t))
	svc.stop()
}

func headers(m kafka.Message) map[string]string {
	out := make(map[string]string)
	for _, h := range m.Headers {
		out[h.Key] = string(h.Value)
	}
	return out
}

func grep(body, prefix string) string {
	var out []string
	for l := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// metric returns the value of an unlabelled metric (or the first series).
func metric(s *service, name string) float64 {
	_, body := s.get("/metrics")
	for l := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(l, name+" ") || strings.HasPrefix(l, name+"{") {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			return v
		}
	}
	return -1
}

// lagSum returns the sum of transferwatch_consumer_lag over partitions.
func lagSum(s *service) float64 {
	_, body := s.get("/metrics")
	sum := 0.0
	for l := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(l, "transferwatch_consumer_lag{") {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

func accepted(s *service) float64 { return metric(s, `transferwatch_events_total{result="accepted"}`) }

// TestStartWithRedisDown: a service started while Redis is down is alive
// (/healthz 200) and not ready (/readyz 503), and once Redis comes up it
// becomes ready and counts everything that waited.
func TestStartWithRedisDown(t *testing.T) {
	c := cluster(t, 1)
	rds := redistest.Server(t)
	rds.Stop()
	s := generate(t, 5, 200)
	c.Produce(topic, s.msgs...)
	svc := start(t, serviceConfig(t, c.Addr(), rds.Addr(), "tw", "tw", ""))
	if code, _ := svc.get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d while Redis is down, want 200", code)
	}
	if code, _ := svc.get("/readyz"); code != 503 {
		t.Errorf("/readyz = %d while Redis is down, want 503", code)
	}
	rds.Start()
	eventually(t, "/readyz answers 200", func() bool { code, _ := svc.get("/readyz"); return code == 200 })
	eventually(t, "every message committed", func() bool { return drained(c, "tw", len(s.msgs)) })
	assertSame(t, redisFigures(t, rds.Addr(), "tw", s.expect.Entities()), s.expected(t))
	svc.stop()
}
