package policy

import (
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/sketch"
)

// cst is the contract's default time zone, Asia/Shanghai, which has had no
// daylight saving since 1991.
var cst = time.FixedZone("CST", 8*3600)

// now is the evaluation time of most tests: 2026-11-25 10:00:01 in Shanghai.
var now = time.Date(2026, 11, 25, 10, 0, 1, 0, cst)

func mustPreset(t testing.TB, name string) Preset {
	t.Helper()
	p, err := PresetByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// settingsFor returns the contract's default settings for a preset.
func settingsFor(t testing.TB, preset string) Settings {
	return Settings{
		Preset:           mustPreset(t, preset),
		Levels:           DefaultLevels(),
		RenewalLeadDays:  183,
		ForecastLeadDays: 183,
		Location:         cst,
	}
}

// day returns midnight of a day in Shanghai, as the config loader gives
// valid_from and valid_until.
func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, cst) }

// counts are disjoint groups of people, all within this year (so every
// window holds them), as exact figures.
type counts struct {
	nonSensitive uint64 // of non-sensitive transfers
	sensitive    uint64 // of sensitive transfers
	processing   uint64 // of processing in China only
}

func (c counts) obs() Observation {
	o := Observation{Figures: map[sketch.Window]map[sketch.Counter]sketch.Figure{}}
	for _, w := range sketch.Windows {
		personal := c.nonSensitive + c.sensitive
		o.Figures[w] = map[sketch.Counter]sketch.Figure{
			sketch.Personal:     {Estimate: personal, UpperBound: personal},
			sketch.Sensitive:    {Estimate: c.sensitive, UpperBound: c.sensitive},
			sketch.NonSensitive: {Estimate: c.nonSensitive, UpperBound: c.nonSensitive},
			sketch.Processed:    {Estimate: personal + c.processing, UpperBound: personal + c.processing},
		}
	}
	return o
}

// withImportant marks important-data events in the windows given.
func withImportant(o Observation, ws ...sketch.Window) Observation {
	o.Important = map[sketch.Window]bool{}
	for _, w := range ws {
		o.Important[w] = true
	}
	return o
}

// withFigure sets one figure.
func withFigure(o Observation, w sketch.Window, c sketch.Counter, est, ub uint64) Observation {
	if o.Figures == nil {
		o.Figures = map[sketch.Window]map[sketch.Counter]sketch.Figure{}
	}
	if o.Figures[w] == nil {
		o.Figures[w] = map[sketch.Counter]sketch.Figure{}
	}
	o.Figures[w][c] = sketch.Figure{Estimate: est, UpperBound: ub}
	return o
}

func ruleOf(t testing.TB, st Status, id string) RuleReport {
	t.Helper()
	for _, r := range st.Rules {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no rule %q in %+v", id, st.Rules)
	return RuleReport{}
}

func sa(ref string, from, until time.Time) Approval {
	return Approval{Mechanism: SecurityAssessment, Status: Approved, Reference: ref, ValidFrom: from, ValidUntil: until}
}
