package sketch

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
)

// FlowPrecision is the precision of a flow's sketches: 2^12 registers, a
// standard error of 1.04/√4096 ≈ 1.63% (twice that of the entity
// sketches, for a quarter of their size: at most 4 KiB per sketch
// once dense, a few bytes per person while sparse).
const FlowPrecision = 12

// FlowStdError is the relative standard error of a flow's sketches.
var FlowStdError = 1.04 / math.Sqrt(1<<FlowPrecision)

// FlowUpperBound returns a flow estimate plus three standard errors,
// rounded up.
func FlowUpperBound(estimate uint64) uint64 {
	return uint64(math.Ceil(float64(estimate) * (1 + 3*FlowStdError)))
}

// MaxFlowPipelines is how many pipeline names a flow keeps: the first ones
// in byte order, so that merges in any order keep the same names.
const MaxFlowPipelines = 8

// OtherRecipient is the recipient of the flow that counts the transfers of
// new flows past an entity's cap (limits.max_flows_per_entity).
const OtherRecipient = "other"

// Category is the category of data of a flow.
type Category uint8

// The categories of a flow. An event contributes to each that applies:
// every transfer to personal, a sensitive one to sensitive too, one with
// important data to important_data too.
const (
	CategoryPersonal Category = iota
	CategorySensitive
	CategoryImportantData
	numCategories
)

// Categories lists every category in a stable order.
var Categories = [...]Category{CategoryPersonal, CategorySensitive, CategoryImportantData}

var categoryNames = [numCategories]string{"personal", "sensitive", "important_data"}

func (c Category) String() string {
	if c < numCategories {
		return categoryNames[c]
	}
	return fmt.Sprintf("category(%d)", c)
}

// ParseCategory returns the category named s.
func ParseCategory(s string) (Category, bool) {
	for c, n := range categoryNames {
		if n == s {
			return Category(c), true
		}
	}
	return 0, false
}

// FlowKey names one flow of an entity: where the data went, which category
// it was, and whether the transfers carried an exemption (kept apart, as
// the cells are, so that cac-2024 can leave exempt transfers out without a
// replay).
type FlowKey struct {
	Recipient   string
	Destination string // ISO 3166-1 alpha-2, or "" when the events named none
	Category    Category
	Exempt      bool
}

// fieldFlow starts the field name of a flow: "f" + category digit +
// exempt digit + ":" + destination + ":" + recipient. The recipient comes
// last, so it may hold any byte; a destination never holds ':' (it is
// validated as two letters, and a field with another ':' is corrupt).
const fieldFlow = "f"

// FlowField names the serialized flow k.
func FlowField(k FlowKey) string {
	return fieldFlow + string('0'+byte(k.Category)) + string('0'+byte(b2i(k.Exempt))) + ":" + k.Destination + ":" + k.Recipient
}

// parseFlowField is the inverse of FlowField.
func parseFlowField(name string) (FlowKey, bool) {
	if len(name) < 5 || name[:1] != fieldFlow || name[1] < '0' || name[1] >= '0'+byte(numCategories) ||
		(name[2] != '0' && name[2] != '1') || name[3] != ':' {
		return FlowKey{}, false
	}
	dest, rcpt, ok := strings.Cut(name[4:], ":")
	if !ok {
		return FlowKey{}, false
	}
	return FlowKey{Recipient: rcpt, Destination: dest, Category: Category(name[1] - '0'), Exempt: name[2] == '1'}, true
}

// Flow is what transferwatch keeps of one flow for one calendar year. Every
// part merges idempotently (union, minimum, maximum), so a flow replayed or
// merged from several instances holds the same as one merged once.
type Flow struct {
	// People holds the subject hashes of the flow's events.
	People *hll
	// Events holds the identity of the flow's events (EventHash of their
	// topic, partition and offset): a replayed event is not counted twice.
	Events *hll
	// First and Last are the earliest and latest event times, Unix
	// seconds.
	First, Last int64
	// Pipelines are the pipelines seen, sorted, at most MaxFlowPipelines.
	Pipelines []string

	// A flow of a batch (keyed) keeps the keys of the people and events
	// Add records (keys[0], keys[1]) until merged into the store, instead
	// of sketches (see keys.go): People and Events are nil, or hold what
	// was merged past maxPendingKeys. Sketches returns the two together.
	keyed  bool
	direct uint8 // DensePeople, DenseEvents: dense, inserted into directly
	keys   [2][]uint32
}

func newFlowSketch() *hll { return newFlowSketchOf(false) }

func newFlowSketchOf(dense bool) *hll { return newSketch(FlowPrecision, dense) }

