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
	// steps holds every step of every register, packed (see pack) and
	// sorted: by register, then by day. One flat slice rather than a map of
	// small slices: an insert is a binary search, a merge and the
	// (de)serialization are linear passes, and an empty or sparse curve
	// costs a few bytes.
	steps []uint32
}

// step is one stair of a register: the register reached rho on day.
// Within a register, steps are sorted by day and rho strictly increases.
type step struct {
	day uint16
	rho uint8
}

// A packed step is idx<<dayBits+rhoBits | day<<rhoBits | rho, so that
// packed steps sort by register, then by day.
const (
	rhoBits  = 6 // curveMaxRho = 55 < 64
	dayBits  = 9 // MaxDay = 365 < 512
	rhoMask  = 1<<rhoBits - 1
	dayShift = rhoBits
	idxShift = rhoBits + dayBits
)

func pack(idx uint16, day uint16, rho uint8) uint32 {
	return uint32(idx)<<idxShift | uint32(day)<<dayShift | uint32(rho)
}

func stepIdx(p uint32) uint16 { return uint16(p >> idxShift) }
func stepDay(p uint32) uint16 { return uint16(p>>dayShift) & (1<<dayBits - 1) }
func stepRho(p uint32) uint8  { return uint8(p & rhoMask) }

// NewCurve returns an empty curve.
func NewCurve() *Curve { return &Curve{} }

// Empty reports whether nothing was inserted.
func (c *Curve) Empty() bool { return c == nil || len(c.steps) == 0 }

// InsertHash records a subject hash seen on day (0 = 1 January).
func (c *Curve) InsertHash(h uint64, day int) {
	idx := uint16(h >> (64 - CurvePrecision))
	w := h<<CurvePrecision | 1<<(CurvePrecision-1)
	rho := uint8(bits.LeadingZeros64(w) + 1)
	c.add(idx, uint16(day), rho)
}

// add inserts the step (day, rho) into register idx, keeping the staircase
// minimal: days strictly increase and so do values.
func (c *Curve) add(idx, day uint16, rho uint8) {
	st := c.steps
	key := pack(idx, day, 0)
	// lo: the first step of the register on or after day. Registers are
	// hit uniformly, so the step sits near len*idx/curveRegisters: bracket
	// it by galloping out from there, then bisect the bracket.
	lo, hi := 0, len(st)
	if n := len(st); n > 64 {
		g := n * int(idx) / curveRegisters
		if st[g] < key {
			lo = g + 1
			for step := 8; ; step *= 2 {
				if lo+step >= n {
					break
				}
				if st[lo+step] >= key {
					hi = lo + step
					break
				}
				lo += step + 1
			}
		} else {
			hi = g
			for step := 8; ; step *= 2 {
				if hi-step < 0 {
					break
				}
				if st[hi-step] < key {
					lo = hi - step + 1
					break
				}
				hi -= step
			}
		}
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if st[m] < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	// last: the last step of the register on or before day.
	last := lo - 1
	if lo < len(st) && st[lo]&^rhoMask == key {
		last = lo
	}
	// The register already reached at least rho by day: nothing to do.
	if last >= 0 && stepIdx(st[last]) == idx && stepRho(st[last]) >= rho {
		return
	}
	// Steps from day on whose value rho reaches disappear.
	end := pack(idx+1, 0, 0)
	j := lo
	for j < len(st) && st[j] < end && stepRho(st[j]) <= rho {
		j++
	}
	s := key | uint32(rho)
	if j > lo {
		st[lo] = s
		c.steps = slices.Delete(st, lo+1, j)
		return
	}
	c.steps = slices.Insert(st, lo, s)
}

// Merge adds every step of o into c.
func (c *Curve) Merge(o *Curve) {
	if o == nil || len(o.steps) == 0 {
		return
	}
	if len(c.steps) == 0 {
		c.steps = slices.Clone(o.steps)
		return
	}
	c.steps = mergeSteps(make([]uint32, 0, len(c.steps)+len(o.steps)), c.steps, o.steps)
}

// mergeSteps appends to dst the minimal staircases of the union of the
// steps a and b (each sorted and minimal).
func mergeSteps(dst, a, b []uint32) []uint32 {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		// The next register with steps in a or b.
		var idx uint16
		switch {
		case i == len(a):
			idx = stepIdx(b[j])
		case j == len(b):
			idx = stepIdx(a[i])
		default:
			idx = min(stepIdx(a[i]), stepIdx(b[j]))
		}
		// Walk the register's steps of both by day, keeping those that
		// raise the running maximum; on the same day the higher wins.
		var top uint8
		for {
			inA := i < len(a) && stepIdx(a[i]) == idx
			inB := j < len(b) && stepIdx(b[j]) == idx
			var s uint32
			switch {
			case inA && inB:
				x, y := a[i]&^rhoMask, b[j]&^rhoMask
				switch {
				case x < y:
					s = a[i]
					i++
				case y < x:
					s = b[j]
					j++
				default:
					s = max(a[i], b[j])
					i++
					j++
				}
			case inA:
				s = a[i]
				i++
			case inB:
				s = b[j]
				j++
			default:
				goto next
			}
			if stepRho(s) > top {
				top = stepRho(s)
				dst = append(dst, s)
			}
		}
	next:
	}
	return dst
}

