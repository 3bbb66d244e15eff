package sketch

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"
)

// flowYear returns a Year holding flows of n events of 3 random subjects
// each, over the given flows, starting at event offset off.
func flowYear(seed uint64, n int, off int64, keys ...FlowKey) *Year {
	rng := rand.New(rand.NewPCG(seed, 7))
	y := &Year{}
	for i := range n {
		k := keys[i%len(keys)]
		hs := []uint64{rng.Uint64(), rng.Uint64(), rng.Uint64()}
		y.AddFlow(k, EventHash("events", 0, off+int64(i)), 1_767_225_600+int64(rng.IntN(86400*300)),
			"pipe-"+strconv.Itoa(rng.IntN(12)), hs)
	}
	return y
}

var testFlows = []FlowKey{
	{Recipient: "acme-inc-us", Destination: "US", Category: CategoryPersonal},
	{Recipient: "acme-inc-us", Destination: "US", Category: CategorySensitive},
	{Recipient: "newco:sg", Destination: "SG", Category: CategoryPersonal, Exempt: true},
	{Recipient: "no-destination", Category: CategoryImportantData},
}

func TestFlowFieldRoundTrip(t *testing.T) {
	for _, k := range testFlows {
		got, ok := parseFlowField(FlowField(k))
		if !ok || got != k {
			t.Errorf("parseFlowField(%q) = %+v, %v; want %+v", FlowField(k), got, ok, k)
		}
	}
	for _, bad := range []string{"f", "f0", "f00:", "f30:US:x", "f02:US:x", "f00US:x", "f00:US"} {
		if _, ok := parseFlowField(bad); ok {
			t.Errorf("parseFlowField(%q) accepted", bad)
		}
		if _, err := DecodeYear(map[string][]byte{bad: {1}}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecodeYear with field %q: err = %v, want ErrCorrupt", bad, err)
		}
	}
}

func TestFlowsEncodeDecodeMerge(t *testing.T) {
	a := flowYear(1, 3000, 0, testFlows...)
	b := flowYear(2, 3000, 3000, testFlows[1:]...)

	dec, err := DecodeYear(encodeYear(t, a))
	if err != nil {
		t.Fatal(err)
	}
	if !sameEncoding(encodeYear(t, dec), encodeYear(t, a)) {
		t.Fatal("flows differ after a round trip")
	}
	if got, want := len(a.Fields()), len(testFlows); got != want {
		t.Fatalf("Fields() = %d names, want %d (flows only)", got, want)
	}

	// Merge is idempotent and commutative: a merge of a, b, a again (a
	// replay) and b into a decoded a equals b merged into a.
	ab := &Year{}
	for _, y := range []*Year{a, b} {
		if err := ab.Merge(y); err != nil {
			t.Fatal(err)
		}
	}
	ba := &Year{}
	for _, y := range []*Year{b, a, a, dec, b} {
		if err := ba.Merge(y); err != nil {
			t.Fatal(err)
		}
	}
	if !sameEncoding(encodeYear(t, ab), encodeYear(t, ba)) {
		t.Fatal("flows differ between merge orders and after a re-merge")
	}

	f := ab.Flows[testFlows[0]]
	if got := f.Events.Estimate(); got < 740 || got > 760 { // 750 events, exact while sparse
		t.Errorf("events of %v = %d, want about 750", testFlows[0], got)
	}
	if got := f.People.Estimate(); got < 2150 || got > 2350 { // 2,250 people
		t.Errorf("people of %v = %d, want about 2,250", testFlows[0], got)
	}
	if len(f.Pipelines) != MaxFlowPipelines || f.Pipelines[0] != "pipe-0" {
		t.Errorf("pipelines = %v, want the first %d in byte order", f.Pipelines, MaxFlowPipelines)
	}
	if f.First == 0 || f.Last < f.First {
		t.Errorf("first %d, last %d", f.First, f.Last)
	}
}

