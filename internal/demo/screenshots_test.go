package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"image/png"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/transferwatch/transferwatch/internal/testutil/browsertest"
	"github.com/transferwatch/transferwatch/internal/testutil/poll"
	"github.com/transferwatch/transferwatch/internal/testutil/syncbuf"
)

// screenshotDir is where TestConsoleScreenshots writes its PNGs (make
// screenshots: docs/img); empty: a temporary directory.
var screenshotDir = flag.String("screenshots", "", "write the console's screenshots into this directory")

// TestConsoleScreenshots runs the whole demo, opens every page of the
// console in a real Chromium once the backlog is in, checks that each
// renders without a console error, and takes a 1280×800 screenshot of
// each: the entities, one entity (top, chart, timeline), the plan, the
// entity in Chinese, and its evidence pack.
func TestConsoleScreenshots(t *testing.T) {
	var out syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			HTTPAddr: "127.0.0.1:0",
			Getenv:   func(string) string { return "" },
			Out:      &out,
			Logger:   slog.New(slog.DiscardHandler),
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	base := demoBase(t, &out)

	// The backlog is in when every entity of the demo is evaluated and the
	// climbing one has counted people.
	poll.Until(t, 120*time.Second, "every demo entity evaluated", func() bool {
		resp, err := http.Get(base + "/v1/entities")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct {
			Entities []struct {
				Entity    string `json:"entity"`
				Evaluated bool   `json:"evaluated"`
				Counters  []struct {
					Estimate uint64 `json:"estimate"`
				} `json:"counters"`
			} `json:"entities"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
			return false
		}
		n := 0
		for _, e := range body.Entities {
			if !e.Evaluated {
				return false
			}
			if e.Entity == entityClimbing && len(e.Counters) > 0 && e.Counters[0].Estimate > 50_000 {
				n++
			}
		}
		return n == 1 && len(body.Entities) >= len(stories(time.Now()))
	})

	dir := *screenshotDir
	if dir == "" {
		dir = t.TempDir()
	}
	b := browsertest.Start(t)
	for _, s := range []struct{ file, path, want, scroll string }{
		{"console-entities.png", "/ui/?lang=en", "#entities", ""},
		{"console-entity.png", "/ui/entities/" + entityClimbing + "?lang=en", "#counters", ""},
		{"console-entity-chart.png", "/ui/entities/" + entityClimbing + "?lang=en", "#counters", "h-series"},
		{"console-entity-timeline.png", "/ui/entities/lotus-sz?lang=en", "#timeline", "h-timeline"},
		{"console-plan.png", "/ui/plan?lang=en", "#checklist", ""},
		{"console-entity-zh.png", "/ui/entities/" + entityClimbing + "?lang=zh", "#counters", "h-series"},
		{"evidence-pack.png", "/v1/entities/" + entityClimbing + "/report?format=html&lang=en", "h1", ""},
	} {
		t.Run(s.file, func(t *testing.T) {
			p := b.NewPage(t)
			p.Navigate(base + s.path)
			if n := browsertest.Must(p, chromedp.Evaluate[int]("document.querySelectorAll('"+s.want+"').length")); n != 1 {
				t.Fatalf("%s: no %s on the page", s.path, s.want)
			}
			if s.scroll != "" {
				browsertest.Must(p, chromedp.Evaluate[bool]("document.getElementById('"+s.scroll+"').scrollIntoView(), true"))
			}
			img := browsertest.Must(p, chromedp.CaptureScreenshot())
			cfg, err := png.DecodeConfig(bytes.NewReader(img))
			if err != nil || cfg.Width != browsertest.Width || cfg.Height != browsertest.Height {
				t.Fatalf("screenshot: %v, %dx%d", err, cfg.Width, cfg.Height)
			}
			if err := os.WriteFile(filepath.Join(dir, s.file), img, 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}
