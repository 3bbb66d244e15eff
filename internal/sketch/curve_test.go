package sketch

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// curveEvent is one subject seen on one day.
type curveEvent struct {
	h   uint64
	day int
}

// curveEvents returns n events of distinct random subjects on random days
// of a 365-day year, plus repeats of some subjects on other days.
func curveEvents(seed uint64, n int) []curveEvent {
	rng := rand.New(rand.NewPCG(seed, 1))
	evs := make([]curveEvent, 0, n+n/4)
	for range n {
		evs = append(evs, curveEvent{h: rng.Uint64(), day: rng.IntN(365)})
	}
	for i := range n / 4 { // the same people again, on other days
		evs = append(evs, curveEvent{h: evs[i*3%n].h, day: rng.IntN(365)})
	}
	return evs
}

func curveOf(evs []curveEvent) *Curve {
	c := NewCurve()
	for _, e := range evs {
		c.InsertHash(e.h, e.day)
	}
	return c
}

func curveBytes(t testing.TB, c *Curve) []byte {
	t.Helper()
	b, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func assertSameCurve(t testing.TB, got, want *Curve, what string) {
	t.Helper()
	if !bytes.Equal(curveBytes(t, got), curveBytes(t, want)) {
		t.Fatalf("%s: curves differ", what)
	}
	if g, w := got.Series(nil, MaxDay), want.Series(nil, MaxDay); !slices.Equal(g, w) {
		t.Fatalf("%s: series differ", what)
	}
}

// registers returns the staircase of every non-empty register of c.
func registers(c *Curve) map[uint16][]step {
	regs := make(map[uint16][]step)
	for _, s := range c.steps {
		regs[stepIdx(s)] = append(regs[stepIdx(s)], step{day: stepDay(s), rho: stepRho(s)})
	}
	return regs
}

// checkStaircase fails unless every register's steps strictly increase in
// day and in value, within range, and the packed steps are sorted.
func checkStaircase(t testing.TB, c *Curve) {
	t.Helper()
	if !slices.IsSorted(c.steps) {
		t.Fatal("packed steps not sorted")
	}
	for idx, st := range registers(c) {
		if int(idx) >= curveRegisters || len(st) == 0 {
			t.Fatalf("register %d: %d steps", idx, len(st))
		}
		for i, s := range st {
			if s.day > MaxDay || s.rho == 0 || s.rho > curveMaxRho {
				t.Fatalf("register %d step %d out of range: %+v", idx, i, s)
			}
			if i > 0 && (s.day <= st[i-1].day || s.rho <= st[i-1].rho) {
				t.Fatalf("register %d: steps %+v then %+v do not both increase", idx, st[i-1], s)
			}
		}
	}
}

func TestCurveInsertIsIdempotent(t *testing.T) {
	evs := curveEvents(1, 5000)
	c := curveOf(evs)
	checkStaircase(t, c)
	before := curveBytes(t, c)
	for _, e := range evs {
		c.InsertHash(e.h, e.day)
	}
	if !bytes.Equal(curveBytes(t, c), before) {
		t.Fatal("inserting the same events again changed the curve")
	}
	// A later sighting of a subject changes nothing either.
	for _, e := range evs {
		c.InsertHash(e.h, min(e.day+10, MaxDay))
	}
	if !bytes.Equal(curveBytes(t, c), before) {
		t.Fatal("seeing the same subjects again later changed the curve")
	}
}

func TestCurveMergeLaws(t *testing.T) {
	evs := curveEvents(2, 9000)
	a, b, c := curveOf(evs[:4000]), curveOf(evs[3000:7000]), curveOf(evs[6000:])
	merged := func(cs ...*Curve) *Curve {
		m := NewCurve()
		for _, x := range cs {
			m.Merge(x)
		}
		checkStaircase(t, m)
		return m
	}
	assertSameCurve(t, merged(a, b), merged(b, a), "commutative")
	ab := merged(a, b)
	ab.Merge(c)
	bc := merged(b, c)
	assertSameCurve(t, ab, merged(a, bc), "associative")
	aa := a.Clone()
	aa.Merge(a)
	assertSameCurve(t, aa, a, "idempotent")
	aa.Merge(aa)
	assertSameCurve(t, aa, a, "merged into itself")
	assertSameCurve(t, merged(a, b, c), curveOf(evs), "merge equals inserting everything")
	aa.Merge(nil)
	assertSameCurve(t, aa, a, "merging nil")

	// Merge leaves its argument alone and Clone is deep.
	bBefore := curveBytes(t, b)
	clone := b.Clone()
	clone.Merge(a)
	m := NewCurve()
	m.Merge(b)
	m.Merge(a)
	if !bytes.Equal(curveBytes(t, b), bBefore) {
		t.Fatal("Merge or Clone modified the original")
	}
}

func TestCurveSeriesIsMonotone(t *testing.T) {
	c := curveOf(curveEvents(3, 20000))
	s := c.Series(nil, MaxDay)
	if len(s) != MaxDay+1 {
		t.Fatalf("series has %d days, want %d", len(s), MaxDay+1)
	}
	for d := 1; d < len(s); d++ {
		if s[d] < s[d-1] {
			t.Fatalf("series falls from %f on day %d to %f on day %d", s[d-1], d-1, s[d], d)
		}
	}
	if est := c.Estimate(); est != s[MaxDay] {
		t.Fatalf("Estimate %f differs from the series' last day %f", est, s[MaxDay])
	}
	if s[0] <= 0 || s[MaxDay] < 19000 || s[MaxDay] > 21000 {
		t.Fatalf("series runs from %f to %f for 20000 subjects", s[0], s[MaxDay])
	}
	if got := c.Series(nil, 9); !slices.Equal(got, s[:10]) {
		t.Fatal("a shorter series is not a prefix of the full one")
	}

	// Carried over a base (last year), every day is at least as high, the
	// series still rises, and starts no lower than the base's total.
	base := curveOf(curveEvents(4, 5000))
	withBase := c.Series(base, MaxDay)
	for d := range withBase {
		if withBase[d] < s[d] || (d > 0 && withBase[d] < withBase[d-1]) {
			t.Fatalf("day %d: %f with base, %f without, %f the day before", d, withBase[d], s[d], withBase[max(d-1, 0)])
		}
	}
	if withBase[0] < base.Estimate() {
		t.Fatalf("series over a base starts at %f, below the base's %f", withBase[0], base.Estimate())
	}

	var empty *Curve
	if !empty.Empty() || !NewCurve().Empty() || c.Empty() {
		t.Fatal("Empty is wrong")
	}
	if got := empty.Series(nil, 3); !slices.Equal(got, []float64{0, 0, 0, 0}) {
		t.Fatalf("series of a nil curve = %v, want zeros", got)
	}
}

// TestCurveReplayOrder: a year of events replayed at once in any order
// draws exactly the curve of the same events arriving day by day, and on
// each day the curve equals the union of the days so far.
func TestCurveReplayOrder(t *testing.T) {
	evs := curveEvents(5, 30000)
	byDay := slices.Clone(evs)
	slices.SortStableFunc(byDay, func(a, b curveEvent) int { return a.day - b.day })
	inOrder := curveOf(byDay)

	for seed := range uint64(3) {
		shuffled := slices.Clone(evs)
		rand.New(rand.NewPCG(seed, 9)).Shuffle(len(shuffled), func(i, j int) {
			shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
		})
		assertSameCurve(t, curveOf(shuffled), inOrder, "shuffled replay")

		// Daily curves merged in random order.
		days := make([]*Curve, MaxDay+1)
		for i := range days {
			days[i] = NewCurve()
		}
		for _, e := range shuffled {
			days[e.day].InsertHash(e.h, e.day)
		}
		m := NewCurve()
		for _, d := range rand.New(rand.NewPCG(seed, 10)).Perm(len(days)) {
			m.Merge(days[d])
		}
		assertSameCurve(t, m, inOrder, "daily curves merged in random order")
	}

	series := inOrder.Series(nil, MaxDay)
	upTo := NewCurve()
	k := 0
	for d := 0; d <= MaxDay; d++ {
		for k < len(byDay) && byDay[k].day <= d {
			upTo.InsertHash(byDay[k].h, byDay[k].day)
			k++
		}
		if est := upTo.Estimate(); est != series[d] {
			t.Fatalf("day %d: series %f, estimate of the events so far %f", d, series[d], est)
		}
	}
}

func TestCurveMarshalRoundTrip(t *testing.T) {
	for _, c := range []*Curve{
		NewCurve(),
		curveOf(curveEvents(6, 1)),
		curveOf(curveEvents(7, 100)),
		curveOf(curveEvents(8, 50000)),
	} {
		b := curveBytes(t, c)
		var d Curve
		if err := d.UnmarshalBinary(b); err != nil {
			t.Fatalf("UnmarshalBinary of %d bytes: %v", len(b), err)
		}
		checkStaircase(t, &d)
		assertSameCurve(t, &d, c, "round trip")
		if !bytes.Equal(curveBytes(t, &d), b) {
			t.Fatal("re-encoding differs")
		}
	}
}

func TestCurveUnmarshalRejectsCorrupt(t *testing.T) {
	var last Curve // the last register is a valid index
	if err := last.UnmarshalBinary([]byte{1, 0x80, 0x08, 1, 0, 1}); err != nil || len(registers(&last)[curveRegisters-1]) != 1 {
		t.Fatalf("register %d: %v", curveRegisters-1, err)
	}
	valid := curveBytes(t, curveOf(curveEvents(9, 300)))
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"unknown version", []byte{2}},
		{"version 0", []byte{0, 1, 1, 0, 1}},
		{"truncated index", []byte{1, 0x80}},
		{"index delta 0", []byte{1, 0, 1, 0, 1}},
		{"index past the registers", []byte{1, 0x81, 0x08, 1, 0, 1}},                   // delta 1025
		{"index past the registers later", []byte{1, 1, 1, 0, 1, 0x80, 0x08, 1, 0, 1}}, // 0, then 0+1024
		{"no step count", []byte{1, 1}},
		{"zero steps", []byte{1, 1, 0}},
		{"too many steps", []byte{1, 1, curveMaxRho + 1}},
		{"missing step", []byte{1, 1, 2, 0, 1}},
		{"missing rho", []byte{1, 1, 1, 0}},
		{"day past the year", []byte{1, 1, 1, 0xee, 0x02, 1}}, // day 366
		{"days sum past the year", []byte{1, 1, 2, 0xed, 0x02, 1, 1, 2}},
		{"rho 0", []byte{1, 1, 1, 0, 0}},
		{"rho too high", []byte{1, 1, 1, 0, curveMaxRho + 1}},
		{"same day twice", []byte{1, 1, 2, 5, 1, 0, 2}},
		{"rho not rising", []byte{1, 1, 2, 5, 3, 1, 3}},
		{"rho falling", []byte{1, 1, 2, 5, 3, 1, 2}},
		{"overlong varint", []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"valid then garbage", append(slices.Clone(valid), 0xff)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Curve
			err := c.UnmarshalBinary(tc.data)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("UnmarshalBinary(%x) = %v, want ErrCorrupt", tc.data, err)
			}
		})
	}

	// Every prefix of a valid encoding is either rejected or, cut at a
	// register boundary, a valid encoding of fewer registers.
	for n := range len(valid) {
		var c Curve
		if err := c.UnmarshalBinary(valid[:n]); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("prefix %d: %v does not wrap ErrCorrupt", n, err)
			}
			continue
		}
		checkStaircase(t, &c)
		if !bytes.Equal(curveBytes(t, &c), valid[:n]) {
			t.Fatalf("prefix %d decodes but does not re-encode to itself", n)
		}
	}
}

// FuzzCurveUnmarshal feeds the decoder of stored curves arbitrary bytes:
// it must never panic, and whatever it accepts must be a well-formed curve
// that survives a round trip unchanged.
func FuzzCurveUnmarshal(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{1, 1, 2, 5, 3, 1, 4})
	for seed, n := range []int{1, 50, 2000} {
		b, err := curveOf(curveEvents(uint64(seed), n)).MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Curve
		if err := c.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		checkStaircase(t, &c)
		enc := curveBytes(t, &c)
		var d Curve
		if err := d.UnmarshalBinary(enc); err != nil {
			t.Fatalf("re-encoding rejected: %v", err)
		}
		if !bytes.Equal(curveBytes(t, &d), enc) {
			t.Fatal("second round trip changed the encoding")
		}
		s := c.Series(nil, MaxDay)
		for i := 1; i < len(s); i++ {
			if s[i] < s[i-1] {
				t.Fatalf("series falls on day %d", i)
			}
		}
		// Merging a decoded curve keeps the staircase well-formed.
		m := curveOf(curveEvents(1, 50))
		m.Merge(&c)
		checkStaircase(t, m)
	})
}
