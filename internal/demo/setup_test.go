package demo

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/config"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tw.yaml")
	if err := os.WriteFile(file, []byte(`
policy: {preset: cac-2022}
http: {addr: "127.0.0.1:9999"}
entities:
  - id: acme-sh
    name: "Acme from the file"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("polcy: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key := strings.Repeat("ab", 16)
	now := time.Date(2026, time.November, 25, 3, 0, 0, 0, time.UTC)

	for _, tc := range []struct {
		name  string
		o     Options
		check func(t *testing.T, s *setup)
		err   bool
	}{
		{
			name: "defaults",
			o:    Options{},
			check: func(t *testing.T, s *setup) {
				c := s.cfg
				if !s.demoKey || !c.HasSubjectKey || c.SubjectKey != [16]byte([]byte(demoSubjectKey)) {
					t.Errorf("want the demo key, got demoKey=%v", s.demoKey)
				}
				if c.HTTP.Addr != DefaultHTTPAddr || s.httpExplicit {
					t.Errorf("http %q explicit=%v", c.HTTP.Addr, s.httpExplicit)
				}
				if c.FlushInterval != FlushInterval || c.Redis.KeyPrefix != RedisKeyPrefix || s.redis {
					t.Errorf("flush %s, prefix %q, redis %v", c.FlushInterval, c.Redis.KeyPrefix, s.redis)
				}
				if c.Policy.Preset != config.PresetCAC2024 || c.Location == nil || c.Location.String() != "Asia/Shanghai" {
					t.Errorf("preset %s, location %v", c.Policy.Preset, c.Location)
				}
				if len(c.Entities) != len(s.stories) || len(s.stories) < 6 {
					t.Errorf("%d entities, %d stories", len(c.Entities), len(s.stories))
				}
			},
		},
		{
			name: "environment",
			o: Options{Getenv: env(config.EnvSubjectKey, key, config.EnvRedisAddrs, "127.0.0.1:6390",
				config.EnvKafkaBrokers, "kafka:9092", config.EnvHTTPAddr, "127.0.0.1:0")},
			check: func(t *testing.T, s *setup) {
				c := s.cfg
				if s.demoKey || c.SubjectKey[0] != 0xab {
					t.Error("TW_SUBJECT_KEY not used")
				}
				if !s.redis || c.Redis.Addrs[0] != "127.0.0.1:6390" {
					t.Errorf("redis %v %v", s.redis, c.Redis.Addrs)
				}
				if !s.ignoredBrokers || c.Kafka.Brokers[0] == "kafka:9092" {
					t.Errorf("brokers %v, ignored %v", c.Kafka.Brokers, s.ignoredBrokers)
				}
				if c.HTTP.Addr != "127.0.0.1:0" || !s.httpExplicit {
					t.Errorf("http %q explicit=%v", c.HTTP.Addr, s.httpExplicit)
				}
			},
		},
		{
			name: "flag over environment",
			o:    Options{HTTPAddr: "127.0.0.1:1234", Getenv: env(config.EnvHTTPAddr, "127.0.0.1:0")},
			check: func(t *testing.T, s *setup) {
				if s.cfg.HTTP.Addr != "127.0.0.1:1234" || !s.httpExplicit {
					t.Errorf("http %q", s.cfg.HTTP.Addr)
				}
			},
		},
		{
			name: "file",
			o:    Options{ConfigPath: file},
			check: func(t *testing.T, s *setup) {
				c := s.cfg
				if c.Policy.Preset != config.PresetCAC2022 || c.HTTP.Addr != "127.0.0.1:9999" || !s.httpExplicit {
					t.Errorf("preset %s http %s", c.Policy.Preset, c.HTTP.Addr)
				}
				n := 0
				for _, e := range c.Entities {
					if e.ID == entityClimbing {
						n++
						if e.Name != "Acme from the file" {
							t.Errorf("the file's entity was replaced: %q", e.Name)
						}
					}
				}
				if n != 1 || len(c.Entities) != len(s.stories) {
					t.Errorf("%d %s, %d entities", n, entityClimbing, len(c.Entities))
				}
			},
		},
		{name: "bad file", o: Options{ConfigPath: bad}, err: true},
		{name: "missing file", o: Options{ConfigPath: filepath.Join(dir, "nope.yaml")}, err: true},
		{name: "bad key", o: Options{Getenv: env(config.EnvSubjectKey, "xyz")}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := loadConfig(tc.o, now)
			if tc.err {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

func TestListenHTTP(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()

	ln, note, err := listenHTTP(addr, false)
	if err != nil {
		t.Fatalf("fallback: %v", err)
	}
	if ln.Addr().String() == addr || !strings.Contains(note, "busy") {
		t.Errorf("listening on %s (%q)", ln.Addr(), note)
	}
	ln.Close()

	if _, _, err := listenHTTP(addr, true); err == nil {
		t.Error("an explicit busy address must be an error")
	}
	if _, _, err := listenHTTP("256.0.0.1:80", false); err == nil || errors.Is(err, net.ErrClosed) {
		t.Errorf("bad address: %v", err)
	}
}

func TestStartBroker(t *testing.T) {
	k := config.Default().Kafka
	c1, _, err := startBroker(k)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	// A second one cannot have the same port: it falls back to another.
	c2, note, err := startBroker(k)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c1.ListenAddrs()[0] == c2.ListenAddrs()[0] {
		t.Errorf("two brokers on %s", c1.ListenAddrs()[0])
	}
	if note == "" {
		t.Error("fallback without a note")
	}
	conn, err := kafka.Dial("tcp", c2.ListenAddrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(k.Topic, k.DeadLetterTopic, k.DecisionsTopic)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, p := range parts {
		n[p.Topic]++
	}
	if n[k.Topic] != EventPartitions || n[k.DeadLetterTopic] != 1 || n[k.DecisionsTopic] != 1 {
		t.Errorf("partitions: %v", n)
	}
}
