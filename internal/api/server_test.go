package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/transferwatch/transferwatch/internal/testutil/poll"
	"github.com/transferwatch/transferwatch/internal/testutil/syncbuf"
)

// serve runs srv on a loopback port until the test ends and returns its
// address.
func serve(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve = %v", err)
		}
	})
	return ln.Addr().String()
}

// probeHandler is the real handler with what the probes need.
func probeHandler() http.Handler {
	return Handler(Options{
		Ready:    func(*http.Request) error { return nil },
		Gatherer: prometheus.NewRegistry(),
	})
}

// connStates follows a server's connections by state, after the server's
// own hook.
type connStates struct {
	mu     sync.Mutex
	byConn map[net.Conn]http.ConnState
}

func trackStates(srv *http.Server) *connStates {
	s := &connStates{byConn: map[net.Conn]http.ConnState{}}
	own := srv.ConnState
	srv.ConnState = func(c net.Conn, state http.ConnState) {
		if own != nil {
			own(c, state)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if state == http.StateClosed || state == http.StateHijacked {
			delete(s.byConn, c)
			return
		}
		s.byConn[c] = state
	}
	return s
}

// count returns how many connections are open and how many of them are in
// state.
func (s *connStates) count(state http.ConnState) (open, in int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.byConn {
		if st == state {
			in++
		}
	}
	return len(s.byConn), in
}

// keepAlive opens a connection to addr, makes one keep-alive request for
// /healthz on it and reads the answer, leaving the connection idle.
func keepAlive(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: transferwatch\r\n\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && (resp.StatusCode != http.StatusOK || resp.Close) {
		err = errors.New("want 200 on a kept-alive connection, got " + resp.Status)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// TestServerClosesIdleKeepAlive checks that a keep-alive connection that
// carries no further request is closed by the server after its idle
// timeout: the client reads the end of the stream, not its own deadline.
func TestServerClosesIdleKeepAlive(t *testing.T) {
	const idle = 300 * time.Millisecond
	tt := defaultServerOptions()
	tt.idle = idle
	srv := newServer(probeHandler(), slog.New(slog.DiscardHandler), tt)
	states := trackStates(srv)
	addr := serve(t, srv)

	sent := time.Now()
	c, err := keepAlive(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 1))
	elapsed := time.Since(sent)
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("reading the idle connection = %d bytes, %v; want EOF (closed by the server)", n, err)
	}
	// The server's idle timer starts after it answered the request, which
	// was after the request was sent.
	if elapsed < idle {
		t.Errorf("closed %s after the request, before the idle timeout %s", elapsed, idle)
	}
	poll.Until(t, 5*time.Second, "the server to count the connection closed", func() bool {
		open, _ := states.count(http.StateIdle)
		return open == 0
	})
}

// TestServerClosesSilentConnection checks that a connection that never
// sends a request is closed after the read-header timeout.
func TestServerClosesSilentConnection(t *testing.T) {
	const header = 300 * time.Millisecond
	tt := defaultServerOptions()
	tt.readHeader = header
	srv := newServer(probeHandler(), slog.New(slog.DiscardHandler), tt)
	addr := serve(t, srv)

	opened := time.Now()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("reading the silent connection = %d bytes, %v; want EOF (closed by the server)", n, err)
	}
	if elapsed := time.Since(opened); elapsed < header {
		t.Errorf("closed after %s, before the read-header timeout %s", elapsed, header)
	}
}

// TestServerHeaderLimit checks that headers past MaxHeaderBytes get 431 and
// that headers within it are served.
func TestServerHeaderLimit(t *testing.T) {
	addr := serve(t, NewServer(probeHandler(), slog.New(slog.DiscardHandler)))
	for _, c := range []struct {
		size int
		code int
	}{
		{MaxHeaderBytes / 2, http.StatusOK},
		{2 * MaxHeaderBytes, http.StatusRequestHeaderFieldsTooLarge},
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
		req.Header.Set("X-Padding", strings.Repeat("a", c.size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%d-byte header: %v", c.size, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%d-byte header: %d, want %d", c.size, resp.StatusCode, c.code)
		}
	}
}

