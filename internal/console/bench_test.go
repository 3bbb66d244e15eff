package console_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/transferwatch/transferwatch/internal/api"
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

func TestEntitiesPageRowsAll(t *testing.T) {
	h := manyHandler(t)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/", nil))
	if rec.Code != http.StatusOK {
		t.Fatal(rec.Code)
	}
	if n := strings.Count(rec.Body.String(), `<tr role="row" data-entity="`); n != manyEntities {
		t.Errorf("%d rows, want %d", n, manyEntities)
	}
}
