package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
	"github.com/transferwatch/transferwatch/internal/testutil/redistest"
)

// cli runs the binary with args and the environment given (plus PATH, HOME, and nothing of the
// caller's TW_*), and returns its exit code and output.
func cli(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TW_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("transferwatch %v did not finish: %v\n%s", args, err, errOut.String())
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// status is the part of EntityStatus the CLI tests compare.
type status struct {
	Entity   string `json:"entity"`
	Decision string `json:"decision"`
	Counters []struct {
		Counter    string `json:"counter"`
		Window     string `json:"window"`
		Estimate   uint64 `json:"estimate"`
		UpperBound uint64 `json:"upper_bound"`
	} `json:"counters"`
	Rules []struct {
		ID    string `json:"id"`
		Level string `json:"level"`
	} `json:"rules"`
}

func (s status) estimate(counter, window string) uint64 {
	for _, c := range s.Counters {
		if c.Counter == counter && c.Window == window {
			return c.Estimate
		}
	}
	return 0
}

// TestCLIEntity runs `transferwatch entity` against a running service with Kafka and Redis:
// from the API (with its bearer token) as a table and as JSON, and straight from the store
// with the service's configuration, which gives the same figures and decision; an unknown
// entity and a missing token exit 1.
func TestCLIEntity(t *testing.T) {
	c := cluster(t, 1)
	rds := redistest.Server(t)
	token := "cli-test-token"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := serviceConfig(t, c.Addr(), rds.Addr(), "tw", "tw", `policy: {preset: cac-2022}
entities:
  - id: acme-sh
    name: Acme (Shanghai) Co., Ltd.
    approvals:
      - {mechanism: standard_contract, status: approved, reference: SC-CLI-1, valid_from: 2020-01-01, valid_until: 2099-01-01}
`)
	// The token file is the service's only: the CLI reads TW_API_TOKEN.
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	svcCfg := filepath.Join(t.TempDir(), "service.yaml")
	if err := os.WriteFile(svcCfg, bytes.Replace(b, []byte(`addr: "127.0.0.1:0"`), []byte(`addr: "127.0.0.1:0"
  token_file: `+tokenFile), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	svc := start(t, svcCfg)
	msgs := sensitiveEvents(t, "acme-sh", 0, 1200)
	c.Produce(topic, msgs...)
	eventually(t, "every message committed", func() bool { return drained(c, "tw", len(msgs)) })

	// From the API (with the token) and straight from the store with the service's
	// configuration and no subject key: once the service has evaluated its last flush, the
	// same figures and decision.
	apiEnv := []string{"TW_API_TOKEN=" + token}
	var fromAPI, fromStore status
	eventually(t, "the same status of acme-sh from the API and from the store", func() bool {
		fromAPI, fromStore = status{}, status{}
		code, out, errOut := cli(t, apiEnv, "entity", "acme-sh", "--url", "http://"+svc.addr, "--json")
		if code != 0 || json.Unmarshal([]byte(out), &fromAPI) != nil {
			t.Logf("entity --json: exit %d: %s", code, errOut)
			return false
		}
		code, out, errOut = cli(t, nil, "entity", "acme-sh", "--config", cfg, "--json")
		if code != 0 || json.Unmarshal([]byte(out), &fromStore) != nil {
			t.Logf("entity --config --json: exit %d: %s", code, errOut)
			return false
		}
		return fromStore.Decision == fromAPI.Decision && sameCounters(fromStore, fromAPI)
	})
	if fromAPI.Entity != "acme-sh" || fromAPI.Decision == "" || len(fromAPI.Rules) == 0 ||
		fromAPI.estimate("sensitive", "since_prev_jan1") < 1100 {
		t.Errorf("entity --json: %+v, want acme-sh with about 1200 sensitive", fromAPI)
	}

	// The table.
	code, out, errOut := cli(t, apiEnv, "entity", "--url", "http://"+svc.addr, "acme-sh")
	if code != 0 {
		t.Fatalf("entity: exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"entity    acme-sh — Acme (Shanghai) Co., Ltd.",
		"decision  " + strings.ToUpper(fromAPI.Decision),
		"policy    cac-2022",
		"COUNTER", "sensitive", "since_prev_jan1",
		fmt.Sprint(fromAPI.estimate("sensitive", "since_prev_jan1")),
		"RULE", "sensitive-10k", "personal-100k",
		"APPROVAL", "SC-CLI-1", "standard_contract", "2099-01-01",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("entity table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, "person-") {
		t.Error("a subject identifier was printed")
	}

	code, out, errOut = cli(t, nil, "entity", "acme-sh", "--config", cfg)
	if code != 0 || !strings.Contains(out, "source    store "+rds.Addr()) || !strings.Contains(out, "recorded  ") {
		t.Errorf("entity --config table: exit %d\n%s%s", code, out, errOut)
	}

	// Errors.
	code, _, errOut = cli(t, apiEnv, "entity", "nobody-sh", "--url", "http://"+svc.addr)
	if code != 1 || !strings.Contains(errOut, "neither configured nor seen") {
		t.Errorf("unknown entity from the API: exit %d, %q", code, errOut)
	}
	code, _, errOut = cli(t, nil, "entity", "nobody-sh", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, "neither configured nor seen") {
		t.Errorf("unknown entity from the store: exit %d, %q", code, errOut)
	}
	code, _, errOut = cli(t, nil, "entity", "acme-sh", "--url", "http://"+svc.addr)
	if code != 1 || !strings.Contains(errOut, "set TW_API_TOKEN") {
		t.Errorf("no token: exit %d, %q", code, errOut)
	}
	code, _, errOut = cli(t, []string{"TW_API_TOKEN=wrong"}, "entity", "acme-sh", "--url", "http://"+svc.addr)
	if code != 1 || !strings.Contains(errOut, "refused the token") {
		t.Errorf("wrong token: exit %d, %q", code, errOut)
	}
}

func sameCounters(a, b status) bool {
	if len(a.Counters) != len(b.Counters) || len(a.Counters) == 0 {
		return false
	}
	for i := range a.Counters {
		if a.Counters[i] != b.Counters[i] {
			return false
		}
	}
	for i := range a.Rules {
		if i >= len(b.Rules) || a.Rules[i] != b.Rules[i] {
			return false
		}
	}
	return true
}

// TestCLIDLQReplay: dead letters written by a transferwatch that refused `"records": 5.0`
// are replayed by `transferwatch dlq replay` into a running service, which counts them; a dry
// run sends nothing; the invalid ones stay; a second replay finds nothing; no subject
// identifier is ever printed.
func TestCLIDLQReplay(t *testing.T) {
	c := cluster(t, 2)
	rds := redistest.Server(t)
	cfg := serviceConfig(t, c.Addr(), rds.Addr(), "tw", "tw", "")
	svc := start(t, cfg)

	const entity = "replayed-sh"
	var letters []kafka.Message
	for i := range 4 {
		var subjects []string
		for j := range 50 {
			subjects = append(subjects, fmt.Sprintf("person-%d", i*50+j))
		}
		v := must(json.Marshal(map[string]any{"occurred_at": time.Now().Format(time.RFC3339), "entity": entity,
			"recipient": "hq-us", "subjects": subjects, "records": json.Number("5.0")}))
		letters = append(letters, kafka.Message{Key: []byte(entity), Value: v, Headers: []kafka.Header{
			{Key: "tw-error", Value: []byte("records: must be a non-negative integer, got 5.0")},
			{Key: "tw-source-topic", Value: []byte(topic)},
			{Key: "tw-source-partition", Value: []byte("0")},
			{Key: "tw-source-offset", Value: []byte(fmt.Sprint(i))},
		}})
	}
	letters = append(letters, kafka.Message{Key: []byte(entity), Value: []byte(`{"entity":"` + entity + `","subjects":["person-secret"]}`),
		Headers: []kafka.Header{{Key: "tw-error", Value: []byte("occurred_at: required")}, {Key: "tw-source-topic", Value: []byte(topic)}}})
	c.Produce(dlqTopic, letters...)

	code, out, errOut := cli(t, nil, "dlq", "replay", "--config", cfg, "--dry-run")
	if code != 0 || !strings.Contains(out, "read 5 dead letters: 4 valid, would be sent back to "+topic+", 1 left") ||
		!strings.Contains(out, "still invalid, occurred_at: 1") || !strings.Contains(out, "dry run: nothing sent") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	if n := highWatermarks(t, c, topic); n != 0 {
		t.Fatalf("the dry run sent %d events", n)
	}

	code, out, errOut = cli(t, nil, "dlq", "replay", "--config", cfg)
	if code != 0 || !strings.Contains(out, "read 5 dead letters: 4 sent back to "+topic+", 1 left") {
		t.Fatalf("replay: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "person-") {
		t.Errorf("a subject identifier was printed:\n%s%s", out, errOut)
	}
	// The service counts what came back: 200 people.
	eventually(t, "the replayed events counted", func() bool {
		code, body := svc.get("/v1/entities/" + entity)
		var s status
		return code == 200 && json.Unmarshal([]byte(body), &s) == nil && s.estimate("personal", "since_prev_jan1") == 200
	})
	if n := highWatermarks(t, c, dlqTopic); n != len(letters) {
		t.Errorf("the dead-letter topic holds %d messages, want the %d produced (none of the replayed refused)", n, len(letters))
	}

	code, out, errOut = cli(t, nil, "dlq", "replay", "--config", cfg)
	if code != 0 || !strings.Contains(out, "read 0 dead letters: 0 sent back") {
		t.Errorf("second replay: exit %d\n%s%s", code, out, errOut)
	}
	if n := highWatermarks(t, c, topic); n != 4 {
		t.Errorf("%d events on %s, want the 4 replayed once", n, topic)
	}
}

// highWatermarks returns how many records topic holds.
func highWatermarks(t *testing.T, c *kafkatest.Cluster, topic string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := c.Dialer().DialContext(ctx, "tcp", c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	cl := &kafka.Client{Addr: kafka.TCP(c.Addr()), Transport: c.Transport()}
	var reqs []kafka.OffsetRequest
	for _, p := range parts {
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	resp, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			t.Fatal(p.Error)
		}
		n += int(p.LastOffset)
	}
	return n
}
