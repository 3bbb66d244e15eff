package sketch

import (
	"fmt"
	"math"
	"strconv"
)

// Precision is the precision of the counting sketches: 2^14 registers,
// axiomhq's default, a standard error of 1.04/√16384 ≈ 0.81%.
const Precision = 14

// StdError is the relative standard error of a counting sketch.
var StdError = 1.04 / math.Sqrt(1<<Precision)

// UpperBound returns the estimate plus three standard errors, rounded up.
func UpperBound(estimate uint64) uint64 {
	return uint64(math.Ceil(float64(estimate) * (1 + 3*StdError)))
}

// Year is what transferwatch keeps of one entity for one calendar year: a
// counting sketch and a day curve per cell, and whether important data was
// sent (per exemption status, so that cac-2024 can leave exempt events out).
// A nil sketch or curve is empty. The zero Year is empty and ready to use.
type Year struct {
	Sketches  [NumCells]*hll
	Curves    [NumCells]*Curve
	Important [2]bool // indexed by exempt (0: no exemption, 1: exempt)
	// Flows are the entity's data flows of the year; nil when none.
	Flows map[FlowKey]*Flow

	// lastKey and lastFlow remember the flow last looked up (FlowOf): an
	// entity's events mostly follow one flow after another of the same.
	lastKey  FlowKey
	lastFlow *Flow

	batch  bool  // a batch's year: its new flows keep keys (newBatchFlow)
	dense  uint8 // cells whose sketch Insert creates dense (Batch.AddDense)
	direct uint8 // cells whose sketch is dense and takes inserts directly

	// keys holds, per cell, the sparse keys of the subjects Insert
	// recorded and has not merged into Sketches yet (see keys.go): a
	// batch's cells hold their subjects there until merged into the
	// store. Sketch returns the two together.
	keys [NumCells][]uint32
}

// Insert records a subject hash in cell c on day (0 = 1 January).
func (y *Year) Insert(c Cell, day int, h uint64) {
	if y.Curves[c] == nil {
		y.Curves[c] = NewCurve()
	}
	y.Curves[c].InsertHash(h, day)
	bit := uint8(1) << c
	if y.Sketches[c] == nil && y.dense&bit != 0 {
		y.Sketches[c] = newSketch(Precision, true)
		y.direct |= bit
	}
	if y.direct&bit != 0 {
		y.Sketches[c].InsertHash(h)
		return
	}
	var full bool
	if y.keys[c], full = addKey(y.keys[c], sparseKey(h, Precision), maxPendingKeys(Precision)); full {
		y.settle(c)
	}
}

// settle merges the keys of cell c into its sketch.
func (y *Year) settle(c Cell) {
	sk, err := mergeKeys(y.Sketches[c], y.keys[c], Precision)
	if err != nil {
		panic(fmt.Sprintf("sketch: merging the keys of cell %s: %v", c, err)) // our own sketch and keys
	}
	y.Sketches[c] = sk
	if dense, _ := isDense(sk, nil); dense {
		y.direct |= 1 << c
		y.keys[c] = nil
		return
	}
	y.keys[c] = y.keys[c][:0]
}

// Sketch returns the counting sketch of cell c, nil if the cell is empty,
// with the subjects a batch holds as keys merged in. It modifies nothing:
// the caller must not modify what it returns.
func (y *Year) Sketch(c Cell) *hll {
	if len(y.keys[c]) == 0 {
		return y.Sketches[c]
	}
	a := y.Sketches[c]
	if a != nil {
		a = a.Clone()
	}
	sk, err := mergeKeys(a, y.keys[c], Precision)
	if err != nil {
		panic(fmt.Sprintf("sketch: merging the keys of cell %s: %v", c, err)) // our own sketch and keys
	}
	return sk
}

// has reports whether cell c holds subjects.
func (y *Year) has(c Cell) bool { return y.Sketches[c] != nil || len(y.keys[c]) > 0 }

// MarkImportant records that important data was sent.
func (y *Year) MarkImportant(exempt bool) { y.Important[b2i(exempt)] = true }

// AddFlow records one transfer event of flow k: its identity (EventHash),
// time (Unix seconds), pipeline and subject hashes.
func (y *Year) AddFlow(k FlowKey, event uint64, at int64, pipeline string, hashes []uint64) {
	y.AddFlowDense(k, 0, event, at, pipeline, hashes)
}

// AddFlowDense is AddFlow for a flow that, when new to y, starts with the
// sketches named in dense (DensePeople, DenseEvents) dense: see HotFlows.
func (y *Year) AddFlowDense(k FlowKey, dense uint8, event uint64, at int64, pipeline string, hashes []uint64) {
	f := y.FlowOf(k)
	if f == nil {
		if y.Flows == nil {
			y.Flows = make(map[FlowKey]*Flow)
		}
		if y.batch {
			f = newBatchFlow(dense)
		} else {
			f = &Flow{People: newFlowSketchOf(dense&DensePeople != 0), Events: newFlowSketchOf(dense&DenseEvents != 0)}
		}
		y.Flows[k] = f
		y.lastKey, y.lastFlow = k, f
	}
	f.Add(event, at, pipeline, hashes)
}

