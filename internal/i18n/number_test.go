package i18n

import (
	"math"
	"testing"
)

func TestNumbers(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {20114, "20,114"}, {1234567, "1,234,567"},
		{-1234, "-1,234"}, {-999, "-999"}, {math.MinInt64, "-9,223,372,036,854,775,808"}} {
		if got := Int(c.n); got != c.want {
			t.Errorf("Int(%d) = %q, want %q", c.n, got, c.want)
		}
	}
	if got := Uint(math.MaxUint64); got != "18,446,744,073,709,551,615" {
		t.Errorf("Uint(max) = %q", got)
	}
}
