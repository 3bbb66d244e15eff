// Package browsertest starts a real headless Chromium for tests and opens
// pages in it that record every console error, uncaught exception and
// browser log error, so that a test can assert that a page ran cleanly.
//
// It is imported only by tests. The browser is Debian's chromium (`make
// deps` installs it); a test fails, never skips, when it is missing. Start
// one Browser per package (in one top-level test that runs the others as
// subtests): it is stopped by t.Cleanup, and each Page is a tab of it.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Width and Height are the window size of the browser, in CSS pixels.
const (
	Width  = 1280
	Height = 800
)

// ActionTimeout bounds each Run of a Page unless its Timeout says
// otherwise.
const ActionTimeout = 30 * time.Second

// Candidates are the browser binaries looked for, in order; TW_CHROMIUM,
// when set, is used instead.
var candidates = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Browser is one headless Chromium process.
type Browser struct {
	ctx context.Context // the browser's chromedp context
}

// ExecPath returns the path of the browser binary, or an error saying how
// to install it.
func ExecPath() (string, error) {
	if p := os.Getenv("TW_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chromium found (looked for %s): run `make deps` (Debian package chromium) or set TW_CHROMIUM",
		strings.Join(candidates, ", "))
}

// Start starts a headless Chromium, fails the test if it cannot, and stops
// it when the test ends. The flags let it run as root in a container (CI):
// no sandbox, no GPU, no /dev/shm, no background network.
func Start(t testing.TB) *Browser {
	t.Helper()
	path, err := ExecPath()
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("font-render-hinting", "none"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(Width, Height),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	// The first Run starts the browser, with no timeout on its context.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return &Browser{ctx: bctx}
}

// Page is a tab of the browser that records what went wrong on it.
type Page struct {
	t   testing.TB
	ctx context.Context
	// Timeout bounds each Run; NewPage sets ActionTimeout.
	Timeout time.Duration

	mu       sync.Mutex
	problems []string
}

// NewPage opens a tab, closed when the test ends. On the test's end it
// fails the test if the tab saw a console error, an uncaught exception or
// an error in the browser log (a resource that did not load, a blocked
// script), unless the test already failed.
func (b *Browser) NewPage(t testing.TB) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	p := &Page{t: t, ctx: ctx, Timeout: ActionTimeout}
	t.Cleanup(func() {
		if !t.Failed() {
			p.AssertClean(t)
		}
		cancel()
	})
	if err := chromedp.Listen(ctx, p.record); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(Width, Height)); err != nil {
		t.Fatalf("setting the viewport: %v", err)
	}
	return p
}

// record keeps the events that mean the page went wrong. It runs on the
// tab's reading goroutine, so it only appends.
func (p *Page) record(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.ConsoleAPICalledTypeError && e.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var args []string
		for _, a := range e.Args {
			var str string
			switch {
			case a.Value != nil && json.Unmarshal(a.Value, &str) == nil:
				args = append(args, str)
			case a.Value != nil:
				args = append(args, string(a.Value))
			default:
				args = append(args, a.Description)
			}
		}
		msg = "console." + string(e.Type) + ": " + strings.Join(args, " ")
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg = "uncaught exception: " + d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		msg += fmt.Sprintf(" at %s:%d", d.URL, d.LineNumber)
	case *log.EventEntryAdded:
		if e.Entry.Level != log.EntryLevelError {
			return
		}
		msg = "browser log (" + string(e.Entry.Source) + "): " + e.Entry.Text + " " + e.Entry.URL
	default:
		return
	}
	p.mu.Lock()
	p.problems = append(p.problems, msg)
	p.mu.Unlock()
}

// Problems returns what went wrong on the page so far.
func (p *Page) Problems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.problems...)
}

// TakeProblems returns what went wrong on the page so far and forgets it,
// for a test that provokes an error on purpose (a refused login answers
// 401, which the browser logs) and checks it.
func (p *Page) TakeProblems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.problems
	p.problems = nil
	return out
}

// AssertClean fails the test if anything went wrong on the page so far.
func (p *Page) AssertClean(t testing.TB) {
	t.Helper()
	for _, m := range p.Problems() {
		t.Errorf("page problem: %s", m)
	}
}

// Context returns the tab's chromedp context, for chromedp.Run.
func (p *Page) Context() context.Context { return p.ctx }

// Do runs the actions in the tab within the page's Timeout and fails the test
// on an error.
func (p *Page) Do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if _, err := Run(p, chromedp.Steps(actions...)); err != nil {
		p.t.Fatal(err)
	}
}

// Run runs the action in the tab within the page's Timeout and returns its
// value.
func Run[T any](p *Page, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.Timeout)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// Must runs the action like Run and fails the test on an error.
func Must[T any](p *Page, a chromedp.Action[T]) T {
	p.t.Helper()
	v, err := Run(p, a)
	if err != nil {
		p.t.Fatal(err)
	}
	return v
}

// Texts returns the text content of every element matching the CSS
// selector, in document order (none: an empty slice).
func (p *Page) Texts(selector string) []string {
	p.t.Helper()
	js := fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(e => e.textContent.trim())`, selector)
	return Must(p, chromedp.Evaluate[[]string](js))
}

// Attr returns an attribute of the first element matching the CSS selector
// ("" when absent).
func (p *Page) Attr(selector, name string) string {
	p.t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? (e.getAttribute(%q) || "") : "" })()`, selector, name)
	return Must(p, chromedp.Evaluate[string](js))
}

// Navigate loads url and waits for it to load.
func (p *Page) Navigate(url string) {
	p.t.Helper()
	p.Do(chromedp.Navigate(url))
}
