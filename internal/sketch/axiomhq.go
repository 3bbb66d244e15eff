package sketch

// Everything transferwatch knows of github.com/axiomhq/hyperloglog lives in
// this file: the sketch type, how sketches are made, encoded and decoded,
// and the parts of its private version-2 encoding and of its estimator
// that the fast paths (unions, merges and estimates without its quadratic
// sparse merge and its math.Pow per register) rely on. axiomhq_test.go
// pins the module version and the encoding, so that an upgrade that
// changes either fails loudly here rather than miscounting quietly.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/axiomhq/hyperloglog"
)

// hll is the counting sketch.
type hll = hyperloglog.Sketch

// The module whose encoding this file parses, and the version it was
// written against (go.mod); axiomhq_test.go checks the build's.
const (
	axiomhqModule  = "github.com/axiomhq/hyperloglog"
	axiomhqVersion = "v0.3.0"
)

// The version-2 encoding, as axiomhq v0.3.0 writes it:
//
//	byte 0   version (2)
//	byte 1   precision p
//	byte 2   b (0 for our sketches)
//	byte 3   1 if sparse, 0 if dense
//	dense:   4 bytes big-endian register count (2^p), then one byte per register
//	sparse:  4 bytes big-endian n, n big-endian uint32 keys (the tmp set, unordered),
//	         then the sorted list: 4 bytes count, 4 bytes last key, 4 bytes size,
//	         size bytes of uvarint deltas
const (
	encFlagByte = 3 // the byte that says sparse or dense
	encSparse   = 1
	encDense    = 0
)

// newSketch returns an empty sketch of precision p (4 to 18), dense from
// the start if dense.
func newSketch(p uint8, dense bool) *hll {
	sk, err := hyperloglog.NewSketch(p, !dense)
	if err != nil {
		panic(err) // our precisions are valid
	}
	return sk
}

// encodeSketch returns the encoding of sk. A sparse sketch is compacted
// first (Estimate does that), so that equal sets encode alike; a dense one
// is not asked, which would cost a pass over every register.
func encodeSketch(sk *hll) ([]byte, error) {
	b, err := sk.MarshalBinary()
	if err == nil && len(b) > encFlagByte && b[encFlagByte] == encSparse {
		sk.Estimate()
		b, err = sk.MarshalBinary()
	}
	return b, err
}

// errPrecision is a sketch of another precision than the one asked: it
// would decode fine but merge with none of ours, and drop out of every
// figure unnoticed.
var errPrecision = errors.New("sketch of another precision")

// decodeSketch decodes what encodeSketch wrote, of precision p.
func decodeSketch(b []byte, p uint8) (*hll, error) {
	if len(b) < 2 || b[1] != p {
		return nil, fmt.Errorf("%w: %w: want %d", ErrCorrupt, errPrecision, p)
	}
	sk := newSketch(p, false)
	if err := sk.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return sk, nil
}

// isDense reports whether sk is dense, using buf (returned, grown) for its
// encoding.
func isDense(sk *hll, buf []byte) (bool, []byte) {
	buf, err := sk.AppendBinary(buf[:0])
	return err == nil && len(buf) > encFlagByte && buf[encFlagByte] == encDense, buf
}

// unionEstimate returns the estimate of the union of sks: exactly what
// merging them into an empty New14 sketch and calling Estimate returns, but
// without the cost of axiomhq merging sparse sketches into a sparse one (it
// re-encodes its whole sorted list every 164 keys, so a union of a few
// thousand subjects costs milliseconds).
//
// The union stays sparse while its list of distinct sparse keys, delta
// encoded as uvarints, fits in 2^14 bytes; its estimate is then linear
// counting at precision 25 over the number of keys. Otherwise it is dense:
// the registers are the maximum over every key and register, whatever the
// order of the merges, which a dense sketch merging each one gives.
func unionEstimate(sks []*hll) uint64 {
	var keys []uint32
	var runs []int // keys[runs[i]:runs[i+1]] is sorted
	var buf []byte // one encoding at a time
	sparse := true
	for _, sk := range sks {
		var err error
		buf, err = sk.AppendBinary(buf[:0])
		if err == nil {
			runs = append(runs, len(keys))
			keys, sparse = appendSparseKeys(keys, buf, Precision)
		}
		if err != nil || !sparse {
			sparse = false
			break
		}
	}
	if sparse {
		keys = mergeRuns(keys, append(runs, len(keys)))
		if sparseSize(keys) <= 1<<Precision {
			const mp = uint32(1) << sparsePrecision
			n := min(uint32(len(keys)), mp-1)
			fm := float64(mp)
			return uint64(fm * math.Log(fm/float64(mp-n))) // axiomhq's linearCount
		}
	}
	u := hyperloglog.NewNoSparse()
	for _, sk := range sks {
		_ = u.Merge(sk) // same precision by construction
	}
	return estimate(u)
}

