package policy

import (
	"slices"
	"time"
)

// Signal is the message of the decisions topic (CONTRACT §5), keyed by the
// entity.
type Signal struct {
	Entity   string   `json:"entity"`
	Decision Decision `json:"decision"`
	// Previous is the decision before this one, or "" when there was none
	// (the first decision of an entity).
	Previous          Decision  `json:"previous"`
	RequiredMechanism Mechanism `json:"required_mechanism"`
	Policy            string    `json:"policy"`
	Reasons           []string  `json:"reasons"`
	DecidedAt         time.Time `json:"decided_at"`
	// Version increases with every decision published for the entity.
	Version int64 `json:"version"`
}

// Signal returns the decisions-topic message announcing the status's
// decision, which follows previous, as the given version.
func (s Status) Signal(previous Decision, version int64) Signal {
	return Signal{
		Entity:            s.Entity,
		Decision:          s.Decision,
		Previous:          previous,
		RequiredMechanism: s.RequiredMechanism,
		Policy:            s.Policy,
		Reasons:           s.reasons(),
		DecidedAt:         s.UpdatedAt,
		Version:           version,
	}
}

// Verdict is the answer of GET /v1/entities/{id}/decision (CONTRACT §6).
type Verdict struct {
	Entity            string    `json:"entity"`
	Decision          Decision  `json:"decision"`
	RequiredMechanism Mechanism `json:"required_mechanism"`
	Reasons           []string  `json:"reasons"`
	// Version is the version of the recorded decision, as on the
	// decisions topic; 0 for an entity without one.
	Version int64 `json:"version"`
	// DecidedAt is when the decision was recorded; null when unknown.
	DecidedAt *time.Time `json:"decided_at"`
	// AsOf is the time of the figures behind the decision.
	AsOf time.Time `json:"as_of"`
}

// Verdict returns the decision answer of the status; the caller fills in
// Version, DecidedAt and AsOf from its records.
func (s Status) Verdict() Verdict {
	return Verdict{
		Entity:            s.Entity,
		Decision:          s.Decision,
		RequiredMechanism: s.RequiredMechanism,
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
	Signal
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
