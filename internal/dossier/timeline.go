package dossier

import (
	"slices"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/policy"
)

// Event is one dated entry of the timeline. Its label is the i18n key
// "event.<Kind>".
type Event struct {
	Date policy.Date `json:"date"`
	// Kind is valid_from, filed_on, filing_due, reapply_by, valid_until
	// (of an approval: Reference and Mechanism name it), start_by_earliest,
	// start_by_latest, forecast_crossing (of a rule: Rule names it) or
	// today.
	Kind      string           `json:"kind"`
	Reference string           `json:"reference,omitempty"`
	Mechanism policy.Mechanism `json:"mechanism,omitempty"`
	Status    string           `json:"status,omitempty"`
	Rule      string           `json:"rule,omitempty"`
	// Past: the day lies before today.
	Past bool `json:"past"`
}

// Timeline event kinds.
const (
	EventValidFrom        = "valid_from"
	EventFiledOn          = "filed_on"
	EventFilingDue        = "filing_due"
	EventReapplyBy        = "reapply_by"
	EventValidUntil       = "valid_until"
	EventStartByEarliest  = "start_by_earliest"
	EventStartByLatest    = "start_by_latest"
	EventForecastCrossing = "forecast_crossing"
	EventToday            = "today"
)

// NewTimeline returns the dated events of the entity's approvals (from the
// registry entry e, for the first day of validity, and from st, for the
// days the policy derives) and of its start-by windows, in date order, with
// today (the day of st.UpdatedAt: st must be evaluated). A zero e gives the
// timeline of a cached status without the first days of validity.
func NewTimeline(e policy.Entity, st policy.Status, startBy []StartBy) []Event {
	today := civil.DateOf(st.UpdatedAt)
	out := []Event{{Date: today, Kind: EventToday}}
	for i, a := range st.Approvals {
		ev := func(kind string, d policy.Date) {
			out = append(out, Event{Date: d, Kind: kind, Reference: a.Reference, Mechanism: a.Mechanism, Status: string(a.Status)})
		}
		if i < len(e.Approvals) && !e.Approvals[i].ValidFrom.IsZero() {
			ev(EventValidFrom, e.Approvals[i].From())
		}
		if a.FiledOn != nil {
			ev(EventFiledOn, *a.FiledOn)
		}
		if a.FilingDue != nil {
			ev(EventFilingDue, *a.FilingDue)
		}
		if a.ReapplyBy != nil {
			ev(EventReapplyBy, *a.ReapplyBy)
		}
		if a.ValidUntil != nil {
			ev(EventValidUntil, *a.ValidUntil)
		}
	}
	for _, sb := range startBy {
		out = append(out,
			Event{Date: sb.Earliest, Kind: EventStartByEarliest, Rule: sb.Rule, Mechanism: sb.Mechanism},
			Event{Date: sb.Latest, Kind: EventStartByLatest, Rule: sb.Rule, Mechanism: sb.Mechanism},
			Event{Date: sb.Crossing, Kind: EventForecastCrossing, Rule: sb.Rule, Mechanism: sb.Mechanism})
	}
	for i := range out {
		out[i].Past = out[i].Date.Before(today)
	}
	slices.SortStableFunc(out, func(a, b Event) int { return a.Date.DaysSince(b.Date) })
	return out
}

// Deadlines returns the coming deadlines of an evaluated status, soonest
// first: the forecast crossings and the latest start-by dates of its rules
// not covered, and the filing, re-application and expiry days of its
// approvals, from today on. The entities page of the console sorts by the
// first.
func Deadlines(st policy.Status, today policy.Date) []Event {
	out := []Event{}
	for _, e := range NewTimeline(policy.Entity{}, st, StartByDates(st, today)) {
		switch e.Kind {
		case EventForecastCrossing, EventStartByLatest, EventFilingDue, EventReapplyBy, EventValidUntil:
			if !e.Date.Before(today) {
				out = append(out, e)
			}
		}
	}
	return out
}
