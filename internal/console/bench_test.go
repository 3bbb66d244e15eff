package console_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/transferwatch/transferwatch/internal/api"
	"github.com/transferwatch/transferwatch/internal/console"
)

// manyEntities is how many entities the Entities page must render in
// under a second.
const manyEntities = 10_000

// manyHandler is the API's handler (the console mounted in it) over
// manyEntities synthetic statuses.
func manyHandler(tb testing.TB) http.Handler {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		tb.Fatal(err)
	}
	return api.Handler(api.Options{
		Statuses: newStatusList(manyStatuses(tb, manyEntities, time.Now().In(loc))),
		Gatherer: prometheus.NewRegistry(),
		Ready:    func(*http.Request) error { return nil },
	})
}

// BenchmarkEntitiesPage renders the Entities page of 10,000 entities
// (sort, rows, a bar per threshold), through the API's handler.
func BenchmarkEntitiesPage(b *testing.B) {
	h := manyHandler(b)
	req := httptest.NewRequest(http.MethodGet, "/ui/", nil)
	var size int
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/page")
}

// TestEntitiesPageRowsAll: the pages of the Entities page list every
// entity once, console.PageRows to a page, in one order across pages; a
// page past the last shows the last.
func TestEntitiesPageRowsAll(t *testing.T) {
	h := manyHandler(t)
	get := func(query string) string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/"+query, nil))
		if rec.Code != http.StatusOK {
			t.Fatal(query, rec.Code)
		}
		return rec.Body.String()
	}
	ids := func(body string) []string {
		var out []string
		for _, part := range strings.Split(body, `<tr role="row" data-entity="`)[1:] {
			out = append(out, part[:strings.IndexByte(part, '"')])
		}
		return out
	}
	pages := (manyEntities + console.PageRows - 1) / console.PageRows
	seen := map[string]bool{}
	var last []string
	for p := 1; p <= pages; p++ {
		body := get("?page=" + strconv.Itoa(p))
		got := ids(body)
		if len(got) != console.PageRows || !strings.Contains(body, fmt.Sprintf("%d / %d", p, pages)) {
			t.Fatalf("page %d: %d rows, want %d, and page %d / %d", p, len(got), console.PageRows, p, pages)
		}
		for _, id := range got {
			if seen[id] {
				t.Fatalf("page %d lists %s again", p, id)
			}
			seen[id] = true
		}
		last = got
	}
	if len(seen) != manyEntities {
		t.Errorf("the pages list %d entities, want %d", len(seen), manyEntities)
	}
	if got := ids(get("?page=999")); !slices.Equal(got, last) {
		t.Error("a page past the last does not show the last")
	}
	if got := ids(get("?page=x")); len(got) != console.PageRows || seen[got[0]] == false {
		t.Error("a malformed page does not show the first")
	}
}
