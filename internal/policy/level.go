package policy

import (
	"errors"
	"fmt"

	"github.com/transferwatch/transferwatch/pkg/decision"
)

// Level is how close a rule is to its threshold.
type Level string

// The levels of a rule, lowest first.
const (
	LevelOK       Level = "ok"
	LevelNotice   Level = "notice"
	LevelWarning  Level = "warning"
	LevelCritical Level = "critical"
	LevelBreached Level = "breached"
)

// Value returns the level as a number for the transferwatch_rule_level
// metric: 0 for ok up to 4 for breached (-1 for an unknown level).
func (l Level) Value() int {
	switch l {
	case LevelOK:
		return 0
	case LevelNotice:
		return 1
	case LevelWarning:
		return 2
	case LevelCritical:
		return 3
	case LevelBreached:
		return 4
	}
	return -1
}

// Levels are the fractions of a threshold at which a rule reaches notice,
// warning and critical. The zero Levels stands for DefaultLevels.
type Levels struct {
	Notice   float64
	Warning  float64
	Critical float64
}

// DefaultLevels returns the levels of the contract's default configuration:
// 0.70, 0.85 and 0.95.
func DefaultLevels() Levels { return Levels{Notice: 0.70, Warning: 0.85, Critical: 0.95} }

// ErrInvalidLevels is returned by Levels.Validate.
var ErrInvalidLevels = errors.New("policy: invalid levels")

// Validate checks 0 < notice ≤ warning ≤ critical ≤ 1.
func (l Levels) Validate() error {
	if !(0 < l.Notice && l.Notice <= l.Warning && l.Warning <= l.Critical && l.Critical <= 1) {
		return fmt.Errorf("%w: want 0 < notice <= warning <= critical <= 1, got notice=%v warning=%v critical=%v",
			ErrInvalidLevels, l.Notice, l.Warning, l.Critical)
	}
	return nil
}

// orDefault returns DefaultLevels for the zero Levels.
func (l Levels) orDefault() Levels {
	if l == (Levels{}) {
		return DefaultLevels()
	}
	return l
}

// Of returns the level of figure held against threshold: breached at
// figure ≥ threshold, else by the ratio figure/threshold. A threshold of 1
// gives only ok or breached; a threshold of 0 is breached from the start,
// whatever the figure (the ciio rule of a CIIO).
func (l Levels) Of(figure, threshold uint64) Level {
	if figure >= threshold {
		return LevelBreached
	}
	if threshold == 1 {
		return LevelOK
	}
	l = l.orDefault()
	// Division is correctly rounded, so a figure exactly at a configured
	// fraction (e.g. 85,000 of 100,000 at 0.85) compares equal to it.
	r := float64(figure) / float64(threshold)
	switch {
	case r >= l.Critical:
		return LevelCritical
	case r >= l.Warning:
		return LevelWarning
	case r >= l.Notice:
		return LevelNotice
	}
	return LevelOK
}

// Decision is what transferwatch tells the pipelines of an entity; the type
// is that of the wire contract, package decision.
type Decision = decision.Decision

// The decisions, mildest first.
const (
	Allow = decision.Allow
	Warn  = decision.Warn
	Block = decision.Block
)

// Decisions returns every decision, mildest first.
func Decisions() []Decision { return []Decision{Allow, Warn, Block} }
