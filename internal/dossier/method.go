package dossier

import (
	"math"

	"github.com/transferwatch/transferwatch/internal/sketch"
)

// Method is how the figures are counted, and how good they are.
type Method struct {
	// Estimator names the sketch; Hash how identifiers are hashed first.
	Estimator string `json:"estimator"`
	Hash      string `json:"hash"`
	// Precision p of the legal figure's sketches: m = 2^p registers,
	// relative standard error 1.04/√m.
	Precision   int     `json:"precision"`
	Registers   int     `json:"registers"`
	StdErrorPct float64 `json:"std_error_pct"`
	// UpperBoundPct is what the upper bound adds to the estimate: three
	// standard errors.
	UpperBoundSigmas int     `json:"upper_bound_sigmas"`
	UpperBoundPct    float64 `json:"upper_bound_pct"`
	// The day curves (the daily series, for the forecast only) and the
	// flows' sketches.
	CurvePrecision   int     `json:"curve_precision"`
	CurveStdErrorPct float64 `json:"curve_std_error_pct"`
	FlowPrecision    int     `json:"flow_precision"`
	FlowStdErrorPct  float64 `json:"flow_std_error_pct"`
	// Accuracy is the measured error table of docs/accuracy.md.
	Accuracy sketch.Accuracy `json:"accuracy"`
}

// NewMethod returns the method of this build.
func NewMethod() Method {
	pct := func(f float64) float64 { return math.Round(f*10000) / 100 }
	return Method{
		Estimator:        "HyperLogLog (github.com/axiomhq/hyperloglog)",
		Hash:             "SipHash-2-4, 64-bit, under the 128-bit subject key",
		Precision:        sketch.Precision,
		Registers:        1 << sketch.Precision,
		StdErrorPct:      pct(sketch.StdError),
		UpperBoundSigmas: 3,
		UpperBoundPct:    pct(3 * sketch.StdError),
		CurvePrecision:   sketch.CurvePrecision,
		CurveStdErrorPct: pct(1.04 / math.Sqrt(1<<sketch.CurvePrecision)),
		FlowPrecision:    sketch.FlowPrecision,
		FlowStdErrorPct:  pct(sketch.FlowStdError),
		Accuracy:         sketch.MeasuredAccuracy(),
	}
}
