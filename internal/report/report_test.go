package report_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/buildinfo"
	"github.com/transferwatch/transferwatch/internal/dossier"
	"github.com/transferwatch/transferwatch/internal/i18n"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/report"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store"
	"github.com/transferwatch/transferwatch/internal/store/memstore"
	"github.com/transferwatch/transferwatch/internal/store/storetest"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// fixture returns the dossier of an entity with 400 new people a day since
// 1 January, a security assessment, a flow with a hostile recipient name,
// and two recorded decision changes.
func fixture(t *testing.T) *dossier.Dossier {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 7, 1, 10, 0, 0, 0, loc)
	st := memstore.New()
	b := sketch.Batch{}
	cell := sketch.CellOf(event.KindTransfer, false, false)
	n := 0
	for day := 0; day <= 181; day++ {
		hashes := make([]uint64, 400)
		for i := range hashes {
			hashes[i] = storetest.Hash(n)
			n++
		}
		b.Add("acme-sh", 2026, day, cell, false, hashes)
		at := time.Date(2026, 1, 1+day, 12, 0, 0, 0, time.UTC).Unix()
		b.AddFlow("acme-sh", 2026, sketch.FlowKey{Recipient: "=cmd|acme<us>", Destination: "US", Category: sketch.CategoryPersonal}, uint64(day), at, "crm-sync", hashes)
	}
	if err := st.Merge(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	preset, _ := policy.PresetByName(policy.PresetCAC2024)
	s := policy.Settings{Preset: preset, RenewalLeadDays: 183, ForecastLeadDays: 183, Location: loc}
	from := time.Date(2025, 3, 1, 0, 0, 0, 0, loc)
	e := policy.Entity{ID: "acme-sh", Name: "Acme (Shanghai) Co., Ltd.", Approvals: []policy.Approval{{
		Mechanism: policy.SecurityAssessment, Status: policy.Pending, Reference: "CAC-2025-0042",
		ValidFrom: from, ValidUntil: from.AddDate(2, 0, 0),
	}}}
	prev := store.Decision{}
	for v, dec := range []policy.Decision{policy.Allow, policy.Warn} {
		status := policy.Evaluate(s, e, policy.Observation{}, now.AddDate(0, 0, -10+v))
		status.Decision = dec
		for i, r := range status.Rules {
			if r.ID == "personal-100k" && v == 1 {
				status.Rules[i].Estimate, status.Rules[i].UpperBound, status.Rules[i].Level = 100500, 102953, policy.LevelBreached
			}
		}
		msg, _ := json.Marshal(status.Signal(policy.Decision(prev.Decision), int64(v+1)))
		change, _ := json.Marshal(status.Change(policy.Decision(prev.Decision), int64(v+1)))
		next := store.Decision{Version: int64(v + 1), Decision: string(dec), DecidedAt: status.UpdatedAt, Change: string(change)}
		if ok, err := st.SwapDecision(context.Background(), "acme-sh", prev, next, msg); !ok || err != nil {
			t.Fatal(ok, err)
		}
		prev = next
	}
	d, err := dossier.New(st, dossier.Options{
		Settings: s, Entities: []policy.Entity{e}, Fingerprint: strings.Repeat("ab", 32),
		Build: buildinfo.Info{Version: "v1.2.3", Revision: "abcdef0", GoVersion: "go1.26"},
		Now:   func() time.Time { return now },
	}).Build(context.Background(), "acme-sh")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.History) != 2 || len(d.Flows) != 1 || len(d.Plans) == 0 || len(d.StartBy) == 0 {
		t.Fatalf("fixture too thin: history %d flows %d plans %d start-by %d", len(d.History), len(d.Flows), len(d.Plans), len(d.StartBy))
	}
	return d
}

func renderer(t *testing.T) *report.Renderer {
	t.Helper()
	r, err := report.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// node is a parsed element of the HTML (which the template keeps
// well-formed XML apart from the doctype).
type node struct {
	name     string
	attrs    map[string]string
	children []*node
	text     string // the text of the element and its descendants
}

func (n *node) find(pred func(*node) bool) []*node {
	var out []*node
	if pred(n) {
		out = append(out, n)
	}
	for _, c := range n.children {
		out = append(out, c.find(pred)...)
	}
	return out
}

func (n *node) byID(id string) *node {
	found := n.find(func(m *node) bool { return m.attrs["id"] == id })
	if len(found) != 1 {
		return nil
	}
	return found[0]
}

// parse parses the HTML strictly: every element closed, attributes quoted,
// entities known.
func parse(t *testing.T, doc []byte) *node {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	dec.Strict = true
	dec.Entity = xml.HTMLEntity
	root := &node{name: "#root", attrs: map[string]string{}}
	stack := []*node{root}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the report is not well-formed: %v", err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &node{name: tk.Name.Local, attrs: map[string]string{}}
			for _, a := range tk.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			top := stack[len(stack)-1]
			top.children = append(top.children, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			for _, n := range stack {
				n.text += string(tk)
			}
		}
	}
	if len(stack) != 1 {
		t.Fatalf("%d elements left open", len(stack)-1)
	}
	return root
}