// NewFlow returns an empty flow.
func NewFlow() *Flow {
	return &Flow{People: newFlowSketch(), Events: newFlowSketch()}
}

// Flow sketches that start dense (HotFlows): bit 0 people, bit 1 events.
const (
	DensePeople uint8 = 1 << iota
	DenseEvents
)

// newBatchFlow returns an empty flow of a batch whose sketches named in
// dense start dense, and the others as keys.
func newBatchFlow(dense uint8) *Flow {
	f := &Flow{keyed: true, direct: dense & (DensePeople | DenseEvents)}
	if dense&DensePeople != 0 {
		f.People = newFlowSketchOf(true)
	}
	if dense&DenseEvents != 0 {
		f.Events = newFlowSketchOf(true)
	}
	return f
}

// part returns the sketch and the keys of part (DensePeople, DenseEvents).
func (f *Flow) part(part uint8) (**hll, *[]uint32) {
	if part == DensePeople {
		return &f.People, &f.keys[0]
	}
	return &f.Events, &f.keys[1]
}

// insert records hash h in part (DensePeople, DenseEvents).
func (f *Flow) insert(part uint8, h uint64) {
	sk, keys := f.part(part)
	if !f.keyed || f.direct&part != 0 {
		(*sk).InsertHash(h)
		return
	}
	var full bool
	if *keys, full = addKey(*keys, sparseKey(h, FlowPrecision), maxPendingKeys(FlowPrecision)); !full {
		return
	}
	merged, err := mergeKeys(*sk, *keys, FlowPrecision)
	if err != nil {
		panic(fmt.Sprintf("sketch: merging the keys of a flow: %v", err)) // our own sketch and keys
	}
	*sk = merged
	if dense, _ := isDense(merged, nil); dense {
		f.direct |= part
		*keys = nil
		return
	}
	*keys = (*keys)[:0]
}

// Sketches returns the people and events sketches of f, with the keys a
// batch's flow holds merged in (an empty sketch for none). It modifies
// nothing: the caller must not modify what it returns.
func (f *Flow) Sketches() (people, events *hll) {
	return f.sketchOf(DensePeople), f.sketchOf(DenseEvents)
}

func (f *Flow) sketchOf(part uint8) *hll {
	sk, keys := f.part(part)
	if len(*keys) == 0 {
		if *sk == nil {
			return newFlowSketch()
		}
		return *sk
	}
	a := *sk
	if a != nil {
		a = a.Clone()
	}
	merged, err := mergeKeys(a, *keys, FlowPrecision)
	if err != nil {
		panic(fmt.Sprintf("sketch: merging the keys of a flow: %v", err)) // our own sketch and keys
	}
	return merged
}

// HotFlows records, per entity-year, the flows whose sketches turned dense
// within one batch (they gathered thousands of people or events between
// two flushes): the next batch starts them dense. A dense sketch takes an
// insert in constant time, while a sparse one re-encodes its sorted list
// every 41 new entries until it turns dense; merged into the store, where
// such a flow is dense already, either gives the same registers. Only
// flows hot in the last batch are kept, so the dense sketches a batch
// allocates (8 KiB a flow) stay bounded by what that batch sent.
type HotFlows map[Key]map[FlowKey]uint8

// Learn replaces h with the hot flows of b, which has reached the store.
func (h HotFlows) Learn(b Batch) {
	clear(h)
	var buf []byte
	for k, y := range b {
		for fk, f := range y.Flows {
			var bits uint8
			for _, part := range [...]struct {
				bit uint8
				sk  *hll
			}{{DensePeople, f.People}, {DenseEvents, f.Events}} {
				bit, sk := part.bit, part.sk
				if sk == nil {
					continue // a batch's flow holding keys only
				}
				// One that started dense must have earned it again.
				var dense bool
				if dense, buf = isDense(sk, buf); dense && sk.Estimate() >= hotFlowMin {
					bits |= bit
				}
			}
			if bits != 0 {
				if h[k] == nil {
					h[k] = make(map[FlowKey]uint8)
				}
				h[k][fk] = bits
			}
		}
	}
}

// hotFlowMin is the estimate past which a flow's dense sketch stays dense
// in the next batch: about where a sparse one turns dense.
const hotFlowMin = 2000

