// Package poll waits in tests for a condition that another process or
// goroutine makes true: it checks the condition at a short interval until it
// holds or a deadline passes. The interval is how often to look, never a
// guess at how long something takes, so tests using it do not sleep as a
// means of synchronization.
package poll

import (
	"testing"
	"time"
)

// Interval is how often Until checks its condition.
const Interval = 20 * time.Millisecond

// Until checks cond every Interval until it holds, and fails the test with
// "timed out after <timeout> waiting for <what>" when timeout passes first.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(Interval)
	}
}
