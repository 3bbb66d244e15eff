// Command idleconns is the helper of TestServerAnswersUnderManyIdleConnections
// (internal/api/server_linux_test.go): the test builds it without the race
// detector, which would make 20,000 connections take minutes, and runs it as
// the server and as the clients, each in a process of its own with its own
// open-file limit.
//
//	idleconns serve FILES  serve api.Handler with api.NewServer on
//	                       127.0.0.1:0 under a limit of FILES open files;
//	                       print "addr ADDR"; when stdin closes, print
//	                       "open N idle M" (the connections held) and exit
//	idleconns hold ADDR N  open N connections to ADDR, make one keep-alive
//	                       request for /healthz on each, print "ready" and
//	                       hold them, idle, until stdin closes
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/transferwatch/transferwatch/internal/api"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "serve":
		err = serve(os.Args[2])
	case len(os.Args) == 4 && os.Args[1] == "hold":
		err = hold(os.Args[2], os.Args[3])
	default:
		err = errors.New("usage: idleconns serve FILES | idleconns hold ADDR N")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "idleconns:", err)
		os.Exit(1)
	}
}

func serve(files string) error {
	n, err := strconv.ParseUint(files, 10, 64)
	if err != nil {
		return err
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		return err
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: max(old.Max, n)}); err != nil {
		return fmt.Errorf("the server must run under a limit of %d open files, but RLIMIT_NOFILE is %d (hard %d) and raising it failed: %w; "+
			"raise the hard limit (ulimit -Hn %d) or run the test as root", n, old.Cur, old.Max, err, n)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	srv := api.NewServer(api.Handler(api.Options{
		Ready:    func(*http.Request) error { return nil },
		Gatherer: prometheus.NewRegistry(),
	}), log)
	var (
		mu    sync.Mutex
		conns = map[net.Conn]http.ConnState{}
	)
	limit := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if limit != nil {
			limit(c, s)
		}
		mu.Lock()
		defer mu.Unlock()
		if s == http.StateClosed || s == http.StateHijacked {
			delete(conns, c)
		} else {
			conns[c] = s
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Println("addr", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	mu.Lock()
	idle := 0
	for _, s := range conns {
		if s == http.StateIdle {
			idle++
		}
	}
	fmt.Println("open", len(conns), "idle", idle)
	mu.Unlock()
	_ = srv.Close()
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func hold(addr, count string) error {
	n, err := strconv.Atoi(count)
	if err != nil {
		return err
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(n)+64 {
		return fmt.Errorf("holding %d connections needs %d open files, RLIMIT_NOFILE is %d (hard %d)", n, n+64, lim.Cur, lim.Max)
	}
	conns := make([]net.Conn, n)
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range 16 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				c, err := keepAlive(addr)
				if err != nil {
					once.Do(func() { first = fmt.Errorf("connection %d: %w", i, err) })
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if first != nil {
		return fmt.Errorf("opening %d keep-alive connections: %w", n, first)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	return nil
}

// keepAlive opens a connection to addr, makes one keep-alive request for
// /healthz on it and reads the answer, leaving the connection idle.
func keepAlive(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if err := request(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func request(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: transferwatch\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || resp.Close {
		return errors.New("want 200 on a kept-alive connection, got " + resp.Status)
	}
	return c.SetDeadline(time.Time{})
}
