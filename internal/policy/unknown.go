package policy

import (
	"fmt"
	"time"

	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/pkg/decision"
)

// Unknown returns the decision answer for an entity neither configured nor
// seen (GET /v1/entities/{id}/decision, CONTRACT §6 v2): what the preset
// gives an entity with no approvals, not a CIIO, about to make its first
// outbound transfer of one person's personal information (not sensitive,
// no important data, no exemption). Under cac-2022 that is block:
// personal-any requires a standard contract or certification for any
// transfer (PIPL Art. 38; Standard Contract Measures Art. 4). Under
// cac-2024 it is allow: fewer than 100,000 people's non-sensitive personal
// information need no mechanism (2024 Provisions Art. 5(4)).
func Unknown(s Settings, id string, now time.Time) decision.Verdict {
	first := Observation{Figures: map[sketch.Window]map[sketch.Counter]sketch.Figure{}}
	one := sketch.Figure{Estimate: 1, UpperBound: 1}
	for _, w := range sketch.Windows {
		first.Figures[w] = map[sketch.Counter]sketch.Figure{
			sketch.Personal: one, sketch.NonSensitive: one, sketch.Processed: one,
		}
	}
	st := Evaluate(s, Entity{ID: id}, first, now)
	v := decision.Verdict{
		Entity:            id,
		Decision:          st.Decision,
		RequiredMechanism: string(st.RequiredMechanism),
		Reasons: []string{fmt.Sprintf(
			"entity neither configured nor seen: decided under %s as an entity without approvals about to make its first outbound transfer of personal information",
			s.Preset.Name)},
	}
	for i, r := range st.Rules {
		rule := s.Preset.Rules[i]
		if r.Level == LevelBreached && !r.Covered && !rule.Advisory {
			v.Reasons = append(v.Reasons, fmt.Sprintf("%s: the first transfer needs a %s (%s)", r.ID, r.Mechanism, rule.Basis))
		}
	}
	if v.Decision == Allow {
		v.Reasons = append(v.Reasons, fmt.Sprintf(
			"no rule of %s requires a mechanism for one person's non-sensitive personal information", s.Preset.Name))
	}
	return v
}
