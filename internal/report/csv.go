package report

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"strings"
	"time"

	"github.com/transferwatch/transferwatch/internal/dossier"
	"github.com/transferwatch/transferwatch/internal/i18n"
	"github.com/transferwatch/transferwatch/internal/policy"
)

// File is one file of the pack.
type File struct {
	Name string
	Data []byte
}

// CSVNames are the CSV files of a pack, in order: one per table.
func CSVNames() []string {
	return []string{"entity.csv", "approvals.csv", "timeline.csv", "counters.csv", "rules.csv", "series.csv",
		"start_by.csv", "flows.csv", "history.csv", "plan.csv", "checklist.csv", "accuracy.csv"}
}

// CSV returns the tables of the pack as CSV files (see CSVNames), with the
// same figures as the HTML and the JSON. Headers are stable column names
// (English, snake_case, as in the JSON); columns named label hold the text
// of a key in lang.
func (r *Renderer) CSV(d *dossier.Dossier, lang i18n.Lang) ([]File, error) {
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	i := func(n int) string { return strconv.Itoa(n) }
	b := func(v bool) string { return strconv.FormatBool(v) }
	dp := func(p *policy.Date) string {
		if p == nil {
			return ""
		}
		return p.String()
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.RFC3339)
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	tables := map[string][][]string{}

	recorded := ""
	if d.Recorded.DecidedAt != nil {
		recorded = ts(*d.Recorded.DecidedAt)
	}
	tables["entity.csv"] = [][]string{
		{"key", "value"},
		{"entity", d.Entity.ID}, {"name", d.Entity.Name}, {"ciio", b(d.Entity.CIIO)}, {"ftz", d.Entity.FTZ},
		{"employees", i(d.Entity.Employees)}, {"processed_subjects", u(d.Entity.ProcessedSubjects)},
		{"configured", b(d.Entity.Configured)},
		{"policy", d.Status.Policy}, {"decision", string(d.Status.Decision)},
		{"required_mechanism", string(d.Status.RequiredMechanism)},
		{"reasons", strings.Join(d.Status.Reasons, "\n")},
		{"recorded_version", strconv.FormatInt(d.Recorded.Version, 10)}, {"recorded_decision", d.Recorded.Decision},
		{"recorded_decided_at", recorded},
		{"generated_at", ts(d.GeneratedAt)}, {"today", d.Today.String()},
		{"estimate", d.Config.Estimate}, {"timezone", d.Config.Timezone},
		{"levels", f(d.Config.Levels.Notice) + " " + f(d.Config.Levels.Warning) + " " + f(d.Config.Levels.Critical)},
		{"renewal_lead_days", i(d.Config.RenewalLeadDays)}, {"forecast_lead_days", i(d.Config.ForecastLeadDays)},
		{"config_fingerprint", d.Config.Fingerprint},
		{"version", d.Build.Version}, {"revision", d.Build.Revision}, {"goversion", d.Build.GoVersion},
		{"hll_precision", i(d.Method.Precision)}, {"hll_registers", i(d.Method.Registers)},
		{"std_error_pct", f(d.Method.StdErrorPct)}, {"upper_bound_pct", f(d.Method.UpperBoundPct)},
	}

	ap := [][]string{{"reference", "mechanism", "status", "valid_until", "days_left", "filed_on", "filing_due", "reapply_by",
		"scope_recipients", "scope_destinations", "scope_categories", "scope_max_subjects"}}
	for _, a := range d.Status.Approvals {
		left := ""
		if a.DaysLeft != nil {
			left = i(*a.DaysLeft)
		}
		row := []string{a.Reference, string(a.Mechanism), string(a.Status), dp(a.ValidUntil), left, dp(a.FiledOn), dp(a.FilingDue), dp(a.ReapplyBy), "", "", "", ""}
		if s := a.Scope; s != nil {
			row[8], row[9], row[10], row[11] = strings.Join(s.Recipients, " "), strings.Join(s.Destinations, " "), strings.Join(s.Categories, " "), u(s.MaxSubjects)
		}
		ap = append(ap, row)
	}
	tables["approvals.csv"] = ap

	tl := [][]string{{"date", "kind", "label", "reference", "rule", "mechanism", "status", "past"}}
	for _, e := range d.Timeline {
		tl = append(tl, []string{e.Date.String(), e.Kind, r.cat.T(lang, "event."+e.Kind), e.Reference, e.Rule, string(e.Mechanism), e.Status, b(e.Past)})
	}
	tables["timeline.csv"] = tl

	co := [][]string{{"counter", "window", "window_start", "estimate", "upper_bound"}}
	for _, c := range d.Status.Counters {
		co = append(co, []string{string(c.Counter), string(c.Window), c.WindowStart.String(), u(c.Estimate), u(c.UpperBound)})
	}
	tables["counters.csv"] = co

	ru := [][]string{{"rule", "counter", "window", "threshold", "estimate", "upper_bound", "ratio", "level", "mechanism", "covered", "forecast_crossing"}}
	for _, x := range d.Status.Rules {
		ru = append(ru, []string{x.ID, string(x.Counter), string(x.Window), u(x.Threshold), u(x.Estimate), u(x.UpperBound),
			strconv.FormatFloat(x.Ratio, 'f', 3, 64), string(x.Level), string(x.Mechanism), b(x.Covered), dp(x.ForecastCrossing)})
	}
	tables["rules.csv"] = ru

	se := [][]string{{"counter", "window", "date", "kind", "people"}}
	for _, s := range d.Series {
		for _, p := range s.Points {
			se = append(se, []string{string(s.Counter), string(s.Window), p.Date.String(), "measured", u(p.People)})
		}
		for _, p := range s.Forecast {
			se = append(se, []string{string(s.Counter), string(s.Window), p.Date.String(), "forecast", u(p.People)})
		}
		for _, t := range s.Thresholds {
			se = append(se, []string{string(s.Counter), string(s.Window), "", "threshold:" + t.Rule, u(t.Threshold)})
		}
	}
	tables["series.csv"] = se

	sb := [][]string{{"rule", "mechanism", "threshold", "crossing", "earliest", "latest", "state"}}
	for _, x := range d.StartBy {
		sb = append(sb, []string{x.Rule, string(x.Mechanism), u(x.Threshold), x.Crossing.String(), x.Earliest.String(), x.Latest.String(), x.State})
	}
	tables["start_by.csv"] = sb

	fl := [][]string{{"recipient", "destination", "category", "estimate", "upper_bound", "events", "window", "first_seen", "last_seen", "pipelines", "approvals", "inside_scope"}}
	for _, x := range d.Flows {
		fl = append(fl, []string{x.Recipient, x.Destination, x.Category, u(x.Estimate), u(x.UpperBound), u(x.Events), string(x.Window),
			ts(x.FirstSeen), ts(x.LastSeen), strings.Join(x.Pipelines, " "), strings.Join(x.Approvals, " "), b(x.InsideScope)})
	}
	tables["flows.csv"] = fl

	hi := [][]string{{"version", "decided_at", "decision", "previous", "required_mechanism", "policy", "reasons", "rules"}}
	for _, c := range d.History {
		hi = append(hi, []string{strconv.FormatInt(c.Version, 10), ts(c.DecidedAt), string(c.Decision), string(c.Previous),
			string(c.RequiredMechanism), c.Policy, strings.Join(c.Reasons, "\n"),
			changeFigures(c.Rules, func(l policy.Level) string { return string(l) })})
	}
	tables["history.csv"] = hi

	pl := [][]string{{"plan", "kind", "mechanism", "renews", "rules", "start", "start_basis", "deadline", "step", "label", "from", "done_earliest", "done_latest", "min_days", "max_days", "statutory", "basis"}}
	for n, p := range d.Plans {
		for _, s := range p.Steps {
			pl = append(pl, []string{i(n + 1), p.Kind, string(p.Mechanism), p.Renews, strings.Join(p.Rules, " "), p.Start.String(), p.StartBasis, dp(p.Deadline),
				s.Key, r.cat.T(lang, "step."+s.Key), s.From.String(), s.DoneEarliest.String(), s.DoneLatest.String(), i(s.MinDays), i(s.MaxDays), s.Statutory, s.Basis})
		}
	}
	tables["plan.csv"] = pl

	cl := [][]string{{"document", "label", "supplier", "fills", "section"}}
	for _, c := range d.Checklist {
		cl = append(cl, []string{c.Key, r.cat.T(lang, "checklist."+c.Key), c.Supplier, strings.Join(c.Fills, " "), c.Section})
	}
	tables["checklist.csv"] = cl

	ac := [][]string{{"subjects", "trials", "mean_error_pct", "p99_error_pct", "max_error_pct"}}
	for _, x := range d.Method.Accuracy.Rows {
		ac = append(ac, []string{i(x.Subjects), i(x.Trials), f(x.MeanPct), f(x.P99Pct), f(x.MaxPct)})
	}
	tables["accuracy.csv"] = ac

	out := make([]File, 0, len(tables))
	for _, name := range CSVNames() {
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		rows := tables[name]
		for _, row := range rows {
			for j := range row {
				row[j] = defuse(row[j])
			}
		}
		if err := w.WriteAll(rows); err != nil {
			return nil, err
		}
		out = append(out, File{Name: name, Data: buf.Bytes()})
	}
	return out, nil
}

// defuse keeps a spreadsheet from reading a cell as a formula: a text
// (a recipient or pipeline name comes from outside input) starting with =,
// +, -, @, a tab or a carriage return gets a leading apostrophe. Numbers
// are left alone.
func defuse(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return s
	}
	if decimal(s) {
		return s
	}
	return "'" + s
}

// decimal reports whether s is a plain decimal number: an optional sign,
// digits, and optionally a point and more digits.
func decimal(s string) bool {
	s = strings.TrimLeft(s[:1], "+-") + s[1:]
	whole, frac, point := strings.Cut(s, ".")
	digits := func(x string) bool {
		return x != "" && strings.Trim(x, "0123456789") == ""
	}
	return digits(whole) && (!point || digits(frac))
}