// FlowOf returns flow k of y, or nil.
func (y *Year) FlowOf(k FlowKey) *Flow {
	if y.lastFlow != nil && y.lastKey == k {
		return y.lastFlow
	}
	f := y.Flows[k]
	if f != nil {
		y.lastKey, y.lastFlow = k, f
	}
	return f
}

// Merge adds o into y.
func (y *Year) Merge(o *Year) error {
	for k, f := range o.Flows {
		if cur := y.Flows[k]; cur != nil {
			if err := cur.Merge(f); err != nil {
				return err
			}
			continue
		}
		if y.Flows == nil {
			y.Flows = make(map[FlowKey]*Flow, len(o.Flows))
		}
		y.Flows[k] = f.Clone()
	}
	for c := range NumCells {
		if o.Sketches[c] != nil {
			sk, err := mergeSketch(y.Sketches[c], o.Sketches[c], Precision)
			if err != nil {
				return err
			}
			y.Sketches[c] = sk
		}
		if len(o.keys[c]) > 0 {
			sk, err := mergeKeys(y.Sketches[c], o.keys[c], Precision)
			if err != nil {
				return err
			}
			y.Sketches[c] = sk
		}
		if o.Curves[c] != nil {
			if y.Curves[c] == nil {
				y.Curves[c] = NewCurve()
			}
			y.Curves[c].Merge(o.Curves[c])
		}
	}
	y.Important[0] = y.Important[0] || o.Important[0]
	y.Important[1] = y.Important[1] || o.Important[1]
	return nil
}

// Field names of a Year's serialized parts. A store keeps each part under its
// own name so that a flush reads and writes only the parts it touches.
const (
	fieldSketch    = "s"   // + cell number
	fieldCurve     = "c"   // + cell number
	FieldImportant = "imp" // bit 0: without exemption, bit 1: exempt
)

// SketchField names the serialized counting sketch of cell c.
func SketchField(c Cell) string { return fieldSketch + strconv.Itoa(int(c)) }

// CurveField names the serialized day curve of cell c.
func CurveField(c Cell) string { return fieldCurve + strconv.Itoa(int(c)) }

// Fields returns the names of the parts y holds.
func (y *Year) Fields() []string {
	var names []string
	for c := range Cell(NumCells) {
		if y.has(c) {
			names = append(names, SketchField(c))
		}
		if y.Curves[c] != nil {
			names = append(names, CurveField(c))
		}
	}
	if y.Important != [2]bool{} {
		names = append(names, FieldImportant)
	}
	for k := range y.Flows {
		names = append(names, FlowField(k))
	}
	return names
}

// Encode serializes the parts y holds, by field name.
func (y *Year) Encode() (map[string][]byte, error) {
	out := make(map[string][]byte, 2*NumCells+1)
	for c := range Cell(NumCells) {
		if sk := y.Sketch(c); sk != nil {
			b, err := encodeSketch(sk)
			if err != nil {
				return nil, fmt.Errorf("encode %s: %w", SketchField(c), err)
			}
			out[SketchField(c)] = b
		}
		if cv := y.Curves[c]; cv != nil {
			b, err := cv.MarshalBinary()
			if err != nil {
				return nil, fmt.Errorf("encode %s: %w", CurveField(c), err)
			}
			out[CurveField(c)] = b
		}
	}
	if y.Important != [2]bool{} {
		out[FieldImportant] = []byte{byte(b2i(y.Important[0]) | b2i(y.Important[1])<<1)}
	}
	for k, f := range y.Flows {
		b, err := f.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("encode flow %q: %w", FlowField(k), err)
		}
		out[FlowField(k)] = b
	}
	return out, nil
}

// DecodeYear rebuilds a Year from the parts Encode wrote. Unknown field
// names are an error: they mean the data was written by something else.
func DecodeYear(fields map[string][]byte) (*Year, error) {
	y := &Year{}
	for name, b := range fields {
		if err := y.decodeField(name, b); err != nil {
			return nil, err
		}
	}
	return y, nil
}

func (y *Year) decodeField(name string, b []byte) error {
	if name == FieldImportant {
		if len(b) != 1 || b[0] > 3 {
			return fmt.Errorf("%w: field %q", ErrCorrupt, name)
		}
		y.Important = [2]bool{b[0]&1 != 0, b[0]&2 != 0}
		return nil
	}
	if len(name) > 2 && name[:1] == fieldFlow {
		k, ok := parseFlowField(name)
		if !ok {
			return fmt.Errorf("%w: unknown field %q", ErrCorrupt, name)
		}
		f := &Flow{}
		if err := f.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("field %q: %w", name, err)
		}
		if y.Flows == nil {
			y.Flows = make(map[FlowKey]*Flow)
		}
		y.Flows[k] = f
		return nil
	}
	if len(name) != 2 || name[1] < '0' || name[1] >= '0'+NumCells {
		return fmt.Errorf("%w: unknown field %q", ErrCorrupt, name)
	}
	c := Cell(name[1] - '0')
	switch name[:1] {
	case fieldSketch:
		sk, err := decodeSketch(b, Precision)
		if err != nil {
			return fmt.Errorf("field %q: %w", name, err)
		}
		y.Sketches[c] = sk
	case fieldCurve:
		cv := &Curve{}
		if err := cv.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("field %q: %w", name, err)
		}
		y.Curves[c] = cv
	default:
		return fmt.Errorf("%w: unknown field %q", ErrCorrupt, name)
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
