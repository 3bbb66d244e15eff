// Package report renders the evidence pack of one entity from its dossier
// (package dossier): a self-contained HTML page that prints on A4 (inline
// CSS, a server-drawn inline SVG chart per daily series, no script, no
// external resource), the dossier as JSON, and its tables as CSV files.
//
// The CSV form is one file per table of the pack (entity.csv, counters.csv,
// rules.csv, …; see CSV), each a plain rectangular table with a header row
// of stable column names; the API serves them together as one zip archive,
// the CLI writes them beside report.html and report.json. Labels follow
// the language (i18n.EN or i18n.ZH); figures, dates, ids and the reasons
// the policy gives are the same in both.
package report

import (
	"archive/zip"
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/transferwatch/transferwatch/internal/dossier"
	"github.com/transferwatch/transferwatch/internal/i18n"
	"github.com/transferwatch/transferwatch/internal/policy"
)

//go:embed report.html.tmpl
var files embed.FS

// Renderer renders evidence packs. It is safe for concurrent use.
type Renderer struct {
	cat  *i18n.Catalog
	tmpl *template.Template
}

// New returns a Renderer labelling with cat (nil: i18n.New()).
func New(cat *i18n.Catalog) (*Renderer, error) {
	if cat == nil {
		cat = i18n.New()
	}
	t, err := template.New("report.html.tmpl").Funcs(funcs(cat)).ParseFS(files, "report.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("report: template: %w", err)
	}
	return &Renderer{cat: cat, tmpl: t}, nil
}

// page is what the template renders.
type page struct {
	D      *dossier.Dossier
	Lang   i18n.Lang
	Charts []Chart
	// Warn is the decision's severity for its colour: allow, warn or block.
	Decision string
}

// HTML writes the HTML evidence pack of d in lang.
func (r *Renderer) HTML(w io.Writer, d *dossier.Dossier, lang i18n.Lang) error {
	p := page{D: d, Lang: lang, Decision: string(d.Status.Decision)}
	for _, s := range d.Series {
		c := NewChart(s, d.Today)
		if lang == i18n.ZH {
			for i, t := range c.XTicks {
				if t.Month != time.January {
					c.XTicks[i].Label = strconv.Itoa(int(t.Month)) + "月"
				}
			}
		}
		p.Charts = append(p.Charts, c)
	}
	var buf bytes.Buffer
	if err := r.tmpl.Execute(&buf, p); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// JSON writes the dossier as indented JSON.
func JSON(w io.Writer, d *dossier.Dossier) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}

// Names of the files WriteDir writes besides the CSV files.
const (
	HTMLFile = "report.html"
	JSONFile = "report.json"
)

// WriteDir writes report.html, report.json and the CSV files of d into dir
// (made if missing) and returns their names.
func (r *Renderer) WriteDir(dir string, d *dossier.Dossier, lang i18n.Lang) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var h, j bytes.Buffer
	if err := r.HTML(&h, d, lang); err != nil {
		return nil, err
	}
	if err := JSON(&j, d); err != nil {
		return nil, err
	}
	out := []File{{HTMLFile, h.Bytes()}, {JSONFile, j.Bytes()}}
	csvs, err := r.CSV(d, lang)
	if err != nil {
		return nil, err
	}
	out = append(out, csvs...)
	names := make([]string, 0, len(out))
	for _, f := range out {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			return nil, err
		}
		names = append(names, f.Name)
	}
	return names, nil
}

// Zip writes files as a zip archive, stamped with at.
func Zip(w io.Writer, files []File, at time.Time) error {
	zw := zip.NewWriter(w)
	for _, f := range files {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: at})
		if err != nil {
			return err
		}
		if _, err := fw.Write(f.Data); err != nil {
			return err
		}
	}
	return zw.Close()
}