func TestFlowDecodeRejectsOtherPrecision(t *testing.T) {
	y := flowYear(1, 10, 0, testFlows[0])
	enc := encodeYear(t, y)
	for name, b := range enc {
		for i := len(b) - 1; i > 0; i-- {
			// Truncations are corrupt.
			if _, err := DecodeYear(map[string][]byte{name: b[:i]}); err == nil {
				t.Fatalf("truncated to %d bytes: decoded", i)
			}
		}
	}
}

// TestFlowMemory measures what a flow costs in the store (its encoding)
// at a few sizes: docs/contract.md quotes these figures.
func TestFlowMemory(t *testing.T) {
	for _, people := range []int{1, 100, 1000, 10_000, 1_000_000} {
		y := &Year{}
		rng := rand.New(rand.NewPCG(uint64(people), 1))
		k := FlowKey{Recipient: "acme-inc-us", Destination: "US"}
		for i := range people {
			y.AddFlow(k, EventHash("events", 0, int64(i)), 1_767_225_600, "crm-sync", []uint64{rng.Uint64()})
		}
		enc := encodeYear(t, y)
		t.Logf("flow of %d people and events: %d bytes encoded (field name %d bytes)",
			people, len(enc[FlowField(k)]), len(FlowField(k)))
		if n := len(enc[FlowField(k)]); n > 2*(1<<FlowPrecision)+64 {
			t.Errorf("%d people: %d bytes, more than two dense precision-12 sketches (4 KiB each)", people, n)
		}
	}
}

func BenchmarkFlowAdd(b *testing.B) {
	y := &Year{}
	k := FlowKey{Recipient: "acme-inc-us", Destination: "US"}
	hs := []uint64{0}
	for i := range b.N {
		hs[0] = uint64(i) * 0x9e3779b97f4a7c15
		y.AddFlow(k, EventHash("events", 0, int64(i)), 1_767_225_600, "crm-sync", hs)
	}
}

// TestHotFlows: a flow dense within a batch starts dense in the next, and
// merged into the store it gives what a sparse start gives.
func TestHotFlows(t *testing.T) {
	k := FlowKey{Recipient: "acme-inc-us", Destination: "US"}
	key := Key{Entity: "acme-sh", Year: 2026}
	b := Batch{}
	for i := range 5000 {
		b.AddFlow(key.Entity, key.Year, k, EventHash("e", 0, int64(i)), 1, "", []uint64{EventHash("p", 0, int64(i))})
	}
	b.AddFlow(key.Entity, key.Year, FlowKey{Recipient: "small"}, 1, 1, "", []uint64{1})
	h := HotFlows{}
	h.Learn(b)
	if got := h[key][k]; got != DensePeople|DenseEvents {
		t.Fatalf("hot bits %b, want both", got)
	}
	if _, ok := h[key][FlowKey{Recipient: "small"}]; ok {
		t.Fatal("a small flow is hot")
	}

	store := &Year{}
	if err := store.Merge(b[key]); err != nil {
		t.Fatal(err)
	}
	sparse, dense := &Year{}, &Year{}
	for i := 5000; i < 5100; i++ {
		sparse.AddFlow(k, EventHash("e", 0, int64(i)), 1, "", []uint64{EventHash("p", 0, int64(i))})
		dense.AddFlowDense(k, h[key][k], EventHash("e", 0, int64(i)), 1, "", []uint64{EventHash("p", 0, int64(i))})
	}
	a, c := &Year{}, &Year{}
	for _, y := range []*Year{store, sparse} {
		if err := a.Merge(y); err != nil {
			t.Fatal(err)
		}
	}
	for _, y := range []*Year{store, dense} {
		if err := c.Merge(y); err != nil {
			t.Fatal(err)
		}
	}
	if !sameEncoding(encodeYear(t, a), encodeYear(t, c)) {
		t.Fatal("a dense start merges into the store differently from a sparse one")
	}
	h.Learn(Batch{key: dense})
	if len(h) != 0 {
		t.Fatalf("a flow of 100 people stays hot: %v", h)
	}
}
