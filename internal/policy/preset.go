package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// Mechanism is a legal mechanism for outbound transfers of personal
// information, or MechanismNone.
type Mechanism string

// The mechanisms of the contract, weakest to strongest: StandardContract =
// Certification < SecurityAssessment (PIPL Art. 38: any one of them makes
// an outbound transfer lawful where the law does not require the security
// assessment itself).
const (
	MechanismNone      Mechanism = "none"
	StandardContract   Mechanism = "standard_contract"   // CAC standard contract filing
	Certification      Mechanism = "certification"       // personal information protection certification
	SecurityAssessment Mechanism = "security_assessment" // CAC security assessment
)

// Strength orders the mechanisms: 0 for MechanismNone and anything unknown,
// 1 for StandardContract and Certification, 2 for SecurityAssessment.
func (m Mechanism) Strength() int {
	switch m {
	case StandardContract, Certification:
		return 1
	case SecurityAssessment:
		return 2
	}
	return 0
}

// Valid reports whether m is a mechanism an approval can have (not
// MechanismNone).
func (m Mechanism) Valid() bool { return m.Strength() > 0 }

// Satisfies reports whether an approval under m satisfies a rule requiring
// required: m is a real mechanism at least as strong.
func (m Mechanism) Satisfies(required Mechanism) bool {
	return m.Valid() && m.Strength() >= required.Strength()
}

// ImportantDataCounter names the pseudo-counter of the "important-data"
// rule in rule reports. It is not a sketch counter: the rule holds whether
// any important-data event lies in its window (Observation.Important).
const ImportantDataCounter sketch.Counter = "important_data"

// HRExemptCounter names the pseudo-counter of the "hr-exemption" rule in
// rule reports: the people of transfer events carrying the hr exemption
// (Observation.Exempt).
const HRExemptCounter sketch.Counter = "hr_exempt"

// Rule is one row of a preset: a counter and window held against a
// threshold, and the mechanism required once it is reached.
type Rule struct {
	ID        string
	Counter   sketch.Counter // ImportantDataCounter or HRExemptCounter for those rules
	Window    sketch.Window
	Threshold uint64 // held with ≥; 0 (CIIOOnly rules only): breached from the start
	// Mechanism is what the rule requires once breached; MechanismNone
	// for an Advisory rule.
	Mechanism Mechanism
	// CIIOOnly: the rule applies only to critical information
	// infrastructure operators.
	CIIOOnly bool
	// ImportantData: the rule fires on any important-data event in its
	// window instead of a counter.
	ImportantData bool
	// NeedsTransfer: the rule fires only when the entity transferred the
	// personal information of someone in its window (personal ≥ 1); before
	// that it is at most critical. processed-1m: the law names a handler
	// processing that many people that transfers personal information.
	NeedsTransfer bool
	// DeclaredFloor: the figure held is at least the entity's own count,
	// Entity.ProcessedSubjects (people processed outside the topic too).
	DeclaredFloor bool
	// Exemption, when set, makes the rule count the people of transfer
	// events carrying that exemption against the entity's headcount
	// (Entity.Employees) instead of Threshold: hr-exemption.
	Exemption event.Exemption
	// Advisory: the rule makes the decision warn at most, never block, and
	// requires no mechanism.
	Advisory bool
	// Basis is the legal provision the rule comes from.
	Basis string
}

// Binary reports whether the rule fires at ≥ 1 (or from the start), so
// that its level is only ever ok or breached.
func (r Rule) Binary() bool { return r.Threshold <= 1 && r.Exemption == "" }

// Preset is a named set of rules, and whether exempt events count.
type Preset struct {
	Name string
	// Title names the legal text the preset reads, for people.
	Title string
	// Summary says in a sentence what the preset means.
	Summary string
	// IncludeExempt: events carrying an exemption count toward every
	// counter (cac-2022, whose Measures know no exemption). Under cac-2024
	// they are left out, as far as the entity may rely on the exemption:
	// see Settings.Counting, which says what the store must read for an
	// entity.
	IncludeExempt bool
	Rules         []Rule
}

// The names of the presets.
const (
	PresetCAC2022 = "cac-2022"
	PresetCAC2024 = "cac-2024"
)

// DefaultPreset is the preset of the default configuration: the law in
// force since 2024-03-22.
const DefaultPreset = PresetCAC2024

