// Package workday is the working-day calendar of mainland China: Monday to
// Friday, less the public holidays the State Council announces each year
// (国务院办公厅关于部分节假日安排的通知), plus the weekend days it makes
// working days in exchange (调休).
//
// Deadlines of the data-export rules are counted in these working days:
// a standard contract is filed within 10 working days of taking effect
// (Measures on the Standard Contract for Outbound Transfer of Personal
// Information, 2023, Art. 7), and a security assessment is applied for
// again 60 working days before it expires (Measures for Security
// Assessment of Outbound Data Transfers, 2022, Art. 14; Provisions on
// Promoting and Regulating Cross-Border Data Flows, 2024, Art. 9).
//
// The schedule is not typed in here: it comes from the holiday data of
// github.com/6tail/lunar-go (HolidayUtil), which follows the State
// Council's notices year by year. The State Council publishes a year's
// schedule late in the year before, so the library knows a few years at
// most ahead of today: for a year it does not know, the calendar counts
// weekends only, and every answer that crossed such a year says so.
package workday

import (
	"sync"
	"time"

	"github.com/6tail/lunar-go/HolidayUtil"
)

// firstYear is the first year of the library's data (it starts with the
// exchanged working days of 29 and 30 December 2001).
const firstYear = 2001

// Calendar is a working-day calendar. It is immutable and safe for
// concurrent use.
type Calendar struct {
	// special holds the days the schedule moves: false for a public
	// holiday, true for a weekend day worked in exchange.
	special map[day]bool
	// first and last are the first and last years with a published
	// schedule.
	first, last int
}

// day is a calendar day.
type day struct {
	y int
	m time.Month
	d int
}

func dayOf(t time.Time) day {
	y, m, d := t.Date()
	return day{y, m, d}
}

func (d day) time() time.Time { return time.Date(d.y, d.m, d.d, 0, 0, 0, 0, time.UTC) }

// china is built once, on first use: the library's data is a constant.
var china = sync.OnceValue(func() *Calendar {
	c := &Calendar{special: make(map[day]bool), first: firstYear + 1}
	for y := firstYear; ; y++ {
		l := HolidayUtil.GetHolidaysByYear(y)
		if l.Len() == 0 {
			c.last = y - 1
			break
		}
		for e := l.Front(); e != nil; e = e.Next() {
			h, ok := e.Value.(*HolidayUtil.Holiday)
			if !ok {
				continue
			}
			t, err := time.Parse(time.DateOnly, h.GetDay())
			if err != nil {
				continue
			}
			c.special[dayOf(t)] = h.IsWork()
		}
	}
	return c
})

// China returns the mainland China calendar of the State Council's
// schedule as github.com/6tail/lunar-go ships it.
func China() *Calendar { return china() }

// FirstYear and LastYear are the first and last years whose schedule the
// calendar knows; LastYear < FirstYear when it knows none.
func (c *Calendar) FirstYear() int { return c.first }

// LastYear is the last year whose schedule the calendar knows.
func (c *Calendar) LastYear() int { return c.last }

// Known reports whether the calendar knows the schedule of year y; in other
// years only weekends are days off.
func (c *Calendar) Known(y int) bool { return y >= c.first && y <= c.last }

// IsWorkday reports whether the calendar day of t (in t's own location) is
// a working day.
func (c *Calendar) IsWorkday(t time.Time) bool { return c.isWorkday(dayOf(t)) }

func (c *Calendar) isWorkday(d day) bool {
	if work, ok := c.special[d]; ok {
		return work
	}
	wd := d.time().Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// Add returns the n-th working day after the calendar day of t (n > 0), or
// before it (n < 0), not counting that day itself; n = 0 returns the day.
// The result is midnight UTC of the day found. known is false when a day
// counted or skipped lies in a year whose schedule the calendar does not
// know (weekends only were counted there).
func (c *Calendar) Add(t time.Time, n int) (result time.Time, known bool) {
	d := dayOf(t)
	cur := d.time()
	step := 1
	if n < 0 {
		step, n = -1, -n
	}
	known = true
	for n > 0 {
		cur = cur.AddDate(0, 0, step)
		cd := dayOf(cur)
		if !c.Known(cd.y) {
			known = false
		}
		if c.isWorkday(cd) {
			n--
		}
	}
	return cur, known
}
