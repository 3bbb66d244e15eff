package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store/memstore"
	"github.com/transferwatch/transferwatch/internal/store/redisstore"
	"github.com/transferwatch/transferwatch/internal/subject"
	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
	"github.com/transferwatch/transferwatch/internal/testutil/poll"
	"github.com/transferwatch/transferwatch/pkg/event"
)

const (
	topic     = "outbound-transfers"
	dlqTopic  = "outbound-transfers.dlq"
	decTopic  = "transfer-decisions"
	keyHex    = "000102030405060708090a0b0c0d0e0f"
	waitLimit = 90 * time.Second
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "transferwatch-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "transferwatch")
	if prebuilt := os.Getenv("TW_E2E_BINARY"); prebuilt != "" {
		binPath = prebuilt // a binary built elsewhere, e.g. with -race
		os.Exit(m.Run())
	}
	build := exec.Command("go", "build", "-o", binPath, "github.com/transferwatch/transferwatch/cmd/transferwatch")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build transferwatch:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cluster starts kfake with the three topics.
func cluster(t *testing.T, partitions int32) *kafkatest.Cluster {
	return kafkatest.New(t, partitions, topic, dlqTopic, decTopic)
}

// serviceConfig writes a config file for one instance.
func serviceConfig(t *testing.T, broker, redisAddr, group, prefix string, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	cfg := fmt.Sprintf(`flush_interval: 200ms
kafka:
  brokers: [%s]
  topic: %s
  group_id: %s
  dead_letter_topic: %s
  decisions_topic: %s
redis:
  addrs: [%s]
  key_prefix: %s
http:
  addr: "127.0.0.1:0"
%s`, broker, topic, group, dlqTopic, decTopic, redisAddr, prefix, extra)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// service is one transferwatch child process.
type service struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string // HTTP address, from the start-up log line
	done chan struct{}

	mu   sync.Mutex
	logs strings.Builder
}

// start runs `transferwatch run --config path` and waits until it serves.
func start(t *testing.T, path string) *service {
	t.Helper()
	cmd := exec.Command(binPath, "run", "--config", path, "--log-level", "debug")
	cmd.Env = append(os.Environ(), "TW_SUBJECT_KEY="+keyHex)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &service{t: t, cmd: cmd, done: make(chan struct{})}
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.logs.WriteString(line + "\n")
			s.mu.Unlock()
			var rec struct {
				Msg  string `json:"msg"`
				HTTP string `json:"http"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "transferwatch running" {
				addrCh <- rec.HTTP
			}
		}
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("logs of instance %d:\n%s", cmd.Process.Pid, s.log())
		}
	})
	select {
	case s.addr = <-addrCh:
	case <-s.done:
		t.Fatalf("transferwatch exited at start-up:\n%s", s.log())
	case <-time.After(waitLimit):
		t.Fatalf("transferwatch did not start:\n%s", s.log())
	}
	return s
}

func (s *service) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// kill sends SIGKILL: a crash, with no flush and no commit.
func (s *service) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// stop sends SIGTERM and waits for a clean exit.
func (s *service) stop() {
	s.t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Fatalf("no exit within 30 s of SIGTERM:\n%s", s.log())
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.t.Fatalf("exit code %d after SIGTERM:\n%s", code, s.log())
	}
}

func (s *service) get(path string) (int, string) {
	resp, err := http.Get("http://" + s.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls cond until it holds or the wait limit passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, waitLimit, what, cond)
}

// stream is a generated set of events and what they must count to.
type stream struct {
	msgs   []kafka.Message
	expect sketch.Batch // the same events aggregated locally
}

// generate makes n valid events over a few entities with overlapping
// subjects, all in the current year, and aggregates them the way the
// service must.
func generate(t *testing.T, seed uint64, n int) stream {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	loc, _ := time.LoadLocation("Asia/Shanghai")
	key, _ := subject.ParseKey(keyHex)
	h := subject.New(key)
	now := time.Now()
	s := stream{expect: sketch.Batch{}}
	entities := []string{"acme-sh", "beta-bj", "gamma-gz", "delta-sz", "epsilon-hz", "zeta-cd", "eta-wh", "theta-xa"}
	for i := range n {
		ent := entities[rng.IntN(len(entities))]
		at := now.Add(-time.Duration(rng.IntN(72)) * time.Hour).Truncate(time.Second)
		if y, _ := sketch.DayOf(at, loc); y != now.In(loc).Year() {
			at = now.Truncate(time.Second)
		}
		ev := event.Event{
			Schema: 1, EventID: fmt.Sprintf("ev-%d-%d", seed, i), OccurredAt: at.In(loc),
			Entity: ent, Kind: event.KindTransfer, Recipient: "hq-us",
			Sensitive: rng.IntN(5) == 0, Exemption: event.ExemptionNone,
		}
		if rng.IntN(10) == 0 {
			ev.Kind, ev.Recipient = event.KindProcessing, ""
		}
		for range 1 + rng.IntN(20) {
			ev.Subjects = append(ev.Subjects, fmt.Sprintf("user-%d", rng.IntN(5000)))
		}
		v, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		s.msgs = append(s.msgs, kafka.Message{Key: []byte(ent), Value: v})
		year, day := sketch.DayOf(ev.OccurredAt, loc)
		hashes := h.AppendSums(nil, ev.Subjects)
		s.expect.Add(ent, year, day, sketch.CellOf(ev.Kind, ev.Sensitive, ev.Exempt()), false, hashes)
		if ev.Kind == event.KindTransfer {
			// The events' identity is their offset, unknown here: any
			// distinct one gives the same count.
			k := sketch.FlowKey{Recipient: ev.Recipient, Destination: ev.Destination, Exempt: ev.Exempt()}
			for _, c := range []sketch.Category{sketch.CategoryPersonal, sketch.CategorySensitive} {
				if c == sketch.CategorySensitive && !ev.Sensitive {
					continue
				}
				k.Category = c
				s.expect.AddFlow(ent, year, k, sketch.EventHash("expected", 0, int64(i)), ev.OccurredAt.Unix(), ev.Pipeline, hashes)
			}
		}
	}
	return s
}

// figures reads every counter of every entity of b from a store.
type figureSource interface {
	History(ctx context.Context, entity string, years ...int) (sketch.History, error)
}

func figures(t *testing.T, st figureSource, entities []string) map[string]sketch.Figure {
	t.Helper()
	out := make(map[string]sketch.Figure)
	year := time.Now().In(must(time.LoadLocation("Asia/Shanghai"))).Year()
	for _, e := range entities {
		h, err := st.History(context.Background(), e, year-1, year)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range sketch.Counters {
			for _, inc := range []bool{true, false} {
				out[fmt.Sprintf("%s/%s/%t", e, k, inc)] = h.Figure(k, sketch.SincePrevJan1, year, inc)
			}
		}
		// The flows: people exactly as the sketches give them; events
		// by their count (exact at these sizes, whatever their identity).
		for _, f := range policy.ObserveFlows(h, sketch.SincePrevJan1, year, true) {
			name := fmt.Sprintf("%s/flow/%s/%s/%s", e, f.Recipient, f.Destination, f.Category)
			out[name+"/people"] = f.People
			out[name+"/events"] = sketch.Figure{Estimate: f.Events}
		}
	}
	return out
}

// expected returns the figures the stream must produce.
func (s stream) expected(t *testing.T) map[string]sketch.Figure {
	t.Helper()
	ms := memstore.New()
	if err := ms.Merge(context.Background(), s.expect); err != nil {
		t.Fatal(err)
	}
	return figures(t, ms, s.expect.Entities())
}

func redisFigures(t *testing.T, addr, prefix string, entities []string) map[string]sketch.Figure {
	t.Helper()
	rs, err := redisstore.New(redisstore.Options{Addrs: []string{addr}, KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	return figures(t, rs, entities)
}

// drained reports whether group has committed every message of the topic.
func drained(c *kafkatest.Cluster, group string, total int) bool {
	sum := int64(0)
	for _, off := range c.Committed(group, topic) {
		if off > 0 {
			sum += off
		}
	}
	return sum == int64(total)
}

func assertSame(t *testing.T, got, want map[string]sketch.Figure) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d figures, want %d", len(got), len(want))
	}
	for k, w := range want {
		if g := got[k]; g != w {
			t.Errorf("%s: got %+v, want %+v", k, g, w)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
