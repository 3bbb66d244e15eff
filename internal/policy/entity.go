package policy

import (
	"fmt"
	"time"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/workday"
)

// Entity is the registry entry of a legal entity (a Chinese data handler).
// An entity missing from the registry is evaluated as Entity{ID: id}: not a
// CIIO, no approvals, in no free-trade zone, headcount and processed people
// unknown.
type Entity struct {
	ID   string
	Name string
	// CIIO: the entity is a critical information infrastructure operator.
	CIIO bool
	// FTZ is the pilot free-trade zone whose negative list the entity may
	// rely on, being registered there (2024 Provisions Art. 6); empty:
	// none, so ftz_negative_list exemptions do not apply to it.
	FTZ string
	// Employees is the entity's headcount, the bound of the hr exemption
	// (2024 Provisions Art. 5(2) covers the entity's own employees only);
	// 0: unknown.
	Employees int
	// ProcessedSubjects is the number of people whose personal information
	// the entity processes, by its own records (say, a CRM that never flows
	// through the topic); the processed figure held is at least this.
	ProcessedSubjects uint64
	Approvals         []Approval
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
// Only the calendar days of ValidFrom, ValidUntil and FiledOn matter, read
// in their own location (midnight in the configured time zone, or midnight
// UTC as a YAML date decodes, give the same day). The approval is valid
// from the start of ValidFrom up to, not including, ValidUntil. A zero
// ValidFrom means no lower bound; a zero ValidUntil makes the approval
// cover nothing.
type Approval struct {
	Mechanism  Mechanism
	Status     ApprovalState
	Reference  string
	ValidFrom  time.Time
	ValidUntil time.Time
	// FiledOn is the day a standard contract was filed with the provincial
	// CAC; zero: not filed (yet). See FilingDue.
	FiledOn time.Time
	// Scope is what the approval was granted for; nil: every flow.
	Scope *Scope
}

// Standard contract filing and security assessment re-application, in
// working days of the mainland China calendar (package workday).
const (
	// FilingWorkdays: a standard contract is filed within 10 working days
	// of taking effect (Standard Contract Measures Art. 7).
	FilingWorkdays = 10
	// ReapplyWorkdays: a security assessment is applied for again 60
	// working days before it expires (2022 Measures Art. 14; 2024
	// Provisions Art. 9).
	ReapplyWorkdays = 60
)

// From returns the first day of validity.
func (a Approval) From() Date { return civil.DateOf(a.ValidFrom) }

// Until returns the first day the approval is no longer valid.
func (a Approval) Until() Date { return civil.DateOf(a.ValidUntil) }

// Filed returns the day the approval was filed, and false when it was not.
func (a Approval) Filed() (Date, bool) { return civil.DateOf(a.FiledOn), !a.FiledOn.IsZero() }

// FilingDue returns the last day a standard contract may be filed: the
// 10th working day after ValidFrom, the day it takes effect, which is not
// counted (Civil Code Art. 201). known is false when the count crossed a
// year whose holiday schedule is not published (weekends only counted).
func (a Approval) FilingDue() (due Date, known bool) {
	t, known := workday.China().Add(a.From().In(time.UTC), FilingWorkdays)
	return civil.DateOf(t), known
}

// ReapplyBy returns the last day to apply again for a security assessment
// ending on until (exclusive): the 60th working day before its last day of
// validity, that day not counted. Of the readings of "60 working days
// before expiry" this is the earliest, so the deadline is never late.
// known is false when the count crossed a year whose holiday schedule is
// not published.
func ReapplyBy(until Date) (by Date, known bool) {
	t, known := workday.China().Add(until.AddDays(-1).In(time.UTC), -ReapplyWorkdays)
	return civil.DateOf(t), known
}

// label names the approval in a reason: "CAC-2025-0042 (security_assessment)".
func (a Approval) label() string {
	if a.Reference == "" {
		return "(" + string(a.Mechanism) + ")"
	}
	return a.Reference + " (" + string(a.Mechanism) + ")"
}

// filing is where a standard contract stands with its filing today.
type filing int

const (
	filingNone     filing = iota // not an approved standard contract
	filedInTime                  // filed within the 10 working days
	filingOpen                   // not filed yet, still within the 10 working days: covers, warns
	filingMissed                 // not filed within the 10 working days: covers nothing
	filedLate                    // filed after the 10 working days: covers nothing
	filingUnneeded               // not filed, not yet in effect: nothing due yet
)

// view is an approval as Evaluate holds it today: its validity cut to the
// legal term, and its filing.
type view struct {
	Approval
	// until is the first day without validity: ValidUntil, or the end of
	// the legal term when ValidUntil lies beyond it.
	until Date
	// termEnd is the end of the legal term when ValidUntil lies beyond it.
	termEnd *Date
	// usable: approved, and (for a standard contract) filed in time or
	// still within its filing period.
	usable bool
	filing filing
	due    Date // FilingDue, for a standard contract
	dueOK  bool // the due date was counted in a known calendar
}

// viewOf holds approval a against the preset's legal terms and today.
func viewOf(a Approval, preset string, today Date) view {
	v := view{Approval: a, until: a.Until(), usable: a.Status == Approved}
	if years, ok := LegalTerm(preset, a.Mechanism); ok && !a.ValidFrom.IsZero() && !a.ValidUntil.IsZero() {
		end := civil.DateOf(time.Date(a.From().Year+years, a.From().Month, a.From().Day, 0, 0, 0, 0, time.UTC))
		if v.until.After(end) {
			v.until, v.termEnd = end, &end
		}
	}
	if a.Mechanism == StandardContract && a.Status == Approved && !a.ValidFrom.IsZero() {
		v.due, v.dueOK = a.FilingDue()
		filed, ok := a.Filed()
		switch {
		case ok && !filed.After(today) && !filed.After(v.due):
			v.filing = filedInTime
		case ok && !filed.After(today):
			v.filing, v.usable = filedLate, false
		case today.Before(a.From()):
			v.filing = filingUnneeded
		case !today.After(v.due):
			v.filing = filingOpen
		default:
			v.filing, v.usable = filingMissed, false
		}
	}
	return v
}

// inForce reports whether the approval covers anything today: usable and
// today in [ValidFrom, until).
func (v view) inForce(today Date) bool {
	return v.usable && !today.Before(v.From()) && today.Before(v.until)
}

// covers reports whether the approval covers rule r today.
func (v view) covers(r Rule, today Date) bool {
	return v.inForce(today) && v.Mechanism.Satisfies(r.Mechanism)
}

// filingText describes a standard contract's filing problem, or "".
func (v view) filingText() string {
	note := ""
	if !v.dueOK {
		note = "; working days counted on weekends only: no published holiday schedule for " + fmt.Sprint(v.due.Year)
	}
	switch v.filing {
	case filingOpen:
		return fmt.Sprintf("approval %s not filed yet: file it with the provincial CAC by %s, 10 working days after it took effect on %s (%s Art. 7%s)",
			v.label(), v.due, v.From(), scMeasures, note)
	case filingMissed:
		return fmt.Sprintf("approval %s not filed within 10 working days of taking effect on %s (due %s; %s Art. 7%s): it covers nothing",
			v.label(), v.From(), v.due, scMeasures, note)
	case filedLate:
		filed, _ := v.Filed()
		return fmt.Sprintf("approval %s not filed within 10 working days of taking effect on %s: filed %s, due %s (%s Art. 7%s): it covers nothing",
			v.label(), v.From(), filed, v.due, scMeasures, note)
	}
	return ""
}

// coverEnd follows approval i (in force today) through usable successors
// of at least its strength that start no later than it ends, and returns the
// index of the approval whose end closes the chain: the day coverage under
// i's mechanism really lapses is views[result].until.
func coverEnd(views []view, i int) int {
	end := i
	for {
		next := end
		for j, b := range views {
			if !b.usable || b.Mechanism.Strength() < views[i].Mechanism.Strength() {
				continue
			}
			if !b.From().After(views[end].until) && b.until.After(views[next].until) {
				next = j
			}
		}
		if next == end {
			return end
		}
		end = next
	}
}

// applied reports whether an application that could succeed approval i is
// on record: another security assessment (or stronger) pending, or
// approved and ending after i.
func applied(views []view, i int) bool {
	for j, b := range views {
		if j == i || b.Mechanism.Strength() < views[i].Mechanism.Strength() {
			continue
		}
		if b.Status == Pending || b.usable && b.until.After(views[i].until) {
			return true
		}
	}
	return false
}