// Clone returns a deep copy.
func (c *Curve) Clone() *Curve { return &Curve{steps: slices.Clone(c.steps)} }

// Series returns the estimated number of distinct subjects seen by each day
// 0..last, starting from the registers of base (which may be nil): base is
// how the series of a two-year window carries last year's total into this
// year.
func (c *Curve) Series(base *Curve, last int) []float64 {
	return c.appendSeries(make([]float64, 0, last+1), base, last)
}

// appendSeries appends Series(base, last) to dst.
func (c *Curve) appendSeries(dst []float64, base *Curve, last int) []float64 {
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
		for _, s := range base.steps {
			set(stepIdx(s), stepRho(s)) // the last step of a register is its highest
		}
	}
	// The steps by day (a counting sort), each as idx<<rhoBits | rho.
	var changes []uint32
	var first [MaxDay + 2]int32 // changes of day d: changes[first[d]:first[d+1]]
	if c != nil && len(c.steps) > 0 {
		for _, s := range c.steps {
			first[stepDay(s)+1]++
		}
		for d := 1; d < len(first); d++ {
			first[d] += first[d-1]
		}
		changes = make([]uint32, len(c.steps))
		next := first
		for _, s := range c.steps {
			d := stepDay(s)
			changes[next[d]] = uint32(stepIdx(s))<<rhoBits | uint32(stepRho(s))
			next[d]++
		}
	}
	est := ertl(&hist)
	for d := 0; d <= last; d++ {
		if d <= MaxDay && first[d+1] > first[d] {
			for _, ch := range changes[first[d]:first[d+1]] {
				set(uint16(ch>>rhoBits), uint8(ch&rhoMask))
			}
			est = ertl(&hist) // only on days with changes: the rest repeat
		}
		dst = append(dst, est)
	}
	return dst
}

// Estimate returns the estimated number of distinct subjects seen on any day.
func (c *Curve) Estimate() float64 {
	var regs [curveRegisters]uint8
	var hist [curveMaxRho + 1]int
	hist[0] = curveRegisters
	if c != nil {
		for _, s := range c.steps {
			idx, rho := stepIdx(s), stepRho(s)
			if rho > regs[idx] {
				hist[regs[idx]]--
				hist[rho]++
				regs[idx] = rho
			}
		}
	}
	return ertl(&hist)
}

// ertl is Otmar Ertl's improved raw estimator for HyperLogLog ("New
// cardinality estimation algorithms for HyperLogLog sketches", 2017): no
// empirical bias tables, accurate over the whole range.
func ertl(hist *[curveMaxRho + 1]int) float64 {
	const m = float64(curveRegisters)
	const q = curveMaxRho - 1
	z := m * tau(1-float64(hist[q+1])/m)
	k := q
	if z == 0 {
		// Halving zero leaves it zero: start at the highest register
		// value there is (the same result, in a fraction of the steps).
		for k >= 1 && hist[k] == 0 {
			k--
		}
	}
	for ; k >= 1; k-- {
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
	return c.AppendBinary(make([]byte, 0, 1+3*len(c.steps)+16))
}

// AppendBinary appends the encoding of MarshalBinary to buf.
func (c *Curve) AppendBinary(buf []byte) ([]byte, error) {
	buf = append(buf, curveVersion)
	st := c.steps
	prev := -1
	for i := 0; i < len(st); {
		idx := stepIdx(st[i])
		n := 1
		for i+n < len(st) && stepIdx(st[i+n]) == idx {
			n++
		}
		buf = binary.AppendUvarint(buf, uint64(int(idx)-prev))
		prev = int(idx)
		buf = append(buf, byte(n)) // n <= curveMaxRho < 128: one byte
		day := uint16(0)
		for _, s := range st[i : i+n] {
			buf = binary.AppendUvarint(buf, uint64(stepDay(s)-day))
			day = stepDay(s)
			buf = append(buf, stepRho(s))
		}
		i += n
	}
	return buf, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote, checking every invariant.
func (c *Curve) UnmarshalBinary(data []byte) error {
	if len(data) == 0 || data[0] != curveVersion {
		return fmt.Errorf("%w: unknown curve version", ErrCorrupt)
	}
	p := data[1:]
	// Every step takes at least two bytes.
	steps := make([]uint32, 0, len(p)/2)
	next := func() (uint64, bool) {
		if len(p) > 0 && p[0] < 0x80 { // the common one-byte case
			v := uint64(p[0])
			p = p[1:]
			return v, true
		}
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
		day := 0
		var prevRho uint8
		for k := range n {
			dd, ok := next()
			if !ok || len(p) == 0 || dd > MaxDay {
				return fmt.Errorf("%w: step", ErrCorrupt)
			}
			day += int(dd)
			rho := p[0]
			p = p[1:]
			if day > MaxDay || rho == 0 || rho > curveMaxRho ||
				(k > 0 && (dd == 0 || rho <= prevRho)) {
				return fmt.Errorf("%w: step order", ErrCorrupt)
			}
			prevRho = rho
			steps = append(steps, pack(uint16(idx), uint16(day), rho))
		}
	}
	c.steps = steps
	return nil
}
