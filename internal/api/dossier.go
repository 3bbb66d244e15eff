package api

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/transferwatch/transferwatch/internal/dossier"
	"github.com/transferwatch/transferwatch/internal/i18n"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/report"
	"github.com/transferwatch/transferwatch/internal/store"
)

// Dossiers reads what the decision history and the evidence pack show from
// the store (a *dossier.Builder).
type Dossiers interface {
	// Build returns the entity's dossier now; dossier.ErrUnknownEntity for
	// an entity neither configured nor seen.
	Build(ctx context.Context, id string) (*dossier.Dossier, error)
	// History returns up to n of the entity's decision changes, newest
	// first; dossier.ErrUnknownEntity as Build.
	History(ctx context.Context, id string, n int) ([]policy.Change, error)
}

var _ Dossiers = (*dossier.Builder)(nil)

// MaxReportsAtOnce is how many evidence packs the API builds at once; a
// request beyond them is answered 503 with Retry-After. A pack decodes two
// years of an entity's sketches and draws its charts: without a bound a few
// clients could hold every core.
const MaxReportsAtOnce = 2

// handleDossiers serves the decision history and the evidence pack.
func handleDossiers(v1 routes, ds Dossiers, rep *report.Renderer) {
	building := make(chan struct{}, MaxReportsAtOnce)
	v1.HandleFunc("GET /v1/entities/{id}/history", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		limit := store.DecisionHistoryLen
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > store.DecisionHistoryLen {
				writeError(w, http.StatusBadRequest, "limit must be a whole number from 1 to "+strconv.Itoa(store.DecisionHistoryLen))
				return
			}
			limit = n
		}
		changes, err := ds.History(r.Context(), id, limit)
		if err != nil {
			dossierError(w, id, err)
			return
		}
		writeJSON(w, http.StatusOK, struct {
			Entity  string          `json:"entity"`
			Changes []policy.Change `json:"changes"`
		}{id, changes})
	})
	v1.HandleFunc("GET /v1/entities/{id}/report", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		q := r.URL.Query()
		lang, ok := i18n.ParseLang(q.Get("lang"))
		if !ok {
			writeError(w, http.StatusBadRequest, "lang must be en or zh")
			return
		}
		format := q.Get("format")
		switch format {
		case "", "html", "json", "csv":
		default:
			writeError(w, http.StatusBadRequest, "format must be html, json or csv")
			return
		}
		select {
		case building <- struct{}{}:
			defer func() { <-building }()
		default:
			w.Header().Set("Retry-After", "2")
			writeError(w, http.StatusServiceUnavailable, "busy: "+strconv.Itoa(MaxReportsAtOnce)+" evidence packs are being built; try again")
			return
		}
		d, err := ds.Build(r.Context(), id)
		if err != nil {
			dossierError(w, id, err)
			return
		}
		var buf bytes.Buffer
		name := "transferwatch-report-" + id + "-" + d.Today.String()
		switch format {
		case "json":
			err = report.JSON(&buf, d)
			w.Header().Set("Content-Type", "application/json")
			name += ".json"
		case "csv":
			var files []report.File
			if files, err = rep.CSV(d, lang); err == nil {
				err = report.Zip(&buf, files, d.GeneratedAt)
			}
			w.Header().Set("Content-Type", "application/zip")
			name += ".zip"
		default:
			err = rep.HTML(&buf, d, lang)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'")
			name += ".html"
		}
		if err != nil {
			w.Header().Del("Content-Type")
			w.Header().Del("Content-Security-Policy")
			writeError(w, http.StatusInternalServerError, "render the report: "+err.Error())
			return
		}
		disp := "inline"
		if format == "csv" || format == "json" {
			disp = "attachment"
		}
		// The entity id is 1-128 characters of A-Za-z0-9._:- (or the
		// lookup failed above), safe in a quoted file name.
		w.Header().Set("Content-Disposition", disp+`; filename="`+name+`"`)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Language", lang.HTMLLang())
		_, _ = w.Write(buf.Bytes())
	})
}

// dossierError answers a failed read of the store.
func dossierError(w http.ResponseWriter, id string, err error) {
	switch {
	case errors.Is(err, dossier.ErrUnknownEntity):
		writeError(w, http.StatusNotFound, "entity "+quote(id)+" is neither configured nor seen")
	case errors.Is(err, dossier.ErrUnverified):
		// As the decision endpoint: no figures it would not vouch for.
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, store.ErrUnavailable):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the store does not answer: "+err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}
