package demo

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/testutil/poll"
	"github.com/transferwatch/transferwatch/internal/testutil/syncbuf"
)

// TestRunStopsOnCancel runs the whole demo in-process (so that -race sees
// every goroutine of it), watches the climbing entity cross into block,
// reads the API while it runs, then cancels the context as Ctrl-C does and
// expects a clean stop with a summary.
func TestRunStopsOnCancel(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole demo")
	}
	var out, logs syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			HTTPAddr: "127.0.0.1:0",
			Getenv:   func(string) string { return "" },
			Out:      &out,
			Logger:   slog.New(slog.NewJSONHandler(&logs, nil)),
		})
	}()

	base := demoBase(t, &out)

	poll.Until(t, 60*time.Second, "entities from the API", func() bool {
		resp, err := http.Get(base + "/v1/entities")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct {
			Entities []struct {
				Entity string `json:"entity"`
			} `json:"entities"`
		}
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&body) == nil &&
			len(body.Entities) >= len(stories(time.Now()))
	})
	poll.Until(t, 120*time.Second, entityClimbing+" to reach block", func() bool {
		return strings.Contains(out.String(), "decision "+entityClimbing+": warn -> block")
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}

	got := out.String()
	for _, want := range []string{
		"final " + entityClimbing + " ", "final " + entityQuiet + " allow", "final " + entityRenewal + " ",
		"decision " + entityImportant + ": allow -> block",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if m := regexp.MustCompile(`dead letters: (\d+) on`).FindStringSubmatch(got); m == nil {
		t.Error("no dead-letter count")
	} else if n, _ := strconv.Atoi(m[1]); n < len(malformed(time.Now())) {
		t.Errorf("%d dead letters, want at least %d", n, len(malformed(time.Now())))
	}
	if !strings.Contains(logs.String(), "demo subject key in use; never use it in production") {
		t.Error("no warning about the demo key in the log")
	}
	if strings.Contains(got, "user-") || strings.Contains(logs.String(), "user-") {
		t.Error("a subject identifier was printed")
	}
	if t.Failed() {
		t.Logf("output:\n%s", got)
	}
}

// demoAddr finds the HTTP address in the demo's output.
var demoAddr = regexp.MustCompile(`(?m)^  http +http://(\S+)`)

// demoBase waits until the demo running into out prints its HTTP address,
// and returns the base URL.
func demoBase(t *testing.T, out *syncbuf.Buffer) string {
	t.Helper()
	poll.Until(t, 30*time.Second, "the HTTP address", func() bool { return demoAddr.MatchString(out.String()) })
	return "http://" + demoAddr.FindStringSubmatch(out.String())[1]
}
