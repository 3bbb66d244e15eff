package policy

import (
	"errors"
	"fmt"

	"github.com/transferwatch/transferwatch/internal/sketch"
)

// Mechanism is a legal mechanism for outbound transfers of personal
// information, or MechanismNone.
type Mechanism string

// The mechanisms of the contract, weakest to strongest: StandardContract =
// Certification < SecurityAssessment.
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

// Rule is one row of a preset: a counter and window held against a
// threshold, and the mechanism required once it is reached.
type Rule struct {
	ID        string
	Counter   sketch.Counter // ImportantDataCounter when ImportantData
	Window    sketch.Window
	Threshold uint64 // held with ≥
	Mechanism Mechanism
	// CIIOOnly: the rule applies only to critical information
	// infrastructure operators.
	CIIOOnly bool
	// ImportantData: the rule fires on any important-data event in its
	// window instead of a counter.
	ImportantData bool
}

// Binary reports whether the rule fires at ≥ 1, so that its level is only
// ever ok or breached.
func (r Rule) Binary() bool { return r.Threshold <= 1 }

// Preset is a named set of rules, and whether exempt events count.
type Preset struct {
	Name string
	// IncludeExempt: events carrying an exemption count toward every
	// counter (cac-2022); under cac-2024 they are left out. The caller reads
	// the store with it.
	IncludeExempt bool
	Rules         []Rule
}

// The names of the presets.
const (
	PresetCAC2022 = "cac-2022"
	PresetCAC2024 = "cac-2024"
)

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

// cac2022 is the 2022 Measures on Security Assessment of Outbound Data
// Transfers: everything counts since 1 January of last year and every
// threshold requires a security assessment.
func cac2022() Preset {
	w := sketch.SincePrevJan1
	return Preset{
		Name:          PresetCAC2022,
		IncludeExempt: true,
		Rules: []Rule{
			{ID: "ciio", Counter: sketch.Personal, Window: w, Threshold: 1, Mechanism: SecurityAssessment, CIIOOnly: true},
			{ID: "important-data", Counter: ImportantDataCounter, Window: w, Threshold: 1, Mechanism: SecurityAssessment, ImportantData: true},
			{ID: "processed-1m", Counter: sketch.Processed, Window: w, Threshold: 1_000_000, Mechanism: SecurityAssessment},
			{ID: "personal-100k", Counter: sketch.Personal, Window: w, Threshold: 100_000, Mechanism: SecurityAssessment},
			{ID: "sensitive-10k", Counter: sketch.Sensitive, Window: w, Threshold: 10_000, Mechanism: SecurityAssessment},
		},
	}
}

// cac2024 is the 2024 Provisions on Promoting and Regulating Cross-Border
// Data Flows: counts since 1 January of this year, exempt transfers left
// out, non-sensitive personal information counted apart from sensitive.
func cac2024() Preset {
	w := sketch.CurrentYear
	return Preset{
		Name:          PresetCAC2024,
		IncludeExempt: false,
		Rules: []Rule{
			{ID: "ciio", Counter: sketch.Personal, Window: w, Threshold: 1, Mechanism: SecurityAssessment, CIIOOnly: true},
			{ID: "important-data", Counter: ImportantDataCounter, Window: w, Threshold: 1, Mechanism: SecurityAssessment, ImportantData: true},
			{ID: "personal-1m", Counter: sketch.NonSensitive, Window: w, Threshold: 1_000_000, Mechanism: SecurityAssessment},
			{ID: "personal-100k", Counter: sketch.NonSensitive, Window: w, Threshold: 100_000, Mechanism: StandardContract},
			{ID: "sensitive-10k", Counter: sketch.Sensitive, Window: w, Threshold: 10_000, Mechanism: SecurityAssessment},
			{ID: "sensitive-any", Counter: sketch.Sensitive, Window: w, Threshold: 1, Mechanism: StandardContract},
		},
	}
}
