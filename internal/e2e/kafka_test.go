package e2e

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/store/memstore"
	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
	"github.com/transferwatch/transferwatch/internal/testutil/redistest"
)

// TestKafkaTLSAndSASL: against a broker that requires TLS, SASL or both,
// the service configured with kafka.tls and kafka.sasl consumes every
// event, stores the estimates computed locally from the same subjects, and
// its dead-letter writer authenticates too. With a wrong password it is not
// ready, counts nothing and says why in its log.
func TestKafkaTLSAndSASL(t *testing.T) {
	certs := kafkatest.NewCerts(t)
	caFile := filepath.Join(t.TempDir(), "kafka-ca.pem")
	if err := os.WriteFile(caFile, certs.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	rds := redistest.Server(t)
	s := generate(t, 6, 400)
	bad := kafka.Message{Key: []byte("bad"), Value: []byte("not json")}
	msgs := slices.Concat(s.msgs[:200], []kafka.Message{bad}, s.msgs[200:])

	// The test's own clients authenticate as admin with the service's
	// mechanism; the service as its own user.
	cases := []struct {
		name string
		tls  bool
		user kafkatest.User // the service's; no Mechanism: no SASL
		// mechanism is the service's kafka.sasl.mechanism.
		mechanism string
		// envPassword passes the password in TW_KAFKA_SASL_PASSWORD
		// instead of the file.
		envPassword bool
	}{
		{name: "scram-sha-512 over TLS", tls: true, mechanism: "scram-sha-512",
			user: kafkatest.User{Mechanism: kafkatest.ScramSHA512, Name: "transferwatch", Password: "s3cret-512"}},
		{name: "plain over TLS, password from the environment", tls: true, mechanism: "plain", envPassword: true,
			user: kafkatest.User{Mechanism: kafkatest.Plain, Name: "transferwatch", Password: "s3cret-plain"}},
		{name: "scram-sha-256 without TLS", mechanism: "scram-sha-256",
			user: kafkatest.User{Mechanism: kafkatest.ScramSHA256, Name: "transferwatch", Password: "s3cret-256"}},
		{name: "TLS without SASL", tls: true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := kafkatest.Options{Partitions: 2, Topics: []string{topic, dlqTopic, decTopic}}
			var lines []string
			if tc.tls {
				o.ServerTLS, o.ClientTLS = certs.Server, certs.Client
				lines = append(lines, "tls: {enabled: true, ca_file: "+strconv.Quote(caFile)+"}")
			}
			if tc.user.Mechanism != "" {
				o.Users = []kafkatest.User{{Mechanism: tc.user.Mechanism, Name: "admin", Password: "admin-pw"}, tc.user}
				password := tc.user.Password
				if tc.envPassword {
					t.Setenv("TW_KAFKA_SASL_PASSWORD", password)
					password = ""
				}
				lines = append(lines, "sasl: {mechanism: "+tc.mechanism+", username: "+tc.user.Name+
					", password: "+strconv.Quote(password)+"}")
			}
			c := kafkatest.Start(t, o)
			refused(t, c, tc.tls, tc.user.Mechanism != "")

			prefix := "sec" + strconv.Itoa(i)
			svc := start(t, withKafka(t, serviceConfig(t, c.Addr(), rds.Addr(), "tw", prefix, ""), lines...))
			c.Produce(topic, msgs...)
			eventually(t, "every message committed", func() bool { return drained(c, "tw", len(msgs)) })
			assertSame(t, redisFigures(t, rds.Addr(), prefix, s.expect.Entities()), s.expected(t))

			dead := c.ReadAll(dlqTopic, 1, 30*time.Second)
			if len(dead) != 1 || string(dead[0].Key) != "bad" || string(dead[0].Value) != "not json" {
				t.Fatalf("dead-letter topic holds %d messages, want the invalid event", len(dead))
			}
			if h := headers(dead[0]); !strings.HasPrefix(h["tw-error"], "event:") || h["tw-source-offset"] == "" {
				t.Errorf("dead-letter headers = %v", h)
			}
			if code, body := svc.get("/readyz"); code != 200 {
				t.Errorf("/readyz = %d %q, want 200", code, body)
			}
			svc.stop()
		})
	}

	t.Run("wrong password", func(t *testing.T) {
		const wrongPassword = "not-the-password-7f3a"
		c := kafkatest.Start(t, kafkatest.Options{
			Partitions: 2, Topics: []string{topic, dlqTopic, decTopic},
			ServerTLS: certs.Server, ClientTLS: certs.Client,
			Users: []kafkatest.User{
				{Mechanism: kafkatest.ScramSHA512, Name: "admin", Password: "admin-pw"},
				{Mechanism: kafkatest.ScramSHA512, Name: "transferwatch", Password: "right"},
			},
		})
		cfg := withKafka(t, serviceConfig(t, c.Addr(), rds.Addr(), "tw", "wrong", ""),
			"tls: {enabled: true, ca_file: "+strconv.Quote(caFile)+"}",
			"sasl: {mechanism: scram-sha-512, username: transferwatch, password: "+wrongPassword+"}")
		svc := start(t, cfg)
		c.Produce(topic, msgs...)
		// The reader retries on its own, logging two lines per attempt: one
		// more attempt after the events were there shows it tried again and
		// got nothing.
		n := authFailures(svc)
		eventually(t, "two more refused authentications logged", func() bool { return authFailures(svc) >= n+2 })

		if !strings.Contains(svc.log(), "could not successfully authenticate to "+c.Addr()+" with SASL") {
			t.Error("no log line names the broker that refused the credentials")
		}
		code, body := svc.get("/readyz")
		if code != 503 || !strings.Contains(body, "SASL Authentication") {
			t.Errorf("/readyz = %d %q, want 503 naming the SASL failure", code, body)
		}
		if got := accepted(svc); got > 0 {
			t.Errorf("%v events accepted with a wrong password", got)
		}
		for p, off := range c.Committed("tw", topic) {
			if off >= 0 {
				t.Errorf("partition %d: offset %d committed with a wrong password", p, off)
			}
		}
		assertSame(t, redisFigures(t, rds.Addr(), "wrong", s.expect.Entities()), figures(t, memstore.New(), s.expect.Entities()))
		svc.stop()
		if strings.Contains(svc.log(), wrongPassword) {
			t.Error("the log shows the password")
		}
	})
}

