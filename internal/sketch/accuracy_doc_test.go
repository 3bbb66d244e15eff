package sketch_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/transferwatch/transferwatch/internal/sketch"
)

// TestAccuracyDocMatchesTable checks that docs/accuracy.md shows the
// measured error table defined once in sketch.MeasuredAccuracy, which the
// evidence pack prints.
func TestAccuracyDocMatchesTable(t *testing.T) {
	doc, err := os.ReadFile("../../docs/accuracy.md")
	if err != nil {
		t.Fatal(err)
	}
	a := sketch.MeasuredAccuracy()
	if !strings.Contains(string(doc), a.AccuracyTable()) {
		t.Errorf("docs/accuracy.md does not show the table of sketch.MeasuredAccuracy:\n%s", a.AccuracyTable())
	}
	sum := 0
	for _, r := range a.Rows {
		sum += r.Trials
	}
	if sum != a.Trials {
		t.Errorf("rows hold %d trials, Trials says %d", sum, a.Trials)
	}
	for _, want := range []string{
		fmt.Sprintf("All %s trials: p99 **%.2f%%**", thousands(a.Trials), a.P99Pct),
		a.Command,
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/accuracy.md does not say %q", want)
		}
	}
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	if len(s) <= 3 {
		return s
	}
	return s[:len(s)-3] + "," + s[len(s)-3:]
}
