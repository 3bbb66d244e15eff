package sketch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// CurvePrecision is the precision of the day curves: 2^10 registers, a
// standard error of 3.25%. The curves feed only the forecast, which needs the
// slope of growth, not the legal figure; the legal figures come from the
// precision-14 sketches.
const CurvePrecision = 10

const (
	curveRegisters = 1 << CurvePrecision
	curveMaxRho    = 64 - CurvePrecision + 1
	curveVersion   = 1
)

// MaxDay is the largest day index of a calendar year (31 December of a leap
// year).
const MaxDay = 365

// A Curve answers "how many distinct subjects had been seen by day d of the
// year?" for every d at once, by event time. It is a HyperLogLog whose
// registers remember when they grew: each register keeps the staircase of
// (day, rho) pairs where its value first reached rho. The register value on
// day d is the last step at or before d, so the curve on any day equals the
// union of the daily sketches up to that day — whatever order the events
// arrived in. A backlog of a whole year replayed in one hour therefore draws
// the same curve as events that arrived day by day.
//
// Inserting a subject twice leaves a Curve unchanged, and Merge is
// commutative, associative and idempotent, like the sketches themselves.
type Curve struct {
	regs map[uint16][]step
}

// step is one stair of a register: the register reached rho on day.
// Within a register, steps are sorted by day and rho strictly increases.
type step struct {
	day uint16
	rho uint8
}

// NewCurve returns an empty curve.
func NewCurve() *Curve { return &Curve{regs: make(map[uint16][]step)} }

// Empty reports whether nothing was inserted.
func (c *Curve) Empty() bool { return c == nil || len(c.regs) == 0 }

// InsertHash records a subject hash seen on day (0 = 1 January).
func (c *Curve) InsertHash(h uint64, day int) {
	idx := uint16(h >> (64 - CurvePrecision))
	w := h<<CurvePrecision | 1<<(CurvePrecision-1)
	rho := uint8(bits.LeadingZeros64(w) + 1)
	c.add(idx, step{day: uint16(day), rho: rho})
}

// add inserts s into register idx, keeping the staircase minimal: days
// strictly increase and so do values.
func (c *Curve) add(idx uint16, s step) {
	st := c.regs[idx]
	lo := 0 // first step on or after s.day
	for lo < len(st) && st[lo].day < s.day {
		lo++
	}
	hi := lo // first step after s.day
	for hi < len(st) && st[hi].day == s.day {
		hi++
	}
	// The register already reached at least s.rho by s.day: nothing to do.
	if hi > 0 && st[hi-1].rho >= s.rho {
		return
	}
	// Steps from s.day on whose value s reaches disappear.
	j := lo
	for j < len(st) && st[j].rho <= s.rho {
		j++
	}
	if lo == len(st) {
		c.regs[idx] = append(st, s)
		return
	}
	c.regs[idx] = slices.Replace(st, lo, j, s)
}

// Merge adds every step of o into c.
func (c *Curve) Merge(o *Curve) {
	if o == nil {
		return
	}
	for idx, st := range o.regs {
		for _, s := range st {
			c.add(idx, s)
		}
	}
}

// Clone returns a deep copy.
func (c *Curve) Clone() *Curve {
	n := &Curve{regs: make(map[uint16][]step, len(c.regs))}
	for idx, st := range c.regs {
		n.regs[idx] = slices.Clone(st)
	}
	return n
}

// Series returns the estimated number of distinct subjects seen by each day
// 0..last, starting from the registers of base (which may be nil): base is
// how the series of a two-year window carries last year's total into this
// year.
func (c *Curve) Series(base *Curve, last int) []float64 {
	var regs [curveRegisters]uint8
	var hist [curveMaxRho + 1]int
	hist[0] = curveRegisters
	set := func(idx uint16, rho uint8) {
		if rho > regs[idx] {
			hist[regs[idx]]--
			hist[rho]++
			regs[idx] = rho
		}
	}
	if base != nil {
		for idx, st := range base.regs {
			set(idx, st[len(st)-1].rho)
		}
	}
	type change struct {
		day uint16
		idx uint16
		rho uint8
	}
	var changes []change
	if c != nil {
		for idx, st := range c.regs {
			for _, s := range st {
				changes = append(changes, change{s.day, idx, s.rho})
			}
		}
	}
	slices.SortFunc(changes, func(a, b change) int { return int(a.day) - int(b.day) })
	out := make([]float64, last+1)
	k := 0
	for d := 0; d <= last; d++ {
		for k < len(changes) && int(changes[k].day) <= d {
			set(changes[k].idx, changes[k].rho)
			k++
		}
		out[d] = ertl(&hist)
	}
	return out
}

