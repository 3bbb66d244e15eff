package poll

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	calls := 0
	if err := Wait(time.Minute, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || calls != 3 {
		t.Errorf("Wait = %v after %d calls, want nil after 3", err, calls)
	}

	gone := errors.New("gone")
	calls = 0
	if err := Wait(time.Minute, func() error { calls++; return Stop(gone) }); !errors.Is(err, gone) || calls != 1 {
		t.Errorf("Wait = %v after %d calls, want %v at once", err, calls, gone)
	}

	last := errors.New("still down")
	err := Wait(0, func() error { return last })
	if !errors.Is(err, last) || !strings.Contains(err.Error(), "not within 0s") {
		t.Errorf("Wait = %v, want the timeout wrapping the last error", err)
	}
}
