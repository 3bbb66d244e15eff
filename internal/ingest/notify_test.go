package ingest

import (
	"context"
	"slices"
	"strconv"
	"testing"
)

// TestNotifyLoopChunks: when evaluation falls behind, an entity flushed
// now is passed on in the next OnFlush call, ahead of the thousands of
// entities of the flushes before, and every entity flushed is passed on,
// in calls of at most notifyChunk.
func TestNotifyLoopChunks(t *testing.T) {
	calls := make(chan []string)
	release := make(chan struct{})
	in := &Ingester{
		notified:   make(map[string]struct{}),
		notifyWake: make(chan struct{}, 1),
	}
	in.opts.OnFlush = func(_ context.Context, ids []string) {
		calls <- ids
		<-release
	}
	flush := func(ids ...string) {
		in.mu.Lock()
		for _, id := range ids {
			in.notified[id] = struct{}{}
		}
		in.mu.Unlock()
		select {
		case in.notifyWake <- struct{}{}:
		default:
		}
	}
	var many []string
	for i := range 1000 {
		many = append(many, "ent-"+strconv.Itoa(i))
	}
	done := make(chan struct{})
	flushesDone := make(chan struct{})
	go func() { defer close(done); in.notifyLoop(context.Background(), flushesDone) }()

	// drain receives calls until every entity of want was passed on.
	drain := func(want []string, during func(call int)) [][]string {
		t.Helper()
		left := make(map[string]bool, len(want))
		for _, id := range want {
			left[id] = true
		}
		var got [][]string
		for len(left) > 0 {
			ids := <-calls
			if len(ids) > notifyChunk {
				t.Fatalf("a call with %d entities, want at most %d", len(ids), notifyChunk)
			}
			got = append(got, ids)
			for _, id := range ids {
				delete(left, id)
			}
			if during != nil {
				during(len(got))
			}
			release <- struct{}{}
		}
		return got
	}

	// Every entity once, in calls of notifyChunk; one flushed during the
	// first call goes ahead of those never passed on yet.
	flush(many...)
	first := drain(append(slices.Clone(many), "probe"), func(call int) {
		if call == 1 {
			flush("probe")
		}
	})
	if got, want := len(first), (len(many)+1+notifyChunk-1)/notifyChunk; got != want {
		t.Fatalf("%d entities in %d calls, want %d", len(many)+1, got, want)
	}
	if !slices.Contains(first[1], "probe") {
		t.Fatal("the entity flushed during the first call is not in the second")
	}

	// A backlog: all of them flushed again, then a new one while the
	// first call runs, then all of them again while the second runs.
	for round, again := range []bool{false, true} {
		probe := "probe-" + strconv.Itoa(round)
		flush(many...)
		got := drain(append(slices.Clone(many), probe), func(call int) {
			if call == 1 {
				flush(probe)
			}
			if call == 2 && again {
				flush(many...)
			}
		})
		if !slices.Contains(got[1], probe) {
			t.Fatalf("the entity flushed during the first call is not in the second; calls of %d, %d, ... entities", len(got[0]), len(got[1]))
		}
	}
	// Whatever is still pending is passed on after the last flush.
	go func() {
		for {
			select {
			case <-calls:
				release <- struct{}{}
			case <-done:
				return
			}
		}
	}()
	close(flushesDone)
	<-done
}
