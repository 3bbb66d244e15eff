package sketch

import (
	"errors"
	"math/bits"
	"slices"
)

// The subjects a batch gathers for a sparse sketch are kept as a plain
// slice of axiomhq's sparse keys (4 bytes a subject, duplicates allowed
// until compacted) rather than as a sparse axiomhq sketch, whose tmp set
// (a hash set) and compressed list cost several times that, in objects
// the garbage collector scans, for each of the 8 cells and every flow of
// every entity-year of a batch: at 10,000 entities most of the live heap.
// The keys turn into a sketch only when merged (mergeKeys), which gives
// what merging the sparse sketch of the same subjects gives: the union of
// the keys, sparse while it fits and otherwise dense, whose registers are
// the maximum over every key.

// sparseKey is axiomhq's sparse key (its encodeHash) of hash x in a sketch
// of precision p: the top sparsePrecision bits of x, and when the bits
// between p and sparsePrecision are all zero, the number of leading zeros
// past them. axiomhq_test.go pins it against axiomhq's own encoding.
func sparseKey(x uint64, p uint8) uint32 {
	const pp = sparsePrecision
	idx := uint32(x >> (64 - pp))
	if (x>>(64-pp))&(1<<(pp-p)-1) == 0 {
		zeros := bits.LeadingZeros64(((x&(1<<(64-pp)-1))<<pp)|(1<<pp-1)) + 1
		return idx<<7 | uint32(zeros<<1) | 1
	}
	return idx << 1
}

// maxPendingKeys is how many distinct keys a batch's sketch of precision p
// gathers before they are merged into a sketch (Year.Insert, Flow.Add): as
// many as the bytes of the dense sketch, which is what the keys turn into
// at the latest.
func maxPendingKeys(p uint8) int { return 1 << p / 4 }

// addKey appends key k to keys, compacting them (sorted, distinct) when
// the slice is full. It reports whether keys hold more than max distinct
// keys and should be merged into a sketch.
func addKey(keys []uint32, k uint32, maxKeys int) ([]uint32, bool) {
	if len(keys) == cap(keys) && len(keys) >= 32 {
		slices.Sort(keys)
		keys = slices.Compact(keys)
		if len(keys) > maxKeys {
			return append(keys, k), true
		}
	}
	return append(keys, k), false
}

// mergeKeys returns the union of a (nil for empty) and the sparse keys of
// precision p in keys (in any order, duplicates allowed), leaving keys
// alone; a may be modified and returned. The result is what merging into
// a the sparse sketch holding those keys gives (see mergeSketch).
func mergeKeys(a *hll, keys []uint32, p uint8) (*hll, error) {
	if len(keys) == 0 {
		return a, nil
	}
	var all []uint32
	sparse := true
	if a != nil {
		enc, err := a.MarshalBinary()
		if err != nil {
			return nil, err
		}
		if sparse = len(enc) > encFlagByte && enc[encFlagByte] == encSparse; sparse {
			// At most a key a byte of the encoding.
			all, sparse = appendSparseKeys(make([]uint32, 0, len(keys)+len(enc)), enc, p)
		}
	}
	if !sparse {
		// a is dense: the keys raise its registers.
		return a, insertKeys(a, keys, p)
	}
	n := len(all)
	all = append(all, keys...)
	slices.Sort(all[n:])
	all = mergeRuns(all, []int{0, n, len(all)})
	if enc, ok := sparseEncoding(all, p); ok {
		sk := newSketch(p, false)
		if err := sk.UnmarshalBinary(enc); err != nil {
			return nil, err
		}
		return sk, nil
	}
	// Past the switch to dense: the registers are the maximum over every
	// key, in any order.
	d := newSketch(p, true)
	if a != nil {
		if err := d.Merge(a); err != nil {
			return nil, err
		}
	}
	return d, insertKeys(d, keys, p)
}

// errSparseChunk would be a chunk of keys too large for a sparse sketch,
// which insertKeys sizes them never to be.
var errSparseChunk = errors.New("sketch: chunk of keys too large for a sparse sketch")

// insertKeys raises the registers of the dense sketch d with the sparse
// keys of precision p in keys, through axiomhq's merge of sparse sketches
// of them, a few hundred keys at a time (whose encoding always fits a
// sparse sketch: 5 bytes a key at most).
func insertKeys(d *hll, keys []uint32, p uint8) error {
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	chunk := 1 << p / 8 // × 5 bytes < 2^p
	for part := range slices.Chunk(sorted, chunk) {
		enc, ok := sparseEncoding(part, p)
		if !ok {
			return errSparseChunk
		}
		sk := newSketch(p, false)
		if err := sk.UnmarshalBinary(enc); err != nil {
			return err
		}
		if err := d.Merge(sk); err != nil {
			return err
		}
	}
	return nil
}
