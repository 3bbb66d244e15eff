package console

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/dossier"
	"github.com/transferwatch/transferwatch/internal/policy"
)

func TestEntityRows(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	today := civil.DateOf(now)
	d := func(n int) *policy.Date { x := today.AddDays(n); return &x }
	list := []policy.Status{
		{Entity: "quiet", Decision: policy.Allow, UpdatedAt: now,
			Rules: []policy.RuleReport{{ID: "personal-100k", Threshold: 100_000, Ratio: 0.1, Level: policy.LevelOK}}},
		{Entity: "late-renewal", Decision: policy.Warn, UpdatedAt: now,
			Approvals: []policy.ApprovalReport{{Reference: "CAC-1", Status: policy.Approved, ValidUntil: d(60), ReapplyBy: d(-26)}}},
		{Entity: "soon", Decision: policy.Warn, UpdatedAt: now,
			Rules: []policy.RuleReport{{ID: "personal-100k", Threshold: 100_000, Ratio: 0.94, Level: policy.LevelWarning, Mechanism: policy.StandardContract, ForecastCrossing: d(13)}}},
		{Entity: "blocked", Decision: policy.Block, UpdatedAt: now,
			Rules: []policy.RuleReport{{ID: "important-data", Threshold: 1, Ratio: 1, Level: policy.LevelBreached}, {ID: "personal-1m", Threshold: 1_000_000, Ratio: 0.01}}},
		{Entity: "new"},
	}
	rows := entityRows(list, "")
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	// block, then warn (the warning level before ok), then allow, then
	// not evaluated.
	if want := []string{"blocked", "soon", "late-renewal", "quiet", "new"}; !slices.Equal(ids, want) {
		t.Errorf("order %q, want %q", ids, want)
	}
	byID := map[string]entityRow{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	if r := byID["blocked"]; r.WorstRule != "important-data" || len(r.Bars) != 1 || r.Bars[0].Rule != "personal-1m" {
		t.Errorf("blocked: worst %q, bars %+v (a bar only for thresholds above 1)", r.WorstRule, r.Bars)
	}
	if dl := byID["late-renewal"].Deadline; dl == nil || dl.Kind != dossier.EventReapplyBy || dl.Days != -26 {
		t.Errorf("late-renewal deadline = %+v, want the overdue re-application", dl)
	}
	// soon: the latest start-by date (crossing − 6 months) is past, so the
	// nearest deadline ahead is the crossing itself.
	if dl := byID["soon"].Deadline; dl == nil || dl.Kind != dossier.EventForecastCrossing || dl.Days != 13 {
		t.Errorf("soon deadline = %+v", dl)
	}
	if byID["new"].Decision != "pending" || byID["new"].Deadline != nil {
		t.Errorf("not evaluated: %+v", byID["new"])
	}
	if got := entityRows(list, "warn"); len(got) != 2 {
		t.Errorf("filter warn: %d rows", len(got))
	}
	html := string(writeRows(entityRows([]policy.Status{{Entity: `x"><script>`, Name: "<b>", Decision: policy.Allow, UpdatedAt: now}}, ""), newCatalog(), langEN))
	if strings.Contains(html, "<script>") || strings.Contains(html, "<b>") {
		t.Errorf("unescaped: %s", html)
	}
}