// Add records one event of the flow: its identity, time (Unix seconds),
// pipeline ("" for none) and subject hashes.
func (f *Flow) Add(event uint64, at int64, pipeline string, hashes []uint64) {
	for _, h := range hashes {
		f.insert(DensePeople, h)
	}
	f.insert(DenseEvents, event)
	if f.First == 0 || at < f.First {
		f.First = at
	}
	f.Last = max(f.Last, at)
	if pipeline != "" && (len(f.Pipelines) == 0 || f.Pipelines[0] != pipeline) {
		f.addPipeline(pipeline)
	}
}

func (f *Flow) addPipeline(p string) {
	i, found := slices.BinarySearch(f.Pipelines, p)
	if found || i >= MaxFlowPipelines {
		return
	}
	f.Pipelines = slices.Insert(f.Pipelines, i, p)
	if len(f.Pipelines) > MaxFlowPipelines {
		f.Pipelines = f.Pipelines[:MaxFlowPipelines]
	}
}

// Merge adds o into f.
func (f *Flow) Merge(o *Flow) error {
	for _, part := range []uint8{DensePeople, DenseEvents} {
		dst, _ := f.part(part)
		src, keys := o.part(part)
		var err error
		if *src != nil {
			if *dst, err = mergeSketch(*dst, *src, FlowPrecision); err != nil {
				return err
			}
		}
		if *dst, err = mergeKeys(*dst, *keys, FlowPrecision); err != nil {
			return err
		}
	}
	if o.First != 0 && (f.First == 0 || o.First < f.First) {
		f.First = o.First
	}
	f.Last = max(f.Last, o.Last)
	for _, p := range o.Pipelines {
		f.addPipeline(p)
	}
	return nil
}

// Clone returns a deep copy of f.
func (f *Flow) Clone() *Flow {
	c := &Flow{First: f.First, Last: f.Last, Pipelines: slices.Clone(f.Pipelines),
		keyed: f.keyed, direct: f.direct, keys: [2][]uint32{slices.Clone(f.keys[0]), slices.Clone(f.keys[1])}}
	if f.People != nil {
		c.People = f.People.Clone()
	}
	if f.Events != nil {
		c.Events = f.Events.Clone()
	}
	return c
}

// flowVersion is the first byte of a flow's encoding.
const flowVersion = 1

// MarshalBinary encodes f: version, first, last (varints), the pipelines
// (count, then length-prefixed names), then the two sketches
// (length-prefixed), each compacted so that equal flows encode alike.
func (f *Flow) MarshalBinary() ([]byte, error) {
	b := []byte{flowVersion}
	b = binary.AppendVarint(b, f.First)
	b = binary.AppendVarint(b, f.Last)
	b = binary.AppendUvarint(b, uint64(len(f.Pipelines)))
	for _, p := range f.Pipelines {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	people, events := f.Sketches()
	for _, sk := range []*hll{people, events} {
		enc, err := encodeSketch(sk)
		if err != nil {
			return nil, err
		}
		b = binary.AppendUvarint(b, uint64(len(enc)))
		b = append(b, enc...)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (f *Flow) UnmarshalBinary(b []byte) error {
	bad := func(what string) error { return fmt.Errorf("%w: flow: %s", ErrCorrupt, what) }
	if len(b) < 1 || b[0] != flowVersion {
		return bad("unknown version")
	}
	b = b[1:]
	var n int
	if f.First, n = binary.Varint(b); n <= 0 {
		return bad("first seen")
	}
	b = b[n:]
	if f.Last, n = binary.Varint(b); n <= 0 {
		return bad("last seen")
	}
	b = b[n:]
	count, n := binary.Uvarint(b)
	if n <= 0 || count > MaxFlowPipelines {
		return bad("pipelines")
	}
	b = b[n:]
	f.Pipelines = nil
	for range count {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return bad("pipeline")
		}
		f.Pipelines = append(f.Pipelines, string(b[n:n+int(l)]))
		b = b[n+int(l):]
	}
	for _, dst := range []**hll{&f.People, &f.Events} {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l || l < 2 {
			return bad("sketch")
		}
		sk, err := decodeSketch(b[n:n+int(l)], FlowPrecision)
		if err != nil {
			return fmt.Errorf("flow: %w", err)
		}
		*dst = sk
		b = b[n+int(l):]
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	return nil
}

// EventHash returns the identity of the event at offset of partition of
// topic, well mixed for a sketch: the same on every instance, so that a
// replayed event counts once.
func EventHash(topic string, partition int, offset int64) uint64 {
	x := uint64(14695981039346656037) // FNV-1a of topic
	for i := range len(topic) {
		x ^= uint64(topic[i])
		x *= 1099511628211
	}
	x ^= uint64(partition) * 0x9e3779b97f4a7c15
	x += uint64(offset)
	// splitmix64's finalizer.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
