package policy

import (
	"slices"

	"github.com/transferwatch/transferwatch/pkg/decision"
)

// Signal returns the decisions-topic message (CONTRACT §5) announcing the
// status's decision, which follows previous, as the given version.
func (s Status) Signal(previous Decision, version int64) decision.Signal {
	return decision.Signal{
		Entity:            s.Entity,
		Decision:          s.Decision,
		Previous:          previous,
		RequiredMechanism: string(s.RequiredMechanism),
		Policy:            s.Policy,
		Reasons:           s.reasons(),
		DecidedAt:         s.UpdatedAt,
		Version:           version,
	}
}

// Verdict returns the decision answer (CONTRACT §6) of the status; the
// caller fills in Version, DecidedAt and AsOf from its records.
func (s Status) Verdict() decision.Verdict {
	return decision.Verdict{
		Entity:            s.Entity,
		Decision:          s.Decision,
		RequiredMechanism: string(s.RequiredMechanism),
		Reasons:           s.reasons(),
	}
}

// reasons returns a copy of the reasons, never nil.
func (s Status) reasons() []string {
	if s.Reasons == nil {
		return []string{}
	}
	return slices.Clone(s.Reasons)
}

// Change is a decision change as the store's decision history keeps it
// (GET /v1/entities/{id}/history, the evidence pack): the decisions-topic
// message with the figures of every rule behind the change. A change
// recorded from the decisions topic alone (a store repaired after a loss)
// has no Rules.
type Change struct {
	decision.Signal
	Rules []RuleFigure `json:"rules,omitempty"`
}

// RuleFigure is what a rule held at a decision change.
type RuleFigure struct {
	ID         string  `json:"id"`
	Threshold  uint64  `json:"threshold"`
	Estimate   uint64  `json:"estimate"`
	UpperBound uint64  `json:"upper_bound"`
	Ratio      float64 `json:"ratio"`
	Level      Level   `json:"level"`
	Covered    bool    `json:"covered"`
}

// Change returns the history record of the status's decision, which follows
// previous, as the given version.
func (s Status) Change(previous Decision, version int64) Change {
	c := Change{Signal: s.Signal(previous, version), Rules: make([]RuleFigure, len(s.Rules))}
	for i, r := range s.Rules {
		c.Rules[i] = RuleFigure{ID: r.ID, Threshold: r.Threshold, Estimate: r.Estimate, UpperBound: r.UpperBound,
			Ratio: r.Ratio, Level: r.Level, Covered: r.Covered}
	}
	return c
}