// rows returns the cells' texts of the body rows of the table with id.
func rows(t *testing.T, root *node, id string) [][]string {
	t.Helper()
	tbl := root.byID(id)
	if tbl == nil {
		t.Fatalf("no table %q", id)
	}
	var out [][]string
	for _, tb := range tbl.find(func(n *node) bool { return n.name == "tbody" }) {
		for _, tr := range tb.children {
			var cells []string
			for _, td := range tr.children {
				cells = append(cells, strings.TrimSpace(td.text))
			}
			out = append(out, cells)
		}
	}
	return out
}

func TestHTMLShowsTheDossier(t *testing.T) {
	d := fixture(t)
	var buf bytes.Buffer
	if err := renderer(t).HTML(&buf, d, i18n.EN); err != nil {
		t.Fatal(err)
	}
	doc := buf.Bytes()
	for _, bad := range []string{"http://", "https://", "⟦", "<script", "url(", "@import"} {
		if bytes.Contains(doc, []byte(bad)) {
			t.Errorf("the report contains %q", bad)
		}
	}
	for _, want := range []string{"@page { size: A4", `<html lang="en">`, "Acme (Shanghai) Co., Ltd.", d.Config.Fingerprint, "v1.2.3"} {
		if !bytes.Contains(doc, []byte(want)) {
			t.Errorf("the report lacks %q", want)
		}
	}
	root := parse(t, doc)
	if !strings.Contains(root.text, d.GeneratedAt.Format(time.RFC3339)) {
		t.Errorf("the report does not say when it was generated")
	}

	// Every rule with its figures.
	rr := rows(t, root, "rules-table")
	if len(rr) != len(d.Status.Rules) {
		t.Fatalf("%d rule rows, want %d", len(rr), len(d.Status.Rules))
	}
	for i, r := range d.Status.Rules {
		want := []string{r.ID, i18n.Uint(r.Threshold), i18n.Uint(r.Estimate), i18n.Uint(r.UpperBound), strconv.FormatFloat(r.Ratio, 'f', 3, 64)}
		if !slices.Equal(rr[i][:5], want) {
			t.Errorf("rule row %d = %q, want %q", i, rr[i][:5], want)
		}
	}
	cr := rows(t, root, "counters-table")
	for i, c := range d.Status.Counters {
		if cr[i][3] != i18n.Uint(c.Estimate) || cr[i][4] != i18n.Uint(c.UpperBound) {
			t.Errorf("counter row %d = %q, want %d %d", i, cr[i], c.Estimate, c.UpperBound)
		}
	}
	// Flows, with the hostile recipient escaped (the parse would fail
	// otherwise) and shown as is.
	fr := rows(t, root, "flows-table")
	if len(fr) != 1 || fr[0][0] != "=cmd|acme<us>" || fr[0][3] != i18n.Uint(d.Flows[0].Estimate) {
		t.Errorf("flows %q", fr)
	}
	hr := rows(t, root, "history-table")
	if len(hr) != 2 || hr[0][0] != "2" || hr[0][2] != "warn" || hr[0][3] != "allow" ||
		hr[0][5] != "personal-100k 102,953 / 100,000 breached" || hr[1][5] != "—" {
		t.Errorf("history %q", hr)
	}
	sb := rows(t, root, "start-by-table")
	if len(sb) != len(d.StartBy) || sb[0][4] != d.StartBy[0].Earliest.String() || sb[0][5] != d.StartBy[0].Latest.String() {
		t.Errorf("start-by %q", sb)
	}
	if cl := rows(t, root, "checklist-table"); len(cl) != 12 || cl[3][0] != "Personal information protection impact assessment (PIPIA)" {
		t.Errorf("checklist %q", cl)
	}
	ac := rows(t, root, "accuracy-table")
	if m := sketch.MeasuredAccuracy(); len(ac) != len(m.Rows) || ac[2][3] != strconv.FormatFloat(m.Rows[2].P99Pct, 'f', 2, 64)+"%" {
		t.Errorf("accuracy %q", ac)
	}
	// One chart per series, with its measured line, its forecast line and
	// the threshold of personal-100k drawn.
	svgs := root.find(func(n *node) bool { return n.name == "svg" })
	if len(svgs) != len(d.Series) {
		t.Fatalf("%d charts, want %d", len(svgs), len(d.Series))
	}
	fig := root.byID("chart-non_sensitive-current_year")
	if fig == nil {
		t.Fatal("no chart of non_sensitive")
	}
	var measured, forecast, threshold bool
	for _, n := range fig.find(func(*node) bool { return true }) {
		switch n.attrs["class"] {
		case "measured":
			measured = len(strings.Fields(n.attrs["points"])) == 182
		case "forecast":
			forecast = len(strings.Fields(n.attrs["points"])) == 184
		case "threshold":
			threshold = true
		}
	}
	if !measured || !forecast || !threshold {
		t.Errorf("chart: measured %v (182 points), forecast %v (184 points), threshold %v", measured, forecast, threshold)
	}
	if !strings.Contains(fig.text, "personal-100k 100,000") {
		t.Errorf("chart does not label the 100,000 threshold: %q", fig.text)
	}
}

