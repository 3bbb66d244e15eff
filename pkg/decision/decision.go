// Package decision defines what transferwatch tells the pipelines: the
// message of the decisions topic (Signal, CONTRACT §5) and the answer of
// GET /v1/entities/{id}/decision (Verdict, CONTRACT §6).
//
// transferwatch encodes these types and package gate decodes them, so the
// producer and the consumer share one definition; a test in transferwatch
// has the gate read what the service really publishes and serves.
package decision

import "time"

// Decision is what transferwatch tells the pipelines of an entity.
type Decision string

// The decisions of the contract, mildest first.
const (
	// Allow lets transfers go ahead.
	Allow Decision = "allow"
	// Warn lets transfers go ahead while the entity nears a threshold.
	Warn Decision = "warn"
	// Block holds transfers back until the required mechanism is in force.
	Block Decision = "block"
)

// Valid reports whether d is one of the decisions of the contract.
func (d Decision) Valid() bool { return d.rank() >= 0 }

// Permits reports whether the decision lets transfers go ahead: true for
// Allow and Warn, false for Block and for any value this package does not
// know.
func (d Decision) Permits() bool { return d == Allow || d == Warn }

// AtLeast returns the harsher of d and e (block over warn over allow).
func (d Decision) AtLeast(e Decision) Decision {
	if e.rank() > d.rank() {
		return e
	}
	return d
}

// rank orders the decisions, mildest first; -1 for an unknown one.
func (d Decision) rank() int {
	switch d {
	case Allow:
		return 0
	case Warn:
		return 1
	case Block:
		return 2
	}
	return -1
}

// Signal is the message of the decisions topic (CONTRACT §5), keyed by the
// entity.
type Signal struct {
	Entity   string   `json:"entity"`
	Decision Decision `json:"decision"`
	// Previous is the decision before this one, or "" when there was none
	// (the first decision of an entity).
	Previous Decision `json:"previous"`
	// RequiredMechanism is the legal mechanism that would lift a block:
	// "none", "standard_contract", "certification" or
	// "security_assessment".
	RequiredMechanism string    `json:"required_mechanism"`
	Policy            string    `json:"policy"`
	Reasons           []string  `json:"reasons"`
	DecidedAt         time.Time `json:"decided_at"`
	// Version increases with every decision published for the entity; a
	// message may be published again with the same version.
	Version int64 `json:"version"`
}

// Verdict is the answer of GET /v1/entities/{id}/decision (CONTRACT §6).
type Verdict struct {
	Entity   string   `json:"entity"`
	Decision Decision `json:"decision"`
	// RequiredMechanism is as in Signal.
	RequiredMechanism string   `json:"required_mechanism"`
	Reasons           []string `json:"reasons"`
	// Version is the version of the recorded decision, as on the
	// decisions topic; 0 for an entity without one.
	Version int64 `json:"version"`
	// DecidedAt is when the decision was recorded; null when unknown.
	DecidedAt *time.Time `json:"decided_at"`
	// AsOf is the time of the figures behind the decision.
	AsOf time.Time `json:"as_of"`
}