// TestServerErrorLog checks that the server's own complaints reach the
// structured log at level warn.
func TestServerErrorLog(t *testing.T) {
	var buf syncbuf.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		w.WriteHeader(http.StatusOK) // a bug the server reports in its error log
	})
	addr := serve(t, NewServer(h, log))
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot {
		t.Fatalf("status %d", resp.StatusCode)
	}
	poll.Until(t, 5*time.Second, "the server's complaint in the log", func() bool {
		return strings.Contains(buf.String(), "superfluous")
	})
	var rec struct {
		Level, Msg, Component string
	}
	line, _, _ := strings.Cut(buf.String(), "\n")
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	if rec.Level != "WARN" || rec.Component != "http" || !strings.Contains(rec.Msg, "superfluous response.WriteHeader") {
		t.Errorf("log record = %+v, want level WARN, component http, the server's message", rec)
	}
}

// TestNewServerLimits checks that NewServer sets every limit.
func TestNewServerLimits(t *testing.T) {
	s := NewServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if s.ReadHeaderTimeout != ReadHeaderTimeout || s.ReadTimeout != ReadTimeout ||
		s.WriteTimeout != WriteTimeout || s.IdleTimeout != IdleTimeout ||
		s.MaxHeaderBytes != MaxHeaderBytes || s.ErrorLog == nil {
		t.Errorf("server limits: %+v", s)
	}
	// Every deadline is set: zero would mean none.
	for _, d := range []time.Duration{ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout} {
		if d <= 0 {
			t.Errorf("a timeout is %s", d)
		}
	}
}

// TestServerClosesQuietestConnection checks the connection limit: past it,
// a new connection closes the one idle the longest, never one serving a
// request, and is itself served.
func TestServerClosesQuietestConnection(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("/healthz", probeHandler())
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		<-release
		_, _ = io.WriteString(w, "done\n")
	})
	o := defaultServerOptions()
	o.maxConns = 2
	var logs syncbuf.Buffer
	srv := newServer(mux, slog.New(slog.NewJSONHandler(&logs, nil)), o)
	states := trackStates(srv)
	addr := serve(t, srv)

	// busy serves a request that waits for release.
	busy, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: transferwatch\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "the slow request to be served", func() bool {
		_, active := states.count(http.StateActive)
		return active == 1
	})
	idle, err := keepAlive(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	poll.Until(t, 5*time.Second, "the second connection to be idle", func() bool {
		_, n := states.count(http.StateIdle)
		return n == 1
	})

	// A third connection: the idle one goes, the busy one stays.
	third, err := keepAlive(addr)
	if err != nil {
		t.Fatalf("the connection past the limit was not served: %v", err)
	}
	defer third.Close()
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("the idle connection past the limit: read %d bytes, %v; want EOF (closed by the server)", n, err)
	}
	close(release)
	_ = busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatalf("the busy connection lost its answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "done\n" {
		t.Errorf("the slow request = %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), `"msg":"connection limit reached: closing the connections idle the longest","component":"http","max_connections":2,"closed":1`) {
		t.Errorf("no warning of the limit in the log:\n%s", logs.String())
	}
}

func TestMaxConns(t *testing.T) {
	for _, c := range []struct {
		files uint64
		want  int
	}{
		{0, 0},                  // unknown: no limit
		{1 << 62, 0},            // practically unlimited
		{1024, 768},             // a quarter kept for the rest
		{20_000, 20_000 - 1024}, // at most 1024 kept
		{1 << 20, 1<<20 - 1024}, // the usual container limit
	} {
		if got := maxConns(c.files); got != c.want {
			t.Errorf("maxConns(%d) = %d, want %d", c.files, got, c.want)
		}
	}
}
