package api

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/testutil/syncbuf"
)

const (
	// idleConnections is how many idle keep-alive connections must leave
	// /healthz answering (issue 10, item 6).
	idleConnections = 20_000
	// serverFiles is the open-file limit of the server in the test: the
	// limit under which idle connections used to take every descriptor.
	serverFiles = 20_000
	// holders is how many processes hold the connections, so that none
	// needs more open files than the server.
	holders = 2
)

// child is a running idleconns process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	lines  chan string
	stderr *syncbuf.Buffer
}

// start runs bin with args until the test ends; closing its stdin tells
// it to finish.
func start(t *testing.T, bin string, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(bin, args...), lines: make(chan string, 4), stderr: &syncbuf.Buffer{}}
	c.cmd.Stderr = c.stderr
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.stdin = stdin
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = c.stdin.Close()
		if err := c.cmd.Wait(); err != nil {
			t.Errorf("idleconns %s: %v\n%s", strings.Join(args, " "), err, c.stderr)
		}
	})
	return c
}

// line returns the child's next line of output, failing the test when
// none comes before deadline.
func (c *child) line(t *testing.T, deadline <-chan time.Time) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			t.Fatalf("idleconns %s ended early\n%s", strings.Join(c.cmd.Args[1:], " "), c.stderr)
		}
		return l
	case <-deadline:
		t.Fatalf("idleconns %s: no answer in time\n%s", strings.Join(c.cmd.Args[1:], " "), c.stderr)
		return ""
	}
}

// TestServerAnswersUnderManyIdleConnections runs a server built by
// NewServer (with the real handler) in a process limited to 20,000 open
// files, as in the reproduction, and has two other processes open
// 20,000 connections to it, make one keep-alive request on each and hold
// them all open, idle. The server cannot keep them all: it must close the
// ones idle the longest rather than run out of file descriptors, and
// /healthz must still answer, on a new connection, within two seconds.
//
// The processes run testdata/idleconns built without the race detector,
// under which 20,000 connections take minutes on a small machine; the
// connection limit itself is tested under it by
// TestServerClosesQuietestConnection.
func TestServerAnswersUnderManyIdleConnections(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("no go command to build testdata/idleconns with")
	}
	bin := filepath.Join(t.TempDir(), "idleconns")
	if out, err := exec.Command(goBin, "build", "-o", bin, "./testdata/idleconns").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	deadline := time.After(60 * time.Second)
	server := start(t, bin, "serve", fmt.Sprint(serverFiles))
	addr, ok := strings.CutPrefix(server.line(t, deadline), "addr ")
	if !ok {
		t.Fatalf("server said %q", addr)
	}
	began := time.Now()
	var hs []*child
	for range holders {
		hs = append(hs, start(t, bin, "hold", addr, fmt.Sprint(idleConnections/holders)))
	}
	for _, h := range hs {
		if l := h.line(t, deadline); l != "ready" {
			t.Fatalf("connection holder said %q", l)
		}
	}
	t.Logf("%d keep-alive connections opened, served and left idle in %s", idleConnections, time.Since(began))

	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	began = time.Now()
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("/healthz with %d idle connections held: %v", idleConnections, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Fatalf("/healthz = %d %q %v", resp.StatusCode, body, err)
	}
	t.Logf("/healthz answered in %s", time.Since(began))

	// The holders still hold every connection; the server, what its limit
	// lets it.
	_ = server.stdin.Close()
	var open, idle int
	if l := server.line(t, deadline); !scan(l, "open %d idle %d", &open, &idle) {
		t.Fatalf("server said %q", l)
	}
	t.Logf("the server held %d connections, %d idle", open, idle)
	if limit := maxConns(serverFiles); open > limit || idle < limit-100 {
		t.Errorf("the server held %d connections (%d idle), want about its limit %d", open, idle, limit)
	}
	if !strings.Contains(server.stderr.String(), `"msg":"connection limit reached`) {
		t.Errorf("no warning of the connection limit in the server's log:\n%.2000s", server.stderr)
	}
}

// scan reports whether l has the format.
func scan(l, format string, args ...any) bool {
	_, err := fmt.Sscanf(l, format, args...)
	return err == nil
}
