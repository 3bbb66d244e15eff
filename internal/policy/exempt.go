package policy

import (
	"slices"

	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// Exemptions lists the exemptions of the 2024 Provisions an event may
// carry (CONTRACT §3): contract, hr and emergency (Art. 5(1)–(3)), transit
// (Art. 4) and ftz_negative_list (Art. 6).
func Exemptions() []event.Exemption {
	return []event.Exemption{
		event.ExemptionContract, event.ExemptionHR, event.ExemptionEmergency,
		event.ExemptionTransit, event.ExemptionFTZNegativeList,
	}
}

// StoredExempt reports whether ingest should count an event with
// exemption x and important data or not as exempt (the exempt cells of the
// store). A transit event carrying important data is not exempt, whatever
// the entity and preset: transit (2024 Provisions Art. 4) covers data
// collected abroad with no domestic personal information or important data
// added. Every other exemption depends on the entity or the preset and is
// decided when the store is read (Settings.Counting).
func StoredExempt(x event.Exemption, important bool) bool {
	return x != event.ExemptionNone && (x != event.ExemptionTransit || !important)
}

// Counting says which transfers count toward the counters of one entity:
// those without an exemption, and those whose exemption the entity may not
// rely on.
type Counting struct {
	// Honoured are the exemptions whose transfers are left out of the
	// counters; a transfer with any other exemption counts as if it
	// carried none. Empty under cac-2022.
	Honoured []event.Exemption
}

// Counting returns the counting of entity e under the settings' preset.
// Under cac-2022 every exemption counts (the 2022 Measures know none).
// Under cac-2024 contract, hr, emergency and transit are left out (2024
// Provisions Arts. 4, 5), and ftz_negative_list only for an entity with a
// free-trade zone (Art. 6 exempts handlers registered in the zone). The
// hr exemption's bound, the entity's headcount, is not a counting matter
// but the advisory rule hr-exemption.
func (s Settings) Counting(e Entity) Counting {
	if s.Preset.IncludeExempt {
		return Counting{}
	}
	h := []event.Exemption{event.ExemptionContract, event.ExemptionHR, event.ExemptionEmergency, event.ExemptionTransit}
	if e.FTZ != "" {
		h = append(h, event.ExemptionFTZNegativeList)
	}
	return Counting{Honoured: h}
}

// Honours reports whether transfers carrying exemption x are left out.
func (c Counting) Honours(x event.Exemption) bool { return slices.Contains(c.Honoured, x) }

// IncludeExempt is the reading of a store that records only whether an
// event is exempt, not under which exemption (the sketch cells today): it
// must count every exempt transfer unless every exemption is honoured.
// Such a store cannot leave some exempt transfers out and count the
// others, and counting them all is the reading that lets no transfer
// through.
func (c Counting) IncludeExempt() bool {
	for _, x := range Exemptions() {
		if !c.Honours(x) {
			return true
		}
	}
	return false
}

// ExemptFigures describes the exempt transfers of one window: what the
// reasons say about exemptions and what the hr-exemption rule holds.
type ExemptFigures struct {
	// All is the distinct people of transfer events carrying any
	// exemption (as stored: see StoredExempt).
	All sketch.Figure
	// ByExemption is the distinct people of transfer events per
	// exemption, from a store that records each event's exemption; it
	// must hold at least hr and ftz_negative_list (other exemptions may
	// be left out). Nil from a store that records only whether an event is
	// exempt: then the policy holds All where it needs one exemption (an
	// upper bound) and says so.
	ByExemption map[event.Exemption]sketch.Figure
	// Counted: the figures of the window count every exempt transfer as
	// not exempt, because the store could not leave out only those the
	// entity may rely on (a store without ByExemption, see
	// Counting.IncludeExempt, or an exempt event with important data).
	Counted bool
	// Important: an exempt event of the window carried important data.
	// From a store without ByExemption it may have been a transit event,
	// which then is not exempt: Observe counts the window's exempt
	// transfers.
	Important bool
	// TransitImportant: a transit event carrying important data lies in
	// the window (counted as not exempt; see StoredExempt).
	TransitImportant bool
}

// Observe reads what Evaluate needs of entity e out of its history h (the
// years thisYear−1 and thisYear) from today's store, whose cells tell
// exempt events from others but not one exemption from another; today is
// the day of thisYear (0 = 1 January). need says which day series to draw
// (nil: every one); a series is drawn only for a counter with people.
//
// It takes the reading that lets no transfer through:
//   - important data counts whatever the exemption (no exemption of 2024
//     Provisions Arts. 3–6 covers important data);
//   - the counters leave exempt transfers out only when the entity may
//     rely on every exemption (Counting.IncludeExempt): an entity without
//     a free-trade zone may not rely on ftz_negative_list, and the cells
//     cannot tell those transfers apart, so all of its exempt transfers
//     count;
//   - a window with an exempt event carrying important data counts its
//     exempt transfers too: that event may be a transit event, which then
//     is not exempt (until ingest stores such events as not exempt, see
//     StoredExempt, the cells cannot tell);
//   - the hr-exemption rule holds the people of all exempt transfers, an
//     upper bound of those under hr, when the counters left them out; when
//     they counted them, nothing was left out under hr.
//
// A store that records each event's exemption fills ExemptFigures.ByExemption
// and counts per Counting.Honoured instead.
func Observe(s Settings, e Entity, h sketch.History, thisYear, today int, need func(sketch.Window, sketch.Counter) bool) Observation {
	c := s.Counting(e)
	obs := Observation{
		Figures:   make(map[sketch.Window]map[sketch.Counter]sketch.Figure, len(sketch.Windows)),
		Important: make(map[sketch.Window]bool, len(sketch.Windows)),
		Exempt:    make(map[sketch.Window]ExemptFigures, len(sketch.Windows)),
		Series:    make(map[sketch.Window]map[sketch.Counter][]float64, len(sketch.Windows)),
		Flows:     make(map[sketch.Window][]FlowFigure, len(sketch.Windows)),
	}
	q := h.Query() // each distinct union of sketches estimated once
	for _, w := range sketch.Windows {
		ef := ExemptFigures{All: exemptPeople(h, w, thisYear)}
		for _, yr := range w.Years(thisYear) {
			if y := h[yr]; y != nil && y.Important[1] {
				ef.Important = true
			}
		}
		include := c.IncludeExempt() || ef.Important
		ef.Counted = include
		obs.Exempt[w] = ef
		obs.Important[w] = h.Important(w, thisYear, true)
		obs.Figures[w] = make(map[sketch.Counter]sketch.Figure, len(sketch.Counters))
		obs.Series[w] = make(map[sketch.Counter][]float64)
		obs.Flows[w] = ObserveFlows(h, w, thisYear, include)
		for _, k := range sketch.Counters {
			f := q.Figure(k, w, thisYear, include)
			obs.Figures[w][k] = f
			if f.Estimate > 0 && (need == nil || need(w, k)) {
				obs.Series[w][k] = q.Series(k, w, thisYear, today, include)
			}
		}
	}
	return obs
}

// exemptPeople returns the distinct people of the exempt transfer cells of
// window w.
func exemptPeople(h sketch.History, w sketch.Window, thisYear int) sketch.Figure {
	sub := sketch.History{}
	for _, yr := range w.Years(thisYear) {
		y := h[yr]
		if y == nil {
			continue
		}
		only := &sketch.Year{}
		found := false
		for c := range sketch.Cell(sketch.NumCells) {
			if sk := y.Sketch(c); c.Exempt() && c.Transfer() && sk != nil {
				only.Sketches[c] = sk
				found = true
			}
		}
		if found {
			sub[yr] = only
		}
	}
	if len(sub) == 0 {
		return sketch.Figure{}
	}
	return sub.Figure(sketch.Personal, w, thisYear, true)
}
