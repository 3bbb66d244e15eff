package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/axiomhq/hyperloglog"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/i18n"
	"github.com/transferwatch/transferwatch/internal/sketch"
)

// Scope is what an approval was granted for (2022 Measures Art. 14;
// Standard Contract Measures Art. 8): transfers beyond it need a new
// approval. A nil *Scope covers every flow. An empty list matches
// everything.
type Scope struct {
	Recipients   []string          // exact recipient ids
	Destinations []string          // ISO 3166-1 alpha-2
	Categories   []sketch.Category // personal, sensitive, important_data
	// MaxSubjects is the volume stated in the application, held like a
	// threshold (rule scope-volume:<reference>); 0: none stated.
	MaxSubjects uint64
}

// Contains reports whether flow f lies inside the scope: its recipient,
// destination and category all listed (an empty list matches anything).
// A nil scope contains every flow.
func (s *Scope) Contains(f FlowKey) bool {
	if s == nil {
		return true
	}
	return (len(s.Recipients) == 0 || slices.Contains(s.Recipients, f.Recipient)) &&
		(len(s.Destinations) == 0 || slices.Contains(s.Destinations, f.Destination)) &&
		(len(s.Categories) == 0 || slices.Contains(s.Categories, f.Category))
}

// FlowKey names a flow as the policy sees it: exempt and non-exempt
// transfers of the same recipient, destination and category are one flow.
type FlowKey struct {
	Recipient   string
	Destination string
	Category    sketch.Category
}

// FlowFigure is one flow of an entity over a window, over the transfers
// that count (exempt ones left out under cac-2024 as far as the counters
// leave them out).
type FlowFigure struct {
	FlowKey
	People      sketch.Figure
	Events      uint64
	First, Last time.Time // event times of the first and last transfer
	Pipelines   []string
	// Sketch holds the flow's people, for unions of flows
	// (scope-volume); nil for a figure built by hand.
	Sketch *hyperloglog.Sketch
}

// ObserveFlows returns the flows of window w, sorted by recipient,
// destination and category; exempt transfers count when includeExempt.
func ObserveFlows(h sketch.History, w sketch.Window, thisYear int, includeExempt bool) []FlowFigure {
	type acc struct {
		f      FlowFigure
		events *hyperloglog.Sketch
	}
	by := map[FlowKey]*acc{}
	for _, yr := range w.Years(thisYear) {
		y := h[yr]
		if y == nil {
			continue
		}
		for k, f := range y.Flows {
			if k.Exempt && !includeExempt {
				continue
			}
			pk := FlowKey{Recipient: k.Recipient, Destination: k.Destination, Category: k.Category}
			fPeople, fEvents := f.Sketches()
			a := by[pk]
			if a == nil {
				a = &acc{f: FlowFigure{FlowKey: pk, Sketch: fPeople.Clone()}, events: fEvents.Clone()}
				by[pk] = a
			} else {
				people, err := sketch.MergeFlowSketch(a.f.Sketch, fPeople)
				if err != nil {
					continue // the same precision always merges
				}
				events, err := sketch.MergeFlowSketch(a.events, fEvents)
				if err != nil {
					continue
				}
				a.f.Sketch, a.events = people, events
			}
			first, last := time.Unix(f.First, 0), time.Unix(f.Last, 0)
			if a.f.First.IsZero() || first.Before(a.f.First) {
				a.f.First = first
			}
			if last.After(a.f.Last) {
				a.f.Last = last
			}
			for _, p := range f.Pipelines {
				if i, found := slices.BinarySearch(a.f.Pipelines, p); !found {
					a.f.Pipelines = slices.Insert(a.f.Pipelines, i, p)
				}
			}
		}
	}
	out := make([]FlowFigure, 0, len(by))
	for _, a := range by {
		est := a.f.Sketch.Estimate()
		a.f.People = sketch.Figure{Estimate: est, UpperBound: sketch.FlowUpperBound(est)}
		a.f.Events = a.events.Estimate()
		if len(a.f.Pipelines) > sketch.MaxFlowPipelines {
			a.f.Pipelines = a.f.Pipelines[:sketch.MaxFlowPipelines]
		}
		out = append(out, a.f)
	}
	slices.SortFunc(out, func(a, b FlowFigure) int {
		return cmp.Or(cmp.Compare(a.Recipient, b.Recipient), cmp.Compare(a.Destination, b.Destination),
			cmp.Compare(a.Category, b.Category))
	})
	return out
}

// FlowReport is one flow of an entity, as GET /v1/entities/{id}/flows
// gives it.
type FlowReport struct {
	Recipient   string        `json:"recipient"`
	Destination string        `json:"destination"`
	Category    string        `json:"category"`
	Pipelines   []string      `json:"pipelines"`
	Estimate    uint64        `json:"estimate"`
	UpperBound  uint64        `json:"upper_bound"`
	Window      sketch.Window `json:"window"`
	Events      uint64        `json:"events"`
	FirstSeen   time.Time     `json:"first_seen"`
	LastSeen    time.Time     `json:"last_seen"`
	// Approvals are the references of the approvals in force whose scope
	// holds the flow.
	Approvals []string `json:"approvals"`
	// InsideScope: no rule that counts the flow and needs an approval
	// finds it outside the scope of every approval covering that rule.
	InsideScope bool `json:"inside_scope"`
}

