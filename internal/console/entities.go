package console

import (
	"cmp"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/dossier"
	"github.com/transferwatch/transferwatch/internal/policy"
)

// entityRow is one line of the Entities page.
type entityRow struct {
	ID, Name string
	// Decision is allow, warn, block, or pending (not evaluated yet).
	Decision   string
	WorstRule  string
	WorstLevel policy.Level
	Bars       []bar
	Deadline   *deadline
}

// bar is one threshold of an entity: the share of it reached.
type bar struct {
	Rule      string
	Threshold uint64
	Ratio     float64
	Level     policy.Level
	Covered   bool
}

// Width is the bar's filled width in a 100-unit box, capped at 100.
func (b bar) Width() float64 { return min(b.Ratio, 1) * 100 }

// Percent is the share reached, in whole percent.
func (b bar) Percent() int { return int(b.Ratio * 100) }

// deadline is a dated event ahead of (or overdue for) an entity.
type deadline struct {
	Date policy.Date
	// Kind is a dossier event kind (label "event.<Kind>").
	Kind string
	// What names the rule or the approval.
	What string
	// Days from today; negative once passed.
	Days int
}

// entitiesData is the data of the Entities page.
type entitiesData struct {
	// Body is the table's rows, written by writeRows: with 10,000
	// entities, html/template's reflection would take most of a second.
	Body     template.HTML
	Count    int
	Total    int
	Decision string // the filter, "" for all
	// Page is the page shown (from 1) of Pages, each of PageRows rows;
	// First and Last number its rows among the Count that match.
	Page, Pages, First, Last int
	// Prev and Next are the links to the neighbouring pages, "" at the ends.
	Prev, Next string
	// Withheld is why decisions are withheld, "" when none is.
	Withheld string
	Filters  []string
}

// PageRows is how many entities a page of the Entities page lists: the
// page stays under a second in a browser, and its size bounded, however
// many entities there are (up to limits.max_entities).
const PageRows = 1000

// decisionFilters are the values of the decision filter.
var decisionFilters = []string{"block", "warn", "allow", "pending"}

func (c *console) entitiesPage(w http.ResponseWriter, r *http.Request) {
	filter := r.URL.Query().Get("decision")
	if !slices.Contains(decisionFilters, filter) {
		filter = ""
	}
	list, withheld := c.vouched(c.o.Now())
	d := entitiesData{Total: len(list), Decision: filter, Filters: decisionFilters, Withheld: withheld}
	rows := entityRows(list, filter)
	d.Count = len(rows)
	d.Pages = max(1, (len(rows)+PageRows-1)/PageRows)
	d.Page = 1
	if n, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil {
		d.Page = min(max(n, 1), d.Pages)
	}
	from, to := (d.Page-1)*PageRows, min(d.Page*PageRows, len(rows))
	d.First, d.Last = min(from+1, to), to
	link := func(page int) string {
		q := url.Values{"page": {strconv.Itoa(page)}}
		if filter != "" {
			q.Set("decision", filter)
		}
		return "/ui/?" + q.Encode()
	}
	if d.Page > 1 {
		d.Prev = link(d.Page - 1)
	}
	if d.Page < d.Pages {
		d.Next = link(d.Page + 1)
	}
	d.Body = writeRows(rows[from:to], c.cat, requestLang(r))
	c.render(w, r, http.StatusOK, "entities", d)
}

