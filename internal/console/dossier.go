package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/dossier"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
)

// Dossiers builds the dossier of one entity (a *dossier.Builder).
type Dossiers interface {
	Build(ctx context.Context, id string) (*dossier.Dossier, error)
}

var _ Dossiers = (*dossier.Builder)(nil)

// entityData is the data of the Entity page.
type entityData struct {
	D *dossier.Dossier
	// Evaluated: the decider has evaluated the entity (else the figures
	// are the dossier's own evaluation only).
	Evaluated bool
	// Live is the decider's status, which the API answers; its decision,
	// counters, rules and approvals replace the dossier's own evaluation
	// on the page.
	Live     policy.Status
	Charts   []chart
	Timeline timelineChart
	Report   string
}

func (c *console) entityPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	live, ok := c.o.Statuses.Status(id)
	if !ok || c.o.Dossiers == nil {
		c.render(w, r, http.StatusNotFound, "error", errorPage{Message: id})
		return
	}
	d, err := c.o.Dossiers.Build(r.Context(), id)
	if errors.Is(err, dossier.ErrUnknownEntity) {
		c.render(w, r, http.StatusNotFound, "error", errorPage{Message: id})
		return
	}
	if errors.Is(err, dossier.ErrUnverified) {
		c.render(w, r, http.StatusServiceUnavailable, "error", errorPage{Withheld: err.Error()})
		return
	}
	if err != nil {
		c.o.Log.Warn("console: building a dossier", "entity", id, "err", err)
		http.Error(w, "the store cannot be read now: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	// The page shows the decider's figures, those the API answers, so
	// that what a compliance officer reads here is what pipelines are told;
	// the series, forecast, flows and history come from the dossier.
	if !live.UpdatedAt.IsZero() {
		d.Status.Decision, d.Status.RequiredMechanism, d.Status.Reasons = live.Decision, live.RequiredMechanism, live.Reasons
		d.Status.Counters, d.Status.Rules, d.Status.Approvals = live.Counters, live.Rules, live.Approvals
		d.Status.UpdatedAt = live.UpdatedAt
	}
	data := entityData{D: d, Evaluated: !live.UpdatedAt.IsZero(), Live: live,
		Report: "/v1/entities/" + url.PathEscape(id) + "/report?format=html&lang=" + string(requestLang(r))}
	for _, s := range d.Series {
		// A chart for each counter since 1 January that has counted
		// someone, or is the personal one (always shown).
		if s.Window == sketch.CurrentYear && (s.Held > 0 || s.Counter == sketch.Personal) {
			data.Charts = append(data.Charts, seriesChart(s, d.Today))
		}
	}
	data.Timeline = newTimelineChart(d)
	c.render(w, r, http.StatusOK, "entity", data)
}

// planEntity is one entity of the Plan page.
type planEntity struct {
	ID, Name string
	Decision string
	Plans    []planView
}

// planView is one plan with its chart.
type planView struct {
	dossier.Plan
	Chart planChart
}

// planData is the data of the Plan page.
type planData struct {
	// Withheld is why decisions are withheld, "" when none is; those
	// entities have no plan on the page.
	Withheld  string
	Today     policy.Date
	Entities  []planEntity
	Checklist []dossier.ChecklistItem
}

// planPage lists, most urgent entity first, every plan the dossier would
// hold: derived from the decider's statuses alone (no store read), so the
// page stays fast with many entities.
func (c *console) planPage(w http.ResponseWriter, r *http.Request) {
	list, withheld := c.vouched(c.o.Now())
	byID := make(map[string]policy.Status, len(list))
	for _, s := range list {
		byID[s.Entity] = s
	}
	d := planData{Withheld: withheld}
	d.Checklist = dossier.Checklist()
	d.Today = civil.DateOf(c.o.Now())
	for _, row := range entityRows(list, "") {
		s := byID[row.ID]
		if s.UpdatedAt.IsZero() {
			continue
		}
		today := civil.DateOf(s.UpdatedAt)
		d.Today = today
		plans := dossier.NewPlans(s.Policy, s, dossier.StartByDates(s, today), today)
		if len(plans) == 0 {
			continue
		}
		pe := planEntity{ID: s.Entity, Name: s.Name, Decision: string(s.Decision)}
		for _, p := range plans {
			pe.Plans = append(pe.Plans, planView{Plan: p, Chart: newPlanChart(p, today)})
		}
		d.Entities = append(d.Entities, pe)
	}
	c.render(w, r, http.StatusOK, "plan", d)
}
