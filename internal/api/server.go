package api

import (
	"container/list"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits of the HTTP server. Every connection has a deadline in every
// state, so a client that opens connections and leaves them silent, sends
// its request slowly, keeps them alive without using them or stops reading
// the answer holds a file descriptor for a bounded time only.
const (
	// ReadHeaderTimeout bounds the wait for a request's headers, from the
	// connection's opening (or the start of the next request on a kept-alive
	// one): a connection that sends nothing is closed after it.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds the reading of a whole request, body included
	// (the API's requests have none).
	ReadTimeout = 30 * time.Second
	// WriteTimeout bounds the handling and writing of an answer, from the
	// end of the request's headers. It leaves room for a large /metrics
	// scrape, a report download and pprof's default 30-second CPU profile
	// (pprof refuses a profile as long as the write timeout).
	WriteTimeout = 60 * time.Second
	// IdleTimeout closes a keep-alive connection that carries no new
	// request for this long. It is longer than the idle timeout of common
	// proxies and load balancers (60 s), so that the proxy, not the server,
	// closes a connection it pools.
	IdleTimeout = 90 * time.Second
	// MaxHeaderBytes bounds the request line and headers; a larger request
	// gets 431.
	MaxHeaderBytes = 64 << 10
	// connReserve is how many file descriptors, at most, the connection
	// limit leaves to the rest of the process (Kafka and Redis connections,
	// files): a quarter of the limit, up to 1024.
	connReserve = 1024
)

// serverOptions are the limits of a server; tests shorten them.
type serverOptions struct {
	readHeader, read, write, idle time.Duration
	// maxConns is how many connections the server holds at once; 0 is
	// no limit.
	maxConns int
}

func defaultServerOptions() serverOptions {
	return serverOptions{
		readHeader: ReadHeaderTimeout,
		read:       ReadTimeout,
		write:      WriteTimeout,
		idle:       IdleTimeout,
		maxConns:   maxConns(openFileLimit()),
	}
}

// maxConns is the connection limit under a limit of n open files (0: none
// known): n less a reserve for the rest of the process.
func maxConns(n uint64) int {
	const unlimited = 1 << 30
	if n == 0 || n > unlimited {
		return 0
	}
	return int(n - min(connReserve, n/4))
}

// NewServer returns the HTTP server of transferwatch serving h, with the
// timeouts and header limit above and a connection limit below the
// process's open-file limit (RLIMIT_NOFILE, less a quarter of it up to
// 1024). A new connection past the limit closes the connection that has
// been idle (or silent since it opened) the longest, so that the file
// descriptors never run out and the probes keep answering however many
// connections clients leave open; a connection serving a request is never
// closed for it.
//
// The server's own error log (a panic in a handler, a failed accept, a
// malformed request it could not answer) goes to log at level warn, with
// component=http. The server sets ConnState for the limit: a caller that
// sets its own must call the server's too.
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	return newServer(h, log, defaultServerOptions())
}

func newServer(h http.Handler, log *slog.Logger, o serverOptions) *http.Server {
	log = log.With("component", "http")
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.readHeader,
		ReadTimeout:       o.read,
		WriteTimeout:      o.write,
		IdleTimeout:       o.idle,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if o.maxConns > 0 {
		l := &connLimit{max: o.maxConns, log: log, conns: map[net.Conn]*list.Element{}}
		srv.ConnState = l.track
	}
	return srv
}

// connLimit keeps a server's connections at most max: a new connection past
// it closes the quietest one, the connection idle (or, never having sent a
// request, silent) for the longest.
type connLimit struct {
	max int
	log *slog.Logger

	mu sync.Mutex
	// conns are the open connections; the element is the connection's
	// place in quiet, nil while it serves a request.
	conns map[net.Conn]*list.Element
	// quiet are the connections new or idle, the longest quiet first.
	quiet list.List
	// closed counts the connections closed since the last log line.
	closed  int
	lastLog time.Time
}

// track is the server's ConnState hook. Hooks of one connection run one
// after another: StateNew in the accept loop, the others in the
// connection's goroutine.
func (l *connLimit) track(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.conns[c]; e != nil {
		l.quiet.Remove(e)
	}
	switch state {
	case http.StateNew, http.StateIdle:
		l.conns[c] = l.quiet.PushBack(c)
	case http.StateActive:
		l.conns[c] = nil
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	}
	if state != http.StateNew || len(l.conns) <= l.max {
		return
	}
	// c itself is quiet, so there is one to close. Closing it ends its
	// goroutine's read; forget it now so that the next new connection
	// counts right.
	victim := l.quiet.Remove(l.quiet.Front()).(net.Conn)
	delete(l.conns, victim)
	_ = victim.Close()
	l.closed++
	if now := time.Now(); now.Sub(l.lastLog) >= time.Minute {
		l.log.Warn("connection limit reached: closing the connections idle the longest",
			"max_connections", l.max, "closed", l.closed)
		l.closed, l.lastLog = 0, now
	}
}