// Estimate returns the estimated number of distinct subjects seen on any day.
func (c *Curve) Estimate() float64 {
	s := c.Series(nil, MaxDay)
	return s[len(s)-1]
}

// ertl is Otmar Ertl's improved raw estimator for HyperLogLog ("New
// cardinality estimation algorithms for HyperLogLog sketches", 2017): no
// empirical bias tables, accurate over the whole range.
func ertl(hist *[curveMaxRho + 1]int) float64 {
	const m = float64(curveRegisters)
	const q = curveMaxRho - 1
	z := m * tau(1-float64(hist[q+1])/m)
	for k := q; k >= 1; k-- {
		z = 0.5 * (z + float64(hist[k]))
	}
	z += m * sigma(float64(hist[0])/m)
	return m * m / (2 * math.Ln2 * z)
}

func sigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x *= x
		prev := z
		z += x * y
		y += y
		if z == prev {
			return z
		}
	}
}

func tau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		prev := z
		y *= 0.5
		z -= (1 - x) * (1 - x) * y
		if z == prev {
			return z / 3
		}
	}
}

// ErrCorrupt reports serialized data that cannot be decoded.
var ErrCorrupt = errors.New("sketch: corrupt data")

// MarshalBinary encodes the curve: a version byte, then per non-empty
// register in index order the index delta, the step count and the steps
// (day delta, rho), all as uvarints.
func (c *Curve) MarshalBinary() ([]byte, error) {
	idxs := make([]uint16, 0, len(c.regs))
	for idx := range c.regs {
		idxs = append(idxs, idx)
	}
	slices.Sort(idxs)
	buf := make([]byte, 0, 1+len(idxs)*6)
	buf = append(buf, curveVersion)
	prev := -1
	for _, idx := range idxs {
		st := c.regs[idx]
		buf = binary.AppendUvarint(buf, uint64(int(idx)-prev))
		prev = int(idx)
		buf = binary.AppendUvarint(buf, uint64(len(st)))
		day := 0
		for _, s := range st {
			buf = binary.AppendUvarint(buf, uint64(int(s.day)-day))
			day = int(s.day)
			buf = append(buf, s.rho)
		}
	}
	return buf, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote, checking every invariant.
func (c *Curve) UnmarshalBinary(data []byte) error {
	if len(data) == 0 || data[0] != curveVersion {
		return fmt.Errorf("%w: unknown curve version", ErrCorrupt)
	}
	c.regs = make(map[uint16][]step)
	p := data[1:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, false
		}
		p = p[n:]
		return v, true
	}
	idx := -1
	for len(p) > 0 {
		d, ok := next()
		if !ok || d == 0 || d > curveRegisters || idx+int(d) >= curveRegisters {
			return fmt.Errorf("%w: register index", ErrCorrupt)
		}
		idx += int(d)
		n, ok := next()
		if !ok || n == 0 || n > curveMaxRho {
			return fmt.Errorf("%w: step count", ErrCorrupt)
		}
		st := make([]step, 0, n)
		day := 0
		for range n {
			dd, ok := next()
			if !ok || len(p) == 0 || dd > MaxDay {
				return fmt.Errorf("%w: step", ErrCorrupt)
			}
			day += int(dd)
			rho := p[0]
			p = p[1:]
			if day > MaxDay || rho == 0 || rho > curveMaxRho ||
				(len(st) > 0 && (dd == 0 || rho <= st[len(st)-1].rho)) {
				return fmt.Errorf("%w: step order", ErrCorrupt)
			}
			st = append(st, step{day: uint16(day), rho: rho})
		}
		c.regs[uint16(idx)] = st
	}
	return nil
}
