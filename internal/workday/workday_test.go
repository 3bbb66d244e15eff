package workday

import (
	"testing"
	"time"
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestIsWorkday(t *testing.T) {
	c := China()
	tests := []struct {
		day  time.Time
		want bool
		why  string
	}{
		{date(2026, 2, 13), true, "Friday before Spring Festival"},
		{date(2026, 2, 14), true, "Saturday worked in exchange for Spring Festival"},
		{date(2026, 2, 15), false, "Spring Festival (Sunday)"},
		{date(2026, 2, 16), false, "Spring Festival (Monday)"},
		{date(2026, 2, 23), false, "last day of Spring Festival (Monday)"},
		{date(2026, 2, 24), true, "first working day after Spring Festival"},
		{date(2026, 2, 28), true, "Saturday worked in exchange for Spring Festival"},
		{date(2026, 9, 20), true, "Sunday worked in exchange for National Day"},
		{date(2026, 10, 1), false, "National Day"},
		{date(2026, 10, 7), false, "National Day holiday (Wednesday)"},
		{date(2026, 10, 8), true, "Thursday after National Day"},
		{date(2026, 10, 10), true, "Saturday worked in exchange for National Day"},
		{date(2026, 10, 11), false, "an ordinary Sunday"},
		{date(2027, 2, 8), false, "Spring Festival 2027 (Monday)"},
		{date(2027, 2, 14), true, "Sunday worked in exchange for Spring Festival 2027"},
		{date(2030, 10, 1), true, "a Tuesday of a year without a known schedule: weekends only"},
		{date(2030, 10, 5), false, "a Saturday of a year without a known schedule"},
	}
	for _, tt := range tests {
		if got := c.IsWorkday(tt.day); got != tt.want {
			t.Errorf("IsWorkday(%s) = %v, want %v (%s)", tt.day.Format(time.DateOnly), got, tt.want, tt.why)
		}
	}
	// Only the calendar day counts, in the time's own location.
	late := time.Date(2026, 10, 8, 23, 30, 0, 0, time.FixedZone("CST", 8*3600))
	if !c.IsWorkday(late) {
		t.Errorf("IsWorkday(%s) = false: the day in its own location is a working Thursday", late)
	}
}

func TestKnownYears(t *testing.T) {
	c := China()
	if c.FirstYear() != 2002 {
		t.Errorf("FirstYear() = %d, want 2002", c.FirstYear())
	}
	// lunar-go v1.4.7 ships the schedule up to 2027.
	if c.LastYear() < 2027 {
		t.Errorf("LastYear() = %d, want at least 2027", c.LastYear())
	}
	for _, y := range []int{2002, 2024, 2026, c.LastYear()} {
		if !c.Known(y) {
			t.Errorf("Known(%d) = false", y)
		}
	}
	for _, y := range []int{2001, c.LastYear() + 1, 2100} {
		if c.Known(y) {
			t.Errorf("Known(%d) = true", y)
		}
	}
}

func TestAdd(t *testing.T) {
	c := China()
	tests := []struct {
		name  string
		from  time.Time
		n     int
		want  time.Time
		known bool
	}{
		// Standard contract deadlines: 10 working days after it takes effect.
		{"10 after National Day 2026 starts", date(2026, 10, 1), 10, date(2026, 10, 20), true},
		{"10 after the eve of National Day 2026", date(2026, 9, 30), 10, date(2026, 10, 20), true},
		{"10 after the eve of Spring Festival 2026", date(2026, 2, 12), 10, date(2026, 3, 4), true},
		{"1 after the last day of Spring Festival 2026", date(2026, 2, 23), 1, date(2026, 2, 24), true},
		{"1 after the Friday before an exchanged Saturday", date(2026, 2, 13), 1, date(2026, 2, 14), true},
		{"10 after an ordinary Monday", date(2026, 11, 2), 10, date(2026, 11, 16), true},
		// Re-application: 60 working days before the last day of validity,
		// across New Year and Spring Festival 2027.
		{"60 before 2027-03-14", date(2027, 3, 14), -60, date(2026, 12, 14), true},
		{"1 before the first working day after Spring Festival 2027", date(2027, 2, 15), -1, date(2027, 2, 14), true},
		{"5 before the day after National Day 2026, across Mid-Autumn", date(2026, 10, 8), -5, date(2026, 9, 23), true},
		{"0 is the day itself", date(2026, 10, 1), 0, date(2026, 10, 1), true},
		// Beyond the schedule: weekends only, and said so.
		{"10 in 2030", date(2030, 9, 30), 10, date(2030, 10, 14), false},
		{"60 back from 2029", date(2029, 3, 1), -60, date(2028, 12, 7), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, known := c.Add(tt.from, tt.n)
			if !got.Equal(tt.want) || known != tt.known {
				t.Errorf("Add(%s, %d) = %s known=%v, want %s known=%v", tt.from.Format(time.DateOnly), tt.n,
					got.Format(time.DateOnly), known, tt.want.Format(time.DateOnly), tt.known)
			}
		})
	}
}

// TestAddAcrossTheScheduleEnd: a count that starts in the last known year
// and runs into the next is not known.
func TestAddAcrossTheScheduleEnd(t *testing.T) {
	c := China()
	last := c.LastYear()
	_, known := c.Add(date(last, 12, 20), 10)
	if known {
		t.Errorf("Add from %d-12-20 into %d: known, want unknown", last, last+1)
	}
	_, known = c.Add(date(last, 6, 1), 10)
	if !known {
		t.Errorf("Add within %d: unknown, want known", last)
	}
}

func TestConcurrentUse(t *testing.T) {
	done := make(chan time.Time)
	for range 8 {
		go func() {
			d, _ := China().Add(date(2026, 10, 1), 10)
			done <- d
		}()
	}
	for range 8 {
		if d := <-done; !d.Equal(date(2026, 10, 20)) {
			t.Errorf("concurrent Add = %s, want 2026-10-20", d.Format(time.DateOnly))
		}
	}
}