// entityRows returns the rows of the statuses whose decision is filter
// ("": all), most urgent first: block, warn, allow, then not evaluated;
// then the worst level, highest first; then the nearest deadline; then the
// id.
func entityRows(list []policy.Status, filter string) []entityRow {
	rows := make([]entityRow, 0, len(list))
	for _, s := range list {
		row := rowOf(s)
		if filter != "" && row.Decision != filter {
			continue
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b entityRow) int {
		if c := cmp.Compare(decisionRank(b.Decision), decisionRank(a.Decision)); c != 0 {
			return c
		}
		if c := cmp.Compare(b.WorstLevel.Value(), a.WorstLevel.Value()); c != 0 {
			return c
		}
		switch {
		case a.Deadline != nil && b.Deadline != nil:
			if c := cmp.Compare(a.Deadline.Days, b.Deadline.Days); c != 0 {
				return c
			}
		case a.Deadline != nil:
			return -1
		case b.Deadline != nil:
			return 1
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return rows
}

func decisionRank(d string) int {
	switch d {
	case "block":
		return 3
	case "warn":
		return 2
	case "allow":
		return 1
	}
	return 0
}

// rowOf summarises a status.
func rowOf(s policy.Status) entityRow {
	row := entityRow{ID: s.Entity, Name: s.Name, Decision: string(s.Decision), WorstLevel: policy.LevelOK}
	if s.UpdatedAt.IsZero() {
		row.Decision = "pending"
		return row
	}
	today := civil.DateOf(s.UpdatedAt)
	worst := -1
	for i, r := range s.Rules {
		// A bar for each threshold that counts people; the rules met by a
		// single transfer (important data, sensitive-any, scope) show in
		// the worst rule instead.
		if r.Threshold > 1 {
			row.Bars = append(row.Bars, bar{Rule: r.ID, Threshold: r.Threshold, Ratio: r.Ratio, Level: r.Level, Covered: r.Covered})
		}
		if worst < 0 || r.Level.Value() > s.Rules[worst].Level.Value() ||
			(r.Level.Value() == s.Rules[worst].Level.Value() && r.Ratio > s.Rules[worst].Ratio) {
			worst = i
		}
	}
	if worst >= 0 && s.Rules[worst].Level != policy.LevelOK {
		row.WorstRule, row.WorstLevel = s.Rules[worst].ID, s.Rules[worst].Level
	}
	// The coming deadlines are the dossier's (forecast crossings, latest
	// start-by dates, filing, re-application and expiry days).
	if evs := dossier.Deadlines(s, today); len(evs) > 0 {
		row.Deadline = earlier(row.Deadline, deadlineOf(evs[0]), today)
	}
	// Adapter: a filing or re-application deadline already past while
	// its approval is still in force is overdue, the most urgent of all;
	// dossier.Deadlines lists only the days ahead.
	for _, a := range s.Approvals {
		if a.ValidUntil != nil && a.ValidUntil.Before(today) {
			continue
		}
		if d := a.ReapplyBy; d != nil && d.Before(today) {
			row.Deadline = earlier(row.Deadline, deadline{Date: *d, Kind: dossier.EventReapplyBy, What: a.Reference}, today)
		}
		if d := a.FilingDue; d != nil && d.Before(today) && a.FiledOn == nil {
			row.Deadline = earlier(row.Deadline, deadline{Date: *d, Kind: dossier.EventFilingDue, What: a.Reference}, today)
		}
	}
	return row
}

// deadlineOf is the deadline of a dossier event.
func deadlineOf(e dossier.Event) deadline {
	what := e.Reference
	if e.Rule != "" {
		what = e.Rule
	}
	return deadline{Date: e.Date, Kind: e.Kind, What: what}
}

// earlier returns the earlier of cur and d (d's Days set from today).
func earlier(cur *deadline, d deadline, today policy.Date) *deadline {
	d.Days = d.Date.DaysSince(today)
	if cur == nil || d.Days < cur.Days {
		return &d
	}
	return cur
}

// writeRows writes the rows of the Entities table. Every value from outside
// the binary (ids, names, rule ids, references) goes through
// html.EscapeString; labels come from the catalogue, escaped too.
func writeRows(rows []entityRow, cat *catalog, l lang) template.HTML {
	var b strings.Builder
	b.Grow(len(rows) * 900)
	esc := html.EscapeString
	t := func(key string) string { return esc(cat.T(l, key)) }
	labels := map[string]string{}
	label := func(key string) string {
		v, ok := labels[key]
		if !ok {
			v = t(key)
			labels[key] = v
		}
		return v
	}
	days := label("deadline.days")
	// Few elements a row: the browser's time grows with the elements of
	// ten thousand rows. The decision and the level colour their cells;
	// each bar is one element whose background draws it.
	for _, r := range rows {
		id := esc(r.ID)
		b.WriteString(`<tr role="row" data-entity="`)
		b.WriteString(id)
		b.WriteString(`"><th scope="row" role="rowheader"><a href="/ui/entities/`)
		b.WriteString(esc(url.PathEscape(r.ID)))
		b.WriteString(`">`)
		b.WriteString(id)
		b.WriteString(`</a>`)
		if r.Name != "" {
			b.WriteString(`<small>`)
			b.WriteString(esc(r.Name))
			b.WriteString(`</small>`)
		}
		dec := esc(r.Decision)
		b.WriteString(`</th><td role="cell" class="badge d-`)
		b.WriteString(dec)
		b.WriteString(`" data-decision="`)
		b.WriteString(dec)
		b.WriteString(`">`)
		b.WriteString(label("decision." + r.Decision))
		b.WriteString(`</td><td role="cell" class="lvl l-`)
		b.WriteString(esc(string(r.WorstLevel)))
		b.WriteString(`">`)
		if r.WorstRule != "" {
			b.WriteString(esc(r.WorstRule))
			b.WriteString(` · `)
		}
		b.WriteString(label("level." + string(r.WorstLevel)))
		b.WriteString(`</td><td role="cell">`)
		for _, br := range r.Bars {
			// The width class wN fills N×5% of the bar; the level class
			// gives its colour. No inline style: the Content-Security-
			// Policy forbids it.
			b.WriteString(`<span class="bar w`)
			b.WriteString(strconv.Itoa(int(min(br.Ratio, 1)*20 + 0.5)))
			b.WriteString(` l-`)
			b.WriteString(esc(string(br.Level)))
			b.WriteString(`">`)
			b.WriteString(esc(br.Rule))
			b.WriteString(` `)
			b.WriteString(strconv.Itoa(br.Percent()))
			b.WriteString(`%</span>`)
		}
		b.WriteString(`</td><td role="cell">`)
		if d := r.Deadline; d != nil {
			ds := d.Date.String()
			b.WriteString(`<time datetime="`)
			b.WriteString(ds)
			b.WriteString(`">`)
			b.WriteString(ds)
			b.WriteString(`</time> `)
			b.WriteString(label("event." + d.Kind))
			b.WriteString(` · `)
			b.WriteString(esc(d.What))
			b.WriteString(` · `)
			b.WriteString(strconv.Itoa(d.Days))
			b.WriteString(` `)
			b.WriteString(days)
		} else {
			b.WriteString(label("deadline.none"))
		}
		b.WriteString("</td></tr>\n")
	}
	return template.HTML(b.String()) //nolint:gosec // every value above is escaped
}