// ErrUnknownPreset is returned by PresetByName for a name it does not know.
var ErrUnknownPreset = errors.New("policy: unknown preset")

// PresetNames returns the names of every preset.
func PresetNames() []string { return []string{PresetCAC2022, PresetCAC2024} }

// PresetByName returns a fresh copy of the named preset.
func PresetByName(name string) (Preset, error) {
	switch name {
	case PresetCAC2022:
		return cac2022(), nil
	case PresetCAC2024:
		return cac2024(), nil
	}
	return Preset{}, fmt.Errorf("%w %q (want %s or %s)", ErrUnknownPreset, name, PresetCAC2022, PresetCAC2024)
}

// Legal texts cited by the rules.
const (
	// pipl is the Personal Information Protection Law of the PRC (2021).
	pipl = "PIPL"
	// measures2022 is the Measures for Security Assessment of Outbound
	// Data Transfers (CAC, 2022-07-07, in force 2022-09-01).
	measures2022 = "2022 Measures"
	// scMeasures is the Measures on the Standard Contract for Outbound
	// Transfer of Personal Information (CAC, 2023-02-22, in force
	// 2023-06-01).
	scMeasures = "Standard Contract Measures"
	// provisions2024 is the Provisions on Promoting and Regulating
	// Cross-Border Data Flows (CAC, 2024-03-22, in force the same day).
	provisions2024 = "2024 Provisions"
)

// cac2022 is the 2022 Measures on Security Assessment of Outbound Data
// Transfers, read with the Standard Contract Measures: everything counts
// since 1 January of last year, exempt transfers included (the Measures
// know no exemption), the assessment thresholds of Art. 4 require a
// security assessment, and below them every transfer of personal
// information needs a standard contract or a certification (PIPL Art. 38;
// Standard Contract Measures Art. 4).
func cac2022() Preset {
	w := sketch.SincePrevJan1
	return Preset{
		Name:  PresetCAC2022,
		Title: "Measures for Security Assessment of Outbound Data Transfers (2022) with the Standard Contract Measures (2023)",
		Summary: "windows since 1 January of last year; exempt transfers count; a security assessment for CIIOs, " +
			"important data, handlers processing 1,000,000 people, 100,000 people or 10,000 sensitive; " +
			"below that a standard contract or certification for any transfer of personal information",
		IncludeExempt: true,
		Rules: []Rule{
			{ID: "ciio", Counter: sketch.Personal, Window: w, Threshold: 0, Mechanism: SecurityAssessment, CIIOOnly: true,
				Basis: pipl + " Art. 40; " + measures2022 + " Art. 4(2)"},
			{ID: "important-data", Counter: ImportantDataCounter, Window: w, Threshold: 1, Mechanism: SecurityAssessment, ImportantData: true,
				Basis: measures2022 + " Art. 4(1)"},
			{ID: "processed-1m", Counter: sketch.Processed, Window: w, Threshold: 1_000_000, Mechanism: SecurityAssessment,
				NeedsTransfer: true, DeclaredFloor: true, Basis: measures2022 + " Art. 4(2)"},
			{ID: "personal-100k", Counter: sketch.Personal, Window: w, Threshold: 100_000, Mechanism: SecurityAssessment,
				Basis: measures2022 + " Art. 4(3)"},
			{ID: "sensitive-10k", Counter: sketch.Sensitive, Window: w, Threshold: 10_000, Mechanism: SecurityAssessment,
				Basis: measures2022 + " Art. 4(3)"},
			{ID: "personal-any", Counter: sketch.Personal, Window: w, Threshold: 1, Mechanism: StandardContract,
				Basis: pipl + " Art. 38; " + scMeasures + " Art. 4"},
		},
	}
}