func TestHTMLInChinese(t *testing.T) {
	d := fixture(t)
	var buf bytes.Buffer
	if err := renderer(t).HTML(&buf, d, i18n.ZH); err != nil {
		t.Fatal(err)
	}
	root := parse(t, buf.Bytes())
	for _, want := range []string{`<html lang="zh-Hans">`, "证据包：个人信息出境", "材料清单", "个人信息保护影响评估报告", "数据出境安全评估"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the Chinese report lacks %q", want)
		}
	}
	if strings.Contains(buf.String(), "⟦") {
		t.Error("a label is missing from the catalogue")
	}
	// The figures are the same in both languages.
	if rr := rows(t, root, "rules-table"); rr[0][2] != i18n.Uint(d.Status.Rules[0].Estimate) {
		t.Errorf("rules in Chinese %q", rr[0])
	}
}

func TestJSONIsTheDossier(t *testing.T) {
	d := fixture(t)
	var buf bytes.Buffer
	if err := report.JSON(&buf, d); err != nil {
		t.Fatal(err)
	}
	var got dossier.Dossier
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(&got)
	want, _ := json.Marshal(d)
	if !bytes.Equal(again, want) {
		t.Errorf("the JSON does not round-trip to the dossier")
	}
	var generic map[string]any
	_ = json.Unmarshal(buf.Bytes(), &generic)
	for _, k := range []string{"generated_at", "entity", "status", "timeline", "series", "start_by", "flows", "history", "method", "plans", "checklist", "config", "build"} {
		if _, ok := generic[k]; !ok {
			t.Errorf("the JSON lacks %q", k)
		}
	}
}

func readCSV(t *testing.T, files []report.File, name string) [][]string {
	t.Helper()
	for _, f := range files {
		if f.Name == name {
			recs, err := csv.NewReader(bytes.NewReader(f.Data)).ReadAll()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return recs
		}
	}
	t.Fatalf("no %s", name)
	return nil
}

func TestCSVHoldsTheSameFigures(t *testing.T) {
	d := fixture(t)
	files, err := renderer(t).CSV(d, i18n.ZH)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, report.CSVNames()) {
		t.Fatalf("files %v", names)
	}
	rules := readCSV(t, files, "rules.csv")
	for i, r := range d.Status.Rules {
		row := rules[i+1]
		if row[0] != r.ID || row[3] != strconv.FormatUint(r.Threshold, 10) || row[4] != strconv.FormatUint(r.Estimate, 10) || row[5] != strconv.FormatUint(r.UpperBound, 10) || row[7] != string(r.Level) {
			t.Errorf("rules.csv row %d = %q", i+1, row)
		}
	}
	series := readCSV(t, files, "series.csv")
	measured := 0
	for _, row := range series[1:] {
		if row[0] == "non_sensitive" && row[1] == "current_year" && row[3] == "measured" {
			measured++
		}
	}
	if measured != 182 {
		t.Errorf("series.csv holds %d measured days of non_sensitive, want 182", measured)
	}
	flows := readCSV(t, files, "flows.csv")
	if flows[1][0] != "'=cmd|acme<us>" || flows[1][3] != strconv.FormatUint(d.Flows[0].Estimate, 10) {
		t.Errorf("flows.csv row %q: the recipient must be defused, the figure equal", flows[1])
	}
	cl := readCSV(t, files, "checklist.csv")
	if len(cl) != 13 || cl[4][1] != "个人信息保护影响评估报告" {
		t.Errorf("checklist.csv %q", cl)
	}
	hist := readCSV(t, files, "history.csv")
	if len(hist) != 3 || hist[1][0] != "2" || hist[1][7] != "personal-100k 102,953 / 100,000 breached" {
		t.Errorf("history.csv %q", hist)
	}
	ent := readCSV(t, files, "entity.csv")
	if !slices.ContainsFunc(ent, func(r []string) bool { return slices.Equal(r, []string{"config_fingerprint", d.Config.Fingerprint}) }) {
		t.Errorf("entity.csv lacks the fingerprint: %q", ent)
	}
}

func TestWriteDirAndZip(t *testing.T) {
	d := fixture(t)
	dir := filepath.Join(t.TempDir(), "pack")
	names, err := renderer(t).WriteDir(dir, d, i18n.EN)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]string{report.HTMLFile, report.JSONFile}, report.CSVNames()...)
	if !slices.Equal(names, want) {
		t.Errorf("wrote %v", names)
	}
	for _, n := range want {
		if fi, err := os.Stat(filepath.Join(dir, n)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", n, err)
		}
	}
	files, _ := renderer(t).CSV(d, i18n.EN)
	var buf bytes.Buffer
	if err := report.Zip(&buf, files, d.GeneratedAt); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil || len(zr.File) != len(files) || zr.File[0].Name != "entity.csv" {
		t.Fatalf("zip: %v, %d files", err, len(zr.File))
	}
}
