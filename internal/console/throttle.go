package console

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Failed logins allowed per client address per loginWindow; beyond, the
// login form answers 429 until the window ends. Tokens are long random
// strings, so guessing is hopeless anyway; this keeps a guesser from
// trying at the server's full speed and shows in the logs.
const (
	maxLoginFailures = 10
	loginWindow      = time.Minute
	// maxThrottled bounds the addresses remembered; when full, the
	// oldest windows are forgotten first (they are over anyway, or about
	// to be).
	maxThrottled = 4096
)

// throttle counts failed logins per client address in fixed windows.
type throttle struct {
	mu       sync.Mutex
	failures map[string]window
}

type window struct {
	start time.Time
	n     int
}

// key is the client address of r without its port.
func key(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// blocked returns how long the client of r must wait before it may try
// again, 0 when it may now.
func (t *throttle) blocked(r *http.Request, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.failures[key(r)]
	if !ok || now.Sub(w.start) >= loginWindow || w.n < maxLoginFailures {
		return 0
	}
	return w.start.Add(loginWindow).Sub(now)
}

// fail counts a failed login of the client of r.
func (t *throttle) fail(r *http.Request, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failures == nil {
		t.failures = make(map[string]window)
	}
	k := key(r)
	w := t.failures[k]
	if now.Sub(w.start) >= loginWindow {
		w = window{start: now}
	}
	w.n++
	if _, ok := t.failures[k]; !ok && len(t.failures) >= maxThrottled {
		for a, old := range t.failures {
			if now.Sub(old.start) >= loginWindow {
				delete(t.failures, a)
			}
		}
		if len(t.failures) >= maxThrottled {
			clear(t.failures)
		}
	}
	t.failures[k] = w
}
