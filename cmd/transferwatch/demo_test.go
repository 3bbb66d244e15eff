package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/testutil/poll"
	"github.com/transferwatch/transferwatch/internal/testutil/syncbuf"
)

// demoOutput collects the demo's stdout, line by line, as it comes.
type demoOutput struct {
	mu    sync.Mutex
	lines []string
}

func (o *demoOutput) add(l string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lines = append(o.lines, l)
}

func (o *demoOutput) text() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.lines, "\n")
}

// find returns the first submatch of re in the output so far.
func (o *demoOutput) find(re *regexp.Regexp) (string, bool) {
	m := re.FindStringSubmatch(o.text())
	if m == nil {
		return "", false
	}
	return m[1], true
}

// TestDemo runs `transferwatch demo --duration 20s` as a child process with
// stdout a pipe (not a terminal), as issue 5 asks: while it runs,
// /v1/entities answers with the entities and the dead-letter topic holds
// the malformed events (read with kcat); after it exits 0,
// its output shows an entity that reached block, one that reached warn and
// one that stayed allow, and the dead letters it counted.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs the demo for 20s")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("no go command to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), "transferwatch")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo", "--duration", "20s", "--http-addr", "127.0.0.1:0")
	// The demo must not pick up a Redis, a key or an address from the
	// environment of whoever runs the tests.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TW_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := &demoOutput{}
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.add(sc.Text())
		}
	}()
	defer func() {
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", out.text(), stderr.String())
		}
	}()
	waited := false
	defer func() {
		if !waited { // a check failed while it ran: stop it
			cancel()
			<-eof
			_ = cmd.Wait()
		}
	}()

	// Where it listens, from its introduction.
	var httpAddr, broker string
	poll.Until(t, time.Minute, "the addresses in the introduction", func() bool {
		var ok1, ok2 bool
		httpAddr, ok1 = out.find(regexp.MustCompile(`(?m)^\s+http\s+http://(\S+)`))
		broker, ok2 = out.find(regexp.MustCompile(`(?m)^\s+broker\s+(\S+)`))
		return ok1 && ok2
	})

	// The API answers while it runs.
	client := &http.Client{Timeout: 5 * time.Second}
	var entities []string
	poll.Until(t, time.Minute, "GET /v1/entities to answer with entities", func() bool {
		resp, err := client.Get("http://" + httpAddr + "/v1/entities")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct {
			Entities []struct {
				Entity   string `json:"entity"`
				Decision string `json:"decision"`
			} `json:"entities"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
			return false
		}
		entities = entities[:0]
		for _, e := range body.Entities {
			entities = append(entities, e.Entity)
		}
		return len(entities) >= 6
	})
	t.Logf("/v1/entities answered: %v", entities)

	// The malformed events reach the dead-letter topic, as another client sees it.
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat not installed (make deps installs it)")
	}
	poll.Until(t, time.Minute, "dead letters on outbound-transfers.dlq (kcat)", func() bool {
		kctx, kcancel := context.WithTimeout(ctx, 15*time.Second)
		defer kcancel()
		got, err := exec.CommandContext(kctx, kcat, "-C", "-b", broker, "-t", "outbound-transfers.dlq",
			"-e", "-q", "-f", "%k %h\n").Output()
		return err == nil && strings.Contains(string(got), "tw-error=") &&
			strings.Contains(string(got), "tw-source-topic=outbound-transfers")
	})

	<-eof
	waited = true
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo: %v (want exit 0)", err)
	}
	text := out.text()

	// What the entities reached, from the decision lines and the summary.
	reached := map[string]map[string]bool{} // entity → decisions
	note := func(entity, decision string) {
		if reached[entity] == nil {
			reached[entity] = map[string]bool{}
		}
		reached[entity][decision] = true
	}
	for _, m := range regexp.MustCompile(`(?m)^decision (\S+): \S+ -> (allow|warn|block)`).FindAllStringSubmatch(text, -1) {
		note(m[1], m[2])
	}
	final := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s+final (\S+)\s+(allow|warn|block)\b`).FindAllStringSubmatch(text, -1) {
		final[m[1]] = m[2]
		note(m[1], m[2])
	}
	if len(final) < 6 {
		t.Fatalf("final decisions of %d entities, want the 6 of the demo: %v", len(final), final)
	}
	var blocked, warned, allowed []string
	for e, ds := range reached {
		if ds["block"] {
			blocked = append(blocked, e)
		}
		if ds["warn"] {
			warned = append(warned, e)
		}
		if len(ds) == 1 && ds["allow"] {
			allowed = append(allowed, e)
		}
	}
	t.Logf("reached block: %v; reached warn: %v; stayed allow: %v", blocked, warned, allowed)
	if len(blocked) == 0 || len(warned) == 0 || len(allowed) == 0 {
		t.Errorf("want an entity that reached block, one that reached warn and one that stayed allow")
	}

	m := regexp.MustCompile(`(?m)^\s+dead letters: (\d+) on outbound-transfers\.dlq`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("no dead-letter count in the summary")
	}
	if n, _ := strconv.Atoi(m[1]); n == 0 {
		t.Error("no malformed event reached the dead-letter topic")
	}

	// Logs are JSON on stderr and say the demo key is in use; no subject
	// identifier is printed anywhere.
	for l := range strings.SplitSeq(strings.TrimSpace(stderr.String()), "\n") {
		if !json.Valid([]byte(l)) {
			t.Errorf("stderr line is not JSON: %q", l)
			break
		}
	}
	if !strings.Contains(stderr.String(), "demo subject key in use; never use it in production") {
		t.Error("the log does not warn about the demo subject key")
	}
	if strings.Contains(text, "user-") || strings.Contains(stderr.String(), "user-") {
		t.Error("a subject identifier was printed")
	}
}
