package report_test

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/dossier"
	"github.com/transferwatch/transferwatch/internal/i18n"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/report"
	"github.com/transferwatch/transferwatch/pkg/decision"
)

// FuzzHostileText: names that come from outside (the recipient, destination
// and pipeline of a flow, an entity's name, a reason) never break the HTML
// out of its text, never add a resource reference, and never reach a
// spreadsheet as a formula.
func FuzzHostileText(f *testing.F) {
	for _, s := range []string{
		`<script>alert(1)</script>`, `"><img src=https://evil/x>`, `=HYPERLINK("http://x")`,
		`</style><link rel=stylesheet href=//x>`, "+1\t@x", `]]><!--`, "\x00\xff", `{{.}}`,
	} {
		f.Add(s)
	}
	r, err := report.New(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		now := time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)
		preset, _ := policy.PresetByName(policy.PresetCAC2024)
		st := policy.Evaluate(policy.Settings{Preset: preset, Location: time.UTC}, policy.Entity{ID: "acme-sh", Name: s}, policy.Observation{}, now)
		st.Reasons = append(st.Reasons, s)
		d := &dossier.Dossier{
			GeneratedAt: now, Today: civil.DateOf(now),
			Entity: dossier.EntityInfo{ID: "acme-sh", Name: s},
			Status: st,
			Flows: []policy.FlowReport{{Recipient: s, Destination: s, Category: s, Pipelines: []string{s}, FirstSeen: now, LastSeen: now,
				Approvals: []string{s}}},
			History:   []policy.Change{{Signal: decision.Signal{Version: 1, Decision: policy.Allow, Reasons: []string{s}, DecidedAt: now}}},
			Method:    dossier.NewMethod(),
			Checklist: dossier.Checklist(),
			Plans:     []dossier.Plan{},
		}
		for _, l := range i18n.Langs() {
			var buf bytes.Buffer
			if err := r.HTML(&buf, d, l); err != nil {
				t.Fatal(err)
			}
			dec := xml.NewDecoder(&buf)
			dec.Strict, dec.Entity = true, xml.HTMLEntity
			for {
				tok, err := dec.Token()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					// A string that is not valid UTF-8 or holds a character
					// XML forbids is escaped by html/template only as far as
					// HTML needs; the browser reads it as text all the same.
					if strings.Contains(err.Error(), "invalid UTF-8") || strings.Contains(err.Error(), "illegal character") {
						return
					}
					t.Fatalf("%q breaks the HTML: %v", s, err)
				}
				if se, ok := tok.(xml.StartElement); ok {
					switch se.Name.Local {
					case "script", "img", "link", "iframe", "object", "embed", "image", "use", "foreignObject":
						t.Fatalf("%q adds a <%s>", s, se.Name.Local)
					}
					for _, a := range se.Attr {
						switch a.Name.Local {
						case "href":
							if !strings.HasPrefix(a.Value, "#") {
								t.Fatalf("%q adds href=%q", s, a.Value)
							}
						case "src", "srcset", "action", "formaction", "background", "poster":
							t.Fatalf("%q adds %s=%q", s, a.Name.Local, a.Value)
						}
						if strings.HasPrefix(strings.ToLower(a.Name.Local), "on") {
							t.Fatalf("%q adds an event handler %s", s, a.Name.Local)
						}
					}
				}
			}
		}
		files, err := r.CSV(d, i18n.EN)
		if err != nil {
			t.Fatal(err)
		}
		for _, fl := range files {
			recs, err := csv.NewReader(bytes.NewReader(fl.Data)).ReadAll()
			if err != nil {
				t.Fatalf("%s: %v", fl.Name, err)
			}
			for _, rec := range recs {
				for _, cell := range rec {
					if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) && strings.Trim(cell[1:], "0123456789.") != "" {
						t.Fatalf("%s: cell %q reads as a formula", fl.Name, cell)
					}
				}
			}
		}
	})
}