// TestBrokerOutage: the broker stops and comes back on the same address
// with the same state, first while the service is idle, then mid-stream
// with events read but not committed. /readyz goes 503 and returns to 200,
// the uncommitted events are read again, and the estimates equal the
// expected ones exactly.
func TestBrokerOutage(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Options{
		Partitions: 3, Topics: []string{topic, dlqTopic, decTopic},
		DataDir: t.TempDir(), // topics, records and committed offsets survive a restart
	})
	rds := redistest.Server(t)
	s := generate(t, 7, 3000)
	// before: committed before the outages; during: read, but the commit
	// fails as the broker goes down; after: produced once it is back.
	before, during, after := s.msgs[:1000], s.msgs[1000:2000], s.msgs[2000:]
	probe := map[int]int64{0: 3, 1: 5, 2: 7} // a group of the test's own, to check what kfake keeps
	c.Commit("probe", topic, probe)
	svc := start(t, serviceConfig(t, c.Addr(), rds.Addr(), "tw", "tw", ""))
	c.Produce(topic, before...)
	eventually(t, "the first part committed", func() bool { return drained(c, "tw", len(before)) })

	// Idle: no flush fails, so only the readiness check's dial can notice.
	c.Stop()
	eventually(t, "/readyz answers 503 naming Kafka", func() bool {
		code, body := svc.get("/readyz")
		return code == 503 && strings.Contains(body, "kafka: no broker answers")
	})
	c.Restart()
	eventually(t, "/readyz answers 200 after the first outage", func() bool { code, _ := svc.get("/readyz"); return code == 200 })

	// Mid-stream: the broker refuses the commit of the second part, as one
	// going down may, then stops. /readyz may name the failed flush first.
	refusedCommits := c.RefuseCommits()
	c.Produce(topic, during...)
	eventually(t, "a commit of the second part", func() bool { return refusedCommits() > 0 })
	c.Stop()
	eventually(t, "/readyz answers 503", func() bool { code, _ := svc.get("/readyz"); return code == 503 })
	c.Restart()
	// kfake kept the records and the committed offsets (those of the
	// service may have moved on already; those of the probe group cannot).
	if got := len(c.ReadAll(topic, len(before)+len(during), 30*time.Second)); got != len(before)+len(during) {
		t.Fatalf("after the restart the topic holds %d records, want %d", got, len(before)+len(during))
	}
	if got := c.Committed("probe", topic); !maps.Equal(got, probe) {
		t.Fatalf("after the restarts the probe group has offsets %v, want %v", got, probe)
	}
	if got := committedSum(c); got < int64(len(before)) {
		t.Fatalf("after the restart the service's group has committed %d messages, want at least %d", got, len(before))
	}
	eventually(t, "/readyz answers 200 after the second outage", func() bool { code, _ := svc.get("/readyz"); return code == 200 })

	c.Produce(topic, after...)
	eventually(t, "every message committed", func() bool { return drained(c, "tw", len(s.msgs)) })
	assertSame(t, redisFigures(t, rds.Addr(), "tw", s.expect.Entities()), s.expected(t))
	// Read more often than sent, counted once.
	if got := accepted(svc); got <= float64(len(s.msgs)) {
		t.Errorf("%v events accepted, want more than %d: the uncommitted ones again", got, len(s.msgs))
	}
	// /readyz may answer 200 while the first flush after the outage is
	// still failing; once everything is committed it must.
	if code, body := svc.get("/readyz"); code != 200 {
		t.Errorf("/readyz = %d %q after recovery, want 200", code, body)
	}
	svc.stop()
}

// withKafka adds lines (YAML at the level of kafka.brokers) to the kafka
// section of a file written by serviceConfig, and returns its path.
func withKafka(t *testing.T, path string, lines ...string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block := "kafka:\n"
	for _, l := range lines {
		block += "  " + l + "\n"
	}
	cfg := strings.Replace(string(b), "kafka:\n", block, 1)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// refused checks that the broker turns away a client without TLS and
// without credentials when it requires either, so that a passing test
// means the service used them.
func refused(t *testing.T, c *kafkatest.Cluster, withTLS, withSASL bool) {
	t.Helper()
	if !withTLS && !withSASL {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", c.Addr())
	if err != nil {
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.ReadPartitions(topic); err == nil {
		t.Fatalf("the broker answers a client without TLS or credentials (tls %t, sasl %t)", withTLS, withSASL)
	}
}

// authFailures counts the log lines that report a refused SASL
// authentication.
func authFailures(s *service) int { return strings.Count(s.log(), "SASL Authentication Failed") }

func committedSum(c *kafkatest.Cluster) int64 {
	sum := int64(0)
	for _, off := range c.Committed("tw", topic) {
		sum += max(off, 0)
	}
	return sum
}
