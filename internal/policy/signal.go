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
