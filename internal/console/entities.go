package console

import (
	"cmp"
	"net/http"
	"slices"

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
	// Kind is forecast, valid_until or reapply_by (label "deadline.<Kind>").
	Kind string
	// What names the rule or the approval.
	What string
	// Days from today; negative once passed.
	Days int
}

// entitiesData is the data of the Entities page.
type entitiesData struct {
	Rows     []entityRow
	Total    int
	Decision string // the filter, "" for all
	Filters  []string
}

// decisionFilters are the values of the decision filter.
var decisionFilters = []string{"block", "warn", "allow", "pending"}

func (c *console) entitiesPage(w http.ResponseWriter, r *http.Request) {
	filter := r.URL.Query().Get("decision")
	if !slices.Contains(decisionFilters, filter) {
		filter = ""
	}
	list := c.o.Statuses.Statuses()
	d := entitiesData{Total: len(list), Decision: filter, Filters: decisionFilters,
		Rows: entityRows(list, filter)}
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
	today := policy.DateOf(s.UpdatedAt)
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
		if r.ForecastCrossing != nil && !r.Covered {
			row.Deadline = earlier(row.Deadline, deadline{Date: *r.ForecastCrossing, Kind: "forecast", What: r.ID}, today)
		}
	}
	if worst >= 0 && s.Rules[worst].Level != policy.LevelOK {
		row.WorstRule, row.WorstLevel = s.Rules[worst].ID, s.Rules[worst].Level
	}
	for _, a := range s.Approvals {
		if a.ValidUntil != nil {
			row.Deadline = earlier(row.Deadline, deadline{Date: *a.ValidUntil, Kind: "valid_until", What: a.Reference}, today)
		}
		if a.ReapplyBy != nil {
			row.Deadline = earlier(row.Deadline, deadline{Date: *a.ReapplyBy, Kind: "reapply_by", What: a.Reference}, today)
		}
	}
	return row
}

// earlier returns the earlier of cur and d (d's Days set from today).
func earlier(cur *deadline, d deadline, today policy.Date) *deadline {
	d.Days = d.Date.DaysSince(today)
	if cur == nil || d.Days < cur.Days {
		return &d
	}
	return cur
}
