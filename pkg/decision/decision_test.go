package decision_test

import (
	"testing"

	"github.com/transferwatch/transferwatch/pkg/decision"
)

func TestDecision(t *testing.T) {
	for _, tc := range []struct {
		d              decision.Decision
		valid, permits bool
	}{
		{decision.Allow, true, true},
		{decision.Warn, true, true},
		{decision.Block, true, false},
		{"", false, false},
		{"maybe", false, false},
	} {
		if tc.d.Valid() != tc.valid || tc.d.Permits() != tc.permits {
			t.Errorf("%q: Valid %v Permits %v, want %v %v", tc.d, tc.d.Valid(), tc.d.Permits(), tc.valid, tc.permits)
		}
	}
	if decision.Allow.AtLeast(decision.Block) != decision.Block || decision.Block.AtLeast(decision.Warn) != decision.Block ||
		decision.Warn.AtLeast(decision.Allow) != decision.Warn || decision.Allow.AtLeast("maybe") != decision.Allow {
		t.Error("AtLeast")
	}
}