// funcs are the template's functions.
func funcs(cat *i18n.Catalog) template.FuncMap {
	return template.FuncMap{
		// t returns the label of key in lang.
		"t": func(l i18n.Lang, key string) string { return cat.T(l, key) },
		// tk returns the label of prefix.value in lang, or value itself
		// when the catalogue has no such key (an id, say).
		"tk": func(l i18n.Lang, prefix string, v any) string {
			s := fmt.Sprint(v)
			if txt, ok := cat.Lookup(prefix + "." + s); ok {
				return txt.In(l)
			}
			return s
		},
		"num":   num,
		"pct":   func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) + "%" },
		"ratio": func(f float64) string { return strconv.FormatFloat(f, 'f', 3, 64) },
		"yesno": func(l i18n.Lang, b bool) string {
			if b {
				return cat.T(l, "yes")
			}
			return cat.T(l, "no")
		},
		"date": func(d *policy.Date) string {
			if d == nil {
				return "—"
			}
			return d.String()
		},
		"time": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.Format(time.RFC3339)
		},
		"day": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.Format(time.DateOnly)
		},
		"timep": func(t *time.Time) string {
			if t == nil || t.IsZero() {
				return "—"
			}
			return t.Format(time.RFC3339)
		},
		"join": strings.Join,
		// figures names the rules above ok at a change: "personal-100k
		// 100,217 / 100,000 breached".
		"figures": func(l i18n.Lang, rules []policy.RuleFigure) string {
			return changeFigures(rules, func(level policy.Level) string { return cat.T(l, "level."+string(level)) })
		},
		"list": func(s []string) string {
			if len(s) == 0 {
				return "—"
			}
			return strings.Join(s, ", ")
		},
		"fills": func(l i18n.Lang, keys []string) string {
			if len(keys) == 0 {
				return "—"
			}
			out := make([]string, len(keys))
			for i, k := range keys {
				out[i] = cat.T(l, "fill."+k)
			}
			sep := ", "
			if l == i18n.ZH {
				sep = "、"
			}
			return strings.Join(out, sep)
		},
		"levels": func(lv dossier.Levels) string {
			return fmt.Sprintf("%.2f, %.2f, %.2f", lv.Notice, lv.Warning, lv.Critical)
		},
		"scope": func(s *policy.ScopeReport) string {
			if s == nil {
				return "—"
			}
			var parts []string
			if len(s.Recipients) > 0 {
				parts = append(parts, strings.Join(s.Recipients, " "))
			}
			if len(s.Destinations) > 0 {
				parts = append(parts, strings.Join(s.Destinations, " "))
			}
			if len(s.Categories) > 0 {
				parts = append(parts, strings.Join(s.Categories, " "))
			}
			if s.MaxSubjects > 0 {
				parts = append(parts, "≤ "+num(s.MaxSubjects))
			}
			if len(parts) == 0 {
				return "—"
			}
			return strings.Join(parts, "; ")
		},
	}
}

// num formats n with thousands separators: 1,234,567.
func num(n any) string {
	switch v := n.(type) {
	case uint64:
		return i18n.Uint(v)
	case int:
		return i18n.Int(int64(v))
	case int64:
		return i18n.Int(v)
	default:
		return fmt.Sprint(n)
	}
}

// MustNew is New with the default catalogue; it panics if the embedded
// template does not parse, which the package's tests rule out.
func MustNew() *Renderer {
	r, err := New(nil)
	if err != nil {
		panic(err)
	}
	return r
}

// changeFigures describes the rules above ok at a change, "—" if none:
// "personal-100k 100,217 / 100,000 breached; …" (the figure held is the
// upper bound unless it is 0).
func changeFigures(rules []policy.RuleFigure, level func(policy.Level) string) string {
	var parts []string
	for _, r := range rules {
		if r.Level == policy.LevelOK || r.Level == "" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s / %s %s", r.ID, num(max(r.UpperBound, r.Estimate)), num(r.Threshold), level(r.Level)))
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, "; ")
}