// ScopeReport is an approval's scope in an EntityStatus.
type ScopeReport struct {
	Recipients   []string `json:"recipients"`
	Destinations []string `json:"destinations"`
	Categories   []string `json:"categories"`
	MaxSubjects  uint64   `json:"max_subjects"`
}

func scopeReport(s *Scope) *ScopeReport {
	if s == nil {
		return nil
	}
	r := &ScopeReport{Recipients: orEmpty(s.Recipients), Destinations: orEmpty(s.Destinations),
		Categories: []string{}, MaxSubjects: s.MaxSubjects}
	for _, c := range s.Categories {
		r.Categories = append(r.Categories, c.String())
	}
	return r
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ScopeRuleID is the rule of flows outside every covering approval's
// scope; ScopeVolumePrefix + reference the rule of an approval's
// max_subjects.
const (
	ScopeRuleID       = "scope"
	ScopeVolumePrefix = "scope-volume:"
)

// flowCategories returns the categories of the flows rule r counts: the
// people of its counter are those of these flows. Advisory and exemption
// rules count none.
func flowCategories(r Rule) []sketch.Category {
	switch {
	case r.Advisory || r.Exemption != "":
		return nil
	case r.ImportantData:
		return []sketch.Category{sketch.CategoryImportantData}
	case r.Counter == sketch.Sensitive:
		return []sketch.Category{sketch.CategorySensitive}
	}
	// personal, non_sensitive (a flow of category personal holds the
	// sensitive transfers too: held against the scope, it errs on the
	// side of asking), processed (processing makes no flow).
	return []sketch.Category{sketch.CategoryPersonal}
}

// countsFlow reports whether rule r counts flow f.
func countsFlow(r Rule, f FlowKey) bool { return slices.Contains(flowCategories(r), f.Category) }

// outsideFlows returns the flows of window w counted by r that lie outside
// the scope of every approval covering r today; none when no approval
// covers r (the rule is then simply not covered).
func (ev *evaluation) outsideFlows(r Rule) []FlowFigure {
	var covering []view
	for _, v := range ev.views {
		if v.covers(r, ev.today) {
			covering = append(covering, v)
		}
	}
	if len(covering) == 0 {
		return nil
	}
	var out []FlowFigure
	for _, f := range ev.obs.Flows[r.Window] {
		if !countsFlow(r, f.FlowKey) {
			continue
		}
		if !slices.ContainsFunc(covering, func(v view) bool { return v.Scope.Contains(f.FlowKey) }) {
			out = append(out, f)
		}
	}
	return out
}

// scoped reports whether any approval of the entity has a scope: only
// then are the scope rules reported.
func (ev *evaluation) scoped() bool {
	return slices.ContainsFunc(ev.views, func(v view) bool { return v.Scope != nil })
}

// scopeWindow is the window of the preset's rules (every preset counts in
// one window).
func (ev *evaluation) scopeWindow() sketch.Window {
	for _, r := range ev.s.Preset.Rules {
		return r.Window
	}
	return sketch.CurrentYear
}

// scopeRules holds the flows against the approvals' scopes: rule scope
// (flows of breached rules needing a mechanism outside every covering
// approval's scope) and a rule scope-volume:<reference> per approval with
// max_subjects. reps are the reports of the preset's rules; it returns the
// scope rules' reports, and the flows found outside.
func (ev *evaluation) scopeRules(reps []RuleReport) ([]RuleReport, map[FlowKey]bool) {
	outside := map[FlowKey]bool{}
	if !ev.scoped() {
		return nil, outside
	}
	w := ev.scopeWindow()
	start := civil.DateOf(w.Start(ev.today.Year, ev.loc))
	scope := RuleReport{ID: ScopeRuleID, Counter: "flows", Window: w, Threshold: 1, Level: LevelOK,
		Mechanism: MechanismNone}
	type out struct {
		f    FlowFigure
		refs []string
	}
	var found []out
	for i, r := range ev.s.Preset.Rules {
		if r.Advisory || reps[i].Level != LevelBreached || !r.Mechanism.Valid() {
			continue
		}
		for _, f := range ev.outsideFlows(r) {
			if r.Mechanism.Strength() > scope.Mechanism.Strength() {
				scope.Mechanism = r.Mechanism
			}
			if outside[f.FlowKey] {
				continue
			}
			outside[f.FlowKey] = true
			var refs []string
			for _, v := range ev.views {
				if v.covers(r, ev.today) {
					refs = append(refs, cmp.Or(v.Reference, "("+string(v.Mechanism)+")"))
				}
			}
			found = append(found, out{f, refs})
		}
	}
	scope.Estimate, scope.UpperBound = uint64(len(found)), uint64(len(found))
	scope.Ratio = float64(len(found))
	if len(found) > 0 {
		scope.Level = LevelBreached
		for _, o := range found {
			dest := ""
			if o.f.Destination != "" {
				dest = " (" + o.f.Destination + ")"
			}
			ev.add(sevBreach, 0, fmt.Sprintf("%s breached: transfer to %s%s, %s, %s since %s, is outside the scope of %s",
				ScopeRuleID, o.f.Recipient, dest, o.f.Category, peopleThousands(o.f.People.Estimate), start,
				strings.Join(o.refs, " and ")))
		}
	}
	if scope.Mechanism == MechanismNone {
		// Nothing outside: the rule would require what the breached
		// rules require.
		for i, r := range ev.s.Preset.Rules {
			if !r.Advisory && reps[i].Level == LevelBreached && r.Mechanism.Strength() > scope.Mechanism.Strength() {
				scope.Mechanism = r.Mechanism
			}
		}
	}
	rules := []RuleReport{scope}

	for _, v := range ev.views {
		if v.Scope == nil || v.Scope.MaxSubjects == 0 || v.Reference == "" {
			continue
		}
		rules = append(rules, ev.scopeVolume(v, w, start, reps))
	}
	return rules, outside
}

// scopeVolume holds the people of the flows inside approval v's scope
// against its max_subjects, while the approval is needed: in force and
// covering a breached rule.
func (ev *evaluation) scopeVolume(v view, w sketch.Window, start Date, reps []RuleReport) RuleReport {
	rep := RuleReport{ID: ScopeVolumePrefix + v.Reference, Counter: "flows", Window: w,
		Threshold: v.Scope.MaxSubjects, Level: LevelOK, Mechanism: v.Mechanism}
	var union *hyperloglog.Sketch
	for _, f := range ev.obs.Flows[w] {
		if !v.Scope.Contains(f.FlowKey) || f.Sketch == nil {
			continue
		}
		if union == nil {
			union = f.Sketch.Clone()
		} else if u, err := sketch.MergeFlowSketch(union, f.Sketch); err == nil {
			union = u
		}
	}
	if union != nil {
		rep.Estimate = union.Estimate()
		rep.UpperBound = sketch.FlowUpperBound(rep.Estimate)
	}
	needed := false
	for i, r := range ev.s.Preset.Rules {
		if !r.Advisory && reps[i].Level == LevelBreached && v.covers(r, ev.today) {
			needed = true
		}
	}
	if !needed {
		return rep
	}
	held := rep.UpperBound
	if ev.s.UsePoint || rep.Estimate == 0 {
		held = rep.Estimate
	}
	rep.Level = ev.levels.Of(held, rep.Threshold)
	rep.Ratio = ratio(held, rep.Threshold)
	if rep.Level == LevelBreached {
		rep.Ratio = max(rep.Ratio, 1)
	}
	switch rep.Level {
	case LevelBreached:
		ev.add(sevBreach, 0, fmt.Sprintf("%s breached: %s in the flows inside the scope of %s >= max_subjects %s since %s: a new %s is required",
			rep.ID, peopleThousands(held), v.label(), i18n.Uint(rep.Threshold), start, v.Mechanism))
	case LevelCritical:
		ev.add(sevCritical, 0, fmt.Sprintf("%s at critical: %s in the flows inside the scope of %s, %s of max_subjects %s, since %s",
			rep.ID, peopleThousands(held), v.label(), percent(held, rep.Threshold), i18n.Uint(rep.Threshold), start))
	case LevelWarning:
		ev.add(sevWarning, 0, fmt.Sprintf("%s at warning: %s in the flows inside the scope of %s, %s of max_subjects %s, since %s",
			rep.ID, peopleThousands(held), v.label(), percent(held, rep.Threshold), i18n.Uint(rep.Threshold), start))
	case LevelNotice:
		ev.add(sevNotice, 0, fmt.Sprintf("%s at notice: %s in the flows inside the scope of %s, %s of max_subjects %s, since %s",
			rep.ID, peopleThousands(held), v.label(), percent(held, rep.Threshold), i18n.Uint(rep.Threshold), start))
	}
	return rep
}

// flowReports describes the flows of the scope window for the API.
func (ev *evaluation) flowReports(outside map[FlowKey]bool) []FlowReport {
	w := ev.scopeWindow()
	flows := ev.obs.Flows[w]
	out := make([]FlowReport, 0, len(flows))
	for _, f := range flows {
		rep := FlowReport{
			Recipient: f.Recipient, Destination: f.Destination, Category: f.Category.String(),
			Pipelines: orEmpty(f.Pipelines), Estimate: f.People.Estimate,
			UpperBound: max(f.People.UpperBound, f.People.Estimate), Window: w, Events: f.Events,
			FirstSeen: f.First.In(ev.loc), LastSeen: f.Last.In(ev.loc),
			Approvals: []string{}, InsideScope: !outside[f.FlowKey],
		}
		for _, v := range ev.views {
			if v.inForce(ev.today) && v.Scope.Contains(f.FlowKey) && v.Reference != "" {
				rep.Approvals = append(rep.Approvals, v.Reference)
			}
		}
		out = append(out, rep)
	}
	return out
}

func peopleThousands(n uint64) string {
	if n == 1 {
		return "1 person"
	}
	return i18n.Uint(n) + " people"
}
