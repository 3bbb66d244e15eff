package policy

import "time"

// Entity is the registry entry of a legal entity (a Chinese data handler).
// An entity missing from the registry is evaluated as Entity{ID: id}: not a
// CIIO, no approvals.
type Entity struct {
	ID   string
	Name string
	// CIIO: the entity is a critical information infrastructure operator.
	CIIO      bool
	Approvals []Approval
}

// ApprovalState is the state of an approval.
type ApprovalState string

// The states of an approval. Only Approved covers anything.
const (
	Approved ApprovalState = "approved"
	Pending  ApprovalState = "pending"
	Rejected ApprovalState = "rejected"
)

// Valid reports whether s is one of the states.
func (s ApprovalState) Valid() bool {
	return s == Approved || s == Pending || s == Rejected
}

// Approval is an entity's approval under one mechanism.
//
// Only the calendar days of ValidFrom and ValidUntil matter, read in their
// own location (midnight in the configured time zone, or midnight UTC as a
// YAML date decodes, give the same day). The approval is valid from the
// start of ValidFrom up to, not including, ValidUntil. A zero ValidFrom
// means no lower bound; a zero ValidUntil makes the approval cover nothing.
type Approval struct {
	Mechanism  Mechanism
	Status     ApprovalState
	Reference  string
	ValidFrom  time.Time
	ValidUntil time.Time
}

// From returns the first day of validity.
func (a Approval) From() Date { return DateOf(a.ValidFrom) }

// Until returns the first day the approval is no longer valid.
func (a Approval) Until() Date { return DateOf(a.ValidUntil) }

// InForce reports whether the approval is approved and today lies in
// [ValidFrom, ValidUntil).
func (a Approval) InForce(today Date) bool {
	return a.Status == Approved && !today.Before(a.From()) && today.Before(a.Until())
}

// Covers reports whether the approval covers rule r today: it is in force
// and its mechanism is at least as strong as the rule's.
func (a Approval) Covers(r Rule, today Date) bool {
	return a.InForce(today) && a.Mechanism.Satisfies(r.Mechanism)
}

// DaysLeft returns the whole days from today to ValidUntil (negative once
// it has passed).
func (a Approval) DaysLeft(today Date) int { return a.Until().DaysSince(today) }

// label names the approval in a reason: "CAC-2025-0042 (security_assessment)".
func (a Approval) label() string {
	if a.Reference == "" {
		return "(" + string(a.Mechanism) + ")"
	}
	return a.Reference + " (" + string(a.Mechanism) + ")"
}

// coverEnd follows approval i (in force today) through approved successors
// of at least its strength that start no later than it ends, and returns the
// index of the approval whose end closes the chain: the day coverage under
// i's mechanism really lapses is approvals[result].Until().
func coverEnd(approvals []Approval, i int) int {
	end := i
	for {
		next := end
		for j, b := range approvals {
			if b.Status != Approved || b.Mechanism.Strength() < approvals[i].Mechanism.Strength() {
				continue
			}
			if !b.From().After(approvals[end].Until()) && b.Until().After(approvals[next].Until()) {
				next = j
			}
		}
		if next == end {
			return end
		}
		end = next
	}
}
