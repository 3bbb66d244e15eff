// Package poll waits, in tests and in the benchmark harness, for a
// condition that another process or goroutine makes true: it checks the
// condition at a short interval until it holds or a deadline passes. The
// interval is how often to look, never a guess at how long something takes,
// so code using it does not sleep as a means of synchronization.
package poll

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// Interval is how often Until and Wait check their condition.
const Interval = 20 * time.Millisecond

// Until checks cond every Interval until it holds, and fails the test with
// "timed out after <timeout> waiting for <what>" when timeout passes first.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	err := Wait(timeout, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

var errNotYet = errors.New("not yet")

// stop marks an error that ends Wait at once.
type stop struct{ err error }

func (s stop) Error() string { return s.err.Error() }
func (s stop) Unwrap() error { return s.err }

// Stop wraps err so that Wait returns it at once instead of checking again:
// for a condition that can no longer become true (the process being waited
// for has exited).
func Stop(err error) error { return stop{err} }

// Wait calls check every Interval until it returns nil, or an error made by
// Stop, or timeout passes. It returns nil, the error given to Stop, or
// "not within <timeout>: <the last error check returned>".
func Wait(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if s, ok := errors.AsType[stop](err); ok {
			return s.err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s: %w", timeout, err)
		}
		time.Sleep(Interval)
	}
}
