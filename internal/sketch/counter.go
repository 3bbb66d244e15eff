package sketch

import (
	"fmt"
	"time"

	"github.com/transferwatch/transferwatch/pkg/event"
)

// Cell is one disjoint class of events: kind × sensitive × exempt. Every
// event falls into exactly one cell, and every counter of the contract is a
// union of cells, so a change of preset (which decides whether exempt events
// count) needs no replay: it only picks other cells.
type Cell uint8

// NumCells is the number of distinct cells.
const NumCells = 8

const (
	cellProcessing Cell = 1 << iota // kind is processing (else transfer)
	cellSensitive                   // sensitive personal information
	cellExempt                      // carries an exemption
)

// CellOf returns the cell of an event with these attributes.
func CellOf(kind event.Kind, sensitive, exempt bool) Cell {
	var c Cell
	if kind == event.KindProcessing {
		c |= cellProcessing
	}
	if sensitive {
		c |= cellSensitive
	}
	if exempt {
		c |= cellExempt
	}
	return c
}

// Transfer reports whether the cell holds outbound transfers.
func (c Cell) Transfer() bool { return c&cellProcessing == 0 }

// Sensitive reports whether the cell holds sensitive events.
func (c Cell) Sensitive() bool { return c&cellSensitive != 0 }

// Exempt reports whether the cell holds exempt events.
func (c Cell) Exempt() bool { return c&cellExempt != 0 }

func (c Cell) String() string {
	kind := "transfer"
	if !c.Transfer() {
		kind = "processing"
	}
	return fmt.Sprintf("%s/sensitive=%t/exempt=%t", kind, c.Sensitive(), c.Exempt())
}

// Counter is one of the four distinct-people counters of the contract.
type Counter string

// The counters of the contract (§4).
const (
	Personal     Counter = "personal"      // subjects of transfer events
	Sensitive    Counter = "sensitive"     // of transfer events with sensitive data
	NonSensitive Counter = "non_sensitive" // of transfer events without
	Processed    Counter = "processed"     // of all events, transfer or processing
)

// Counters lists every counter in a stable order.
var Counters = [...]Counter{Personal, Sensitive, NonSensitive, Processed}

// Includes reports whether events of cell c count toward the counter; exempt
// events count only when includeExempt is true (cac-2022, not cac-2024).
func (k Counter) Includes(c Cell, includeExempt bool) bool {
	if c.Exempt() && !includeExempt {
		return false
	}
	switch k {
	case Personal:
		return c.Transfer()
	case Sensitive:
		return c.Transfer() && c.Sensitive()
	case NonSensitive:
		return c.Transfer() && !c.Sensitive()
	case Processed:
		return true
	}
	return false
}

// Cells returns the cells whose union is the counter.
func (k Counter) Cells(includeExempt bool) []Cell {
	var cells []Cell
	for c := range Cell(NumCells) {
		if k.Includes(c, includeExempt) {
			cells = append(cells, c)
		}
	}
	return cells
}

// Window is a span of calendar years relative to today, in the configured
// time zone.
type Window string

// The windows of the contract (§4).
const (
	CurrentYear   Window = "current_year"    // since 1 January of this year
	SincePrevJan1 Window = "since_prev_jan1" // since 1 January of last year
)

// Windows lists every window in a stable order.
var Windows = [...]Window{CurrentYear, SincePrevJan1}

// Years returns the calendar years the window spans when this year is y.
func (w Window) Years(y int) []int {
	if w == SincePrevJan1 {
		return []int{y - 1, y}
	}
	return []int{y}
}

// Start returns the first day of the window when this year is y.
func (w Window) Start(y int, loc *time.Location) time.Time {
	return time.Date(w.Years(y)[0], time.January, 1, 0, 0, 0, 0, loc)
}

// Figure is a distinct-count estimate with its upper bound (the estimate
// plus three standard errors of the sketch).
type Figure struct {
	Estimate   uint64 `json:"estimate"`
	UpperBound uint64 `json:"upper_bound"`
}
