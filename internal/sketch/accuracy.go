package sketch

import (
	"fmt"
	"strings"
)

// AccuracyRow is one row of the measured error of the legal figure
// (TestAccuracy at -accuracy.scale 5): the relative error |estimate − n| / n
// over Trials trials of n = Subjects distinct people, in percent.
type AccuracyRow struct {
	Subjects int     `json:"subjects"`
	Trials   int     `json:"trials"`
	MeanPct  float64 `json:"mean_error_pct"`
	P99Pct   float64 `json:"p99_error_pct"`
	MaxPct   float64 `json:"max_error_pct"`
}

// Accuracy is the measured error of the legal figure: the table of
// docs/accuracy.md, defined here once. The evidence pack shows it, and a
// test checks that docs/accuracy.md shows the same (AccuracyTable).
type Accuracy struct {
	Rows []AccuracyRow `json:"rows"`
	// Trials and P99Pct are over every trial of every row.
	Trials int     `json:"trials"`
	P99Pct float64 `json:"p99_error_pct"`
	// Command reproduces the table.
	Command string `json:"command"`
}

// MeasuredAccuracy returns the measured error table. Measured with the
// command it names; update it and docs/accuracy.md together.
func MeasuredAccuracy() Accuracy {
	return Accuracy{
		Rows: []AccuracyRow{
			{1000, 500, 0.00, 0.10, 0.10},
			{3000, 500, 0.00, 0.07, 0.07},
			{10000, 500, 0.47, 1.41, 1.66},
			{30000, 200, 0.48, 1.60, 1.75},
			{100000, 100, 0.55, 1.38, 1.66},
			{300000, 40, 0.67, 1.92, 1.92},
			{1000000, 20, 0.66, 1.94, 1.94},
		},
		Trials:  1860,
		P99Pct:  1.39,
		Command: "go test -count=1 -run TestAccuracy -v ./internal/sketch -accuracy.scale 5",
	}
}

// AccuracyTable returns the table as docs/accuracy.md shows it (Markdown).
func (a Accuracy) AccuracyTable() string {
	var b strings.Builder
	b.WriteString("| distinct subjects | trials | mean error | p99 error | max error |\n|---:|---:|---:|---:|---:|\n")
	for _, r := range a.Rows {
		fmt.Fprintf(&b, "| %d | %d | %.2f%% | %.2f%% | %.2f%% |\n", r.Subjects, r.Trials, r.MeanPct, r.P99Pct, r.MaxPct)
	}
	return b.String()
}