// mergeSketch returns the union of a (nil for empty) and b, leaving b
// alone; a may be modified and returned. Two sparse sketches are merged in
// one pass over their sorted keys: axiomhq's Merge adds the keys one by one
// and re-encodes its whole sorted list every 164 of them, which costs
// milliseconds for a few thousand subjects. The result holds what axiomhq's
// Merge gives once compacted (as Estimate and Encode do): the same
// encoding.
//
// p is the precision of both: Precision for the cells, FlowPrecision for
// the flows.
func mergeSketch(a, b *hll, p uint8) (*hll, error) {
	var keys []uint32
	runs := []int{0}
	sparse := true
	var enc []byte // one encoding at a time
	for _, sk := range []*hll{a, b} {
		if sk == nil {
			continue
		}
		var err error
		enc, err = sk.AppendBinary(enc[:0])
		if err == nil {
			keys, sparse = appendSparseKeys(keys, enc, p)
		}
		if err != nil || !sparse {
			sparse = false
			break
		}
		runs = append(runs, len(keys))
	}
	if sparse {
		keys = mergeRuns(keys, runs)
		if enc, ok := sparseEncoding(keys, p); ok {
			sk := newSketch(p, false)
			if err := sk.UnmarshalBinary(enc); err == nil {
				return sk, nil
			}
		} else {
			// Past the switch to dense: the registers are the maximum
			// over every key, in any order.
			d := newSketch(p, true)
			if a != nil {
				if err := d.Merge(a); err != nil {
					return nil, err
				}
			}
			return d, d.Merge(b)
		}
	}
	if a == nil {
		a = newSketch(p, false)
	}
	return a, a.Merge(b)
}

// MergeFlowSketch returns the union of the flow sketches a (nil for empty)
// and b (Flow.People, Flow.Events), leaving b alone; a may be modified and
// returned. It gives what axiomhq's Merge gives, in one pass over the keys
// of two sparse sketches.
func MergeFlowSketch(a, b *hll) (*hll, error) { return mergeSketch(a, b, FlowPrecision) }

// sparseEncoding returns the version-2 encoding of the compacted sparse
// precision-p sketch of keys (sorted, distinct), or false when their list
// would not fit in 2^p bytes, past which axiomhq turns a sketch dense.
func sparseEncoding(keys []uint32, p uint8) ([]byte, bool) {
	size := sparseSize(keys)
	if size > 1<<p {
		return nil, false
	}
	prev := uint32(0)
	if len(keys) > 0 {
		prev = keys[len(keys)-1]
	}
	b := make([]byte, 0, 20+size)
	b = append(b, 2, p, 0, 1)               // version, precision, b, sparse
	b = binary.BigEndian.AppendUint32(b, 0) // no tmp set
	b = binary.BigEndian.AppendUint32(b, uint32(len(keys)))
	b = binary.BigEndian.AppendUint32(b, prev) // the last key
	b = binary.BigEndian.AppendUint32(b, uint32(size))
	prev = 0
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(k-prev))
		prev = k
	}
	return b, true
}

// sparsePrecision is the precision of axiomhq's sparse keys (its pp),
// fixed by its version-2 encoding.
const sparsePrecision = 25