// cac2024 is the 2024 Provisions on Promoting and Regulating Cross-Border
// Data Flows: counts since 1 January of this year, exempt transfers (Arts.
// 3–6) left out as far as the entity may rely on the exemption,
// non-sensitive personal information counted apart from sensitive.
func cac2024() Preset {
	w := sketch.CurrentYear
	return Preset{
		Name:  PresetCAC2024,
		Title: "Provisions on Promoting and Regulating Cross-Border Data Flows (2024, in force since 2024-03-22)",
		Summary: "windows since 1 January of this year; exempt transfers (Arts. 3-6) left out where the entity may rely on them; " +
			"a security assessment for CIIOs, important data, 1,000,000 people or 10,000 sensitive; " +
			"a standard contract or certification for 100,000 people or any sensitive personal information",
		IncludeExempt: false,
		Rules: []Rule{
			{ID: "ciio", Counter: sketch.Personal, Window: w, Threshold: 0, Mechanism: SecurityAssessment, CIIOOnly: true,
				Basis: pipl + " Art. 40; " + provisions2024 + " Art. 7(1)"},
			{ID: "important-data", Counter: ImportantDataCounter, Window: w, Threshold: 1, Mechanism: SecurityAssessment, ImportantData: true,
				Basis: provisions2024 + " Arts. 2, 7"},
			{ID: "personal-1m", Counter: sketch.NonSensitive, Window: w, Threshold: 1_000_000, Mechanism: SecurityAssessment,
				Basis: provisions2024 + " Art. 7(2)"},
			{ID: "personal-100k", Counter: sketch.NonSensitive, Window: w, Threshold: 100_000, Mechanism: StandardContract,
				Basis: provisions2024 + " Art. 8"},
			{ID: "sensitive-10k", Counter: sketch.Sensitive, Window: w, Threshold: 10_000, Mechanism: SecurityAssessment,
				Basis: provisions2024 + " Art. 7(2)"},
			{ID: "sensitive-any", Counter: sketch.Sensitive, Window: w, Threshold: 1, Mechanism: StandardContract,
				Basis: provisions2024 + " Art. 8"},
			{ID: "hr-exemption", Counter: HRExemptCounter, Window: w, Mechanism: MechanismNone, Exemption: event.ExemptionHR, Advisory: true,
				Basis: provisions2024 + " Art. 5(2)"},
		},
	}
}

// Describe says which preset is in force and what it means, one line for
// the preset and one per rule, for check-config and the logs.
func (p Preset) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy %s: %s\n  %s\n", p.Name, p.Title, p.Summary)
	for _, r := range p.Rules {
		fmt.Fprintf(&b, "  %-15s %s\n", r.ID, r.describe())
	}
	return b.String()
}

// describe is a rule in words: "personal >= 100000 since 1 January of last
// year -> security_assessment (2022 Measures Art. 4(3))".
func (r Rule) describe() string {
	since := "this year"
	if r.Window == sketch.SincePrevJan1 {
		since = "since 1 January of last year"
	}
	var what string
	switch {
	case r.CIIOOnly && r.Threshold == 0:
		what = "a critical information infrastructure operator, from its first transfer"
	case r.ImportantData:
		what = "any important data " + since + ", whatever its exemption"
	case r.Exemption != "":
		what = fmt.Sprintf("people of %s-exempt transfers %s >= the entity's employees", r.Exemption, since)
	default:
		what = fmt.Sprintf("%s >= %d %s", r.Counter, r.Threshold, since)
		if r.NeedsTransfer {
			what += ", with personal >= 1"
		}
		if r.DeclaredFloor {
			what += " (at least processed_subjects)"
		}
	}
	need := "-> " + string(r.Mechanism)
	if r.Advisory {
		need = "-> warn (advisory)"
	}
	return fmt.Sprintf("%s %s (%s)", what, need, r.Basis)
}

// LegalTerm returns the longest validity, in years, the law gives an
// approval under mechanism m in the named preset, and false when it sets
// none (a standard contract has no statutory term):
//
//   - security assessment: 2 years under cac-2022 (2022 Measures Art. 14),
//     3 years under cac-2024 (2024 Provisions Art. 9);
//   - certification: 3 years (Implementation Rules for Personal
//     Information Protection Certification, 2022: certificates are valid
//     three years).
func LegalTerm(preset string, m Mechanism) (years int, ok bool) {
	switch m {
	case SecurityAssessment:
		if preset == PresetCAC2022 {
			return 2, true
		}
		return 3, true
	case Certification:
		return 3, true
	}
	return 0, false
}

// LegalTermBasis cites the provision of LegalTerm.
func LegalTermBasis(preset string, m Mechanism) string {
	switch {
	case m == SecurityAssessment && preset == PresetCAC2022:
		return measures2022 + " Art. 14"
	case m == SecurityAssessment:
		return provisions2024 + " Art. 9"
	}
	return "Certification Implementation Rules (2022)"
}
