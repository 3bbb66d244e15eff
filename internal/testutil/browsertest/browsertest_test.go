package browsertest_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/transferwatch/transferwatch/internal/testutil/browsertest"
	"github.com/transferwatch/transferwatch/internal/testutil/poll"
)

func TestBrowser(t *testing.T) {
	mux := http.NewServeMux()
	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><title>t</title><link rel="icon" href="data:,"></head><body>` + body + `</body></html>`))
		}
	}
	mux.HandleFunc("/clean", page(`<p class="n">1</p><p class="n">2</p>`))
	mux.HandleFunc("/console", page(`<script>console.error("boom", 42)</script>`))
	mux.HandleFunc("/throw", page(`<script>throw new Error("kaput")</script>`))
	mux.HandleFunc("/missing", page(`<img src="/nothing-here.png" alt="x">`))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	b := browsertest.Start(t)

	t.Run("clean page", func(t *testing.T) {
		p := b.NewPage(t)
		p.Navigate(srv.URL + "/clean")
		if got := p.Texts("p.n"); !slices.Equal(got, []string{"1", "2"}) {
			t.Errorf("texts = %q", got)
		}
		if got := browsertest.Must(p, chromedp.Evaluate[string]("document.documentElement.lang")); got != "en" {
			t.Errorf("lang = %q", got)
		}
		if got := p.Problems(); len(got) != 0 {
			t.Errorf("problems on a clean page: %q", got)
		}
	})
	for _, c := range []struct{ path, want string }{
		{"/console", "console.error: boom 42"},
		{"/throw", "kaput"},
		{"/missing", "404"},
	} {
		t.Run(c.path, func(t *testing.T) {
			p := b.NewPage(t)
			p.Navigate(srv.URL + c.path)
			// The events arrive asynchronously after the load.
			poll.Until(t, 10*time.Second, "the problem reported", func() bool { return len(p.Problems()) > 0 })
			if got := p.TakeProblems(); !strings.Contains(strings.Join(got, "\n"), c.want) {
				t.Errorf("problems = %q, want one containing %q", got, c.want)
			}
		})
	}
}