// appendSparseKeys appends the keys of the version-2 sparse encoding b (a
// tmp set of big-endian keys, then a list of uvarint deltas) to keys. It
// reports false if b is not such an encoding of that precision.
func appendSparseKeys(keys []uint32, b []byte, precision uint8) ([]uint32, bool) {
	if len(b) < 8 || b[0] != 2 || b[1] != precision || b[3] != 1 {
		return keys, false
	}
	n := int(binary.BigEndian.Uint32(b[4:8]))
	p := b[8:]
	if n > len(p)/4 {
		return keys, false
	}
	list := p[4*n:]
	if len(list) < 12 {
		return keys, false
	}
	count := binary.BigEndian.Uint32(list[:4])
	sz := binary.BigEndian.Uint32(list[8:12])
	list = list[12:]
	if uint64(sz) != uint64(len(list)) || uint64(count) > uint64(sz) { // a key takes a byte at least
		return keys, false
	}
	keys = slices.Grow(keys, n+int(count))
	// The tmp set, in no order: sorted here, and merged with the list
	// (sorted) below, so that the whole is one sorted run.
	tmp := make([]uint32, n)
	for i := range tmp {
		tmp[i] = binary.BigEndian.Uint32(p[4*i:])
	}
	slices.Sort(tmp)
	p = list
	var last uint32
	for range count {
		d, w := binary.Uvarint(p)
		if w <= 0 || d > math.MaxUint32 {
			return keys, false
		}
		p = p[w:]
		last += uint32(d)
		for len(tmp) > 0 && tmp[0] < last {
			keys = append(keys, tmp[0])
			tmp = tmp[1:]
		}
		keys = append(keys, last)
	}
	return append(keys, tmp...), len(p) == 0
}

// sparseSize is the length of the list of keys (sorted, distinct), delta
// encoded as uvarints: a sketch stays sparse while it is at most 2^14.
func sparseSize(keys []uint32) int {
	size, prev := 0, uint32(0)
	for _, k := range keys {
		size += uvarintLen(k - prev)
		prev = k
	}
	return size
}

// uvarintLen is the length of x as a uvarint.
func uvarintLen(x uint32) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// estimate returns sk.Estimate(). For a dense sketch it computes the same
// value from the registers without axiomhq's math.Pow per register, which
// makes it cost about 0.35 ms.
func estimate(sk *hll) uint64 {
	b, err := sk.MarshalBinary()
	// Version 2, precision 14, dense (byte 3 is 0), 4 bytes of register
	// count, then one byte per register.
	if err == nil && len(b) == 8+1<<Precision && b[0] == 2 && b[1] == Precision && b[3] == 0 {
		return denseEstimate(b[8:])
	}
	return sk.Estimate()
}

// denseEstimate is axiomhq's estimate (LogLog-Beta) of the dense
// precision-14 registers regs, computed with the same operations in the
// same order, so it returns exactly what Sketch.Estimate returns; only
// 1/2^v is built directly rather than through math.Pow.
func denseEstimate(regs []byte) uint64 {
	var sum, ez float64
	for _, v := range regs {
		if v == 0 {
			ez++
		}
		sum += math.Float64frombits(uint64(1023-int(v)) << 52) // exactly 1/2^v
	}
	m := float64(uint32(1) << Precision)
	alpha := 0.7213 / (1 + 1.079/m)
	est := alpha * m * (m - ez) / (sum + beta14(ez))
	return uint64(est + 0.5)
}

// beta14 is the bias correction of LogLog-Beta at precision 14, as axiomhq
// writes it.
func beta14(ez float64) float64 {
	zl := math.Log(ez + 1)
	return -0.371009760230692*ez +
		0.00978811941207509*zl +
		0.185796293324165*math.Pow(zl, 2) + //nolint:staticcheck // QF1005: written as axiomhq writes it, so estimates equal its own to the bit
		0.203015527328432*math.Pow(zl, 3) + //nolint:staticcheck // QF1005: as above
		-0.116710521803686*math.Pow(zl, 4) +
		0.0431106699492820*math.Pow(zl, 5) +
		-0.00599583540511831*math.Pow(zl, 6) +
		0.000449704299509437*math.Pow(zl, 7)
}
