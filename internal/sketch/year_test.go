package sketch

import (
	"bytes"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/axiomhq/hyperloglog"
)

// yearOf returns a Year holding n random subjects spread over the cells
// in cells, on random days.
func yearOf(seed uint64, n int, cells ...Cell) *Year {
	rng := rand.New(rand.NewPCG(seed, 3))
	y := &Year{}
	for i := range n {
		y.Insert(cells[i%len(cells)], rng.IntN(365), rng.Uint64())
	}
	return y
}

func encodeYear(t testing.TB, y *Year) map[string][]byte {
	t.Helper()
	enc, err := y.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func sameEncoding(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, bytes.Equal)
}

// assertSameYear fails unless both years hold the same sketches, curves
// and flags.
func assertSameYear(t testing.TB, got, want *Year, what string) {
	t.Helper()
	if got.Important != want.Important {
		t.Fatalf("%s: important = %v, want %v", what, got.Important, want.Important)
	}
	for c := range Cell(NumCells) {
		if (got.Sketch(c) == nil) != (want.Sketch(c) == nil) || (got.Curves[c] == nil) != (want.Curves[c] == nil) {
			t.Fatalf("%s: cell %s present differently", what, c)
		}
		if want.Sketch(c) != nil {
			if g, w := got.Sketch(c).Clone().Estimate(), want.Sketch(c).Clone().Estimate(); g != w {
				t.Fatalf("%s: cell %s estimate %d, want %d", what, c, g, w)
			}
		}
		if want.Curves[c] != nil && !bytes.Equal(curveBytes(t, got.Curves[c]), curveBytes(t, want.Curves[c])) {
			t.Fatalf("%s: cell %s curves differ", what, c)
		}
	}
}

func TestYearEncodeDecodeRoundTrip(t *testing.T) {
	dense := yearOf(1, 40000, 0) // over 16384 subjects: a dense sketch
	dense.MarkImportant(false)
	mixed := yearOf(2, 3000, 0, 2, 5, 7)
	mixed.MarkImportant(true)
	for name, y := range map[string]*Year{"empty": {}, "one cell": yearOf(3, 10, 4), "dense": dense, "mixed": mixed} {
		t.Run(name, func(t *testing.T) {
			enc := encodeYear(t, y)
			fields := y.Fields()
			if !slices.Equal(slices.Sorted(maps.Keys(enc)), slices.Sorted(slices.Values(fields))) {
				t.Fatalf("Encode writes fields %v, Fields says %v", slices.Sorted(maps.Keys(enc)), fields)
			}
			d, err := DecodeYear(enc)
			if err != nil {
				t.Fatal(err)
			}
			assertSameYear(t, d, y, "decoded")
			if !sameEncoding(encodeYear(t, d), enc) {
				t.Fatal("re-encoding a decoded year differs")
			}
		})
	}
	want := []string{SketchField(0), CurveField(0), SketchField(2), CurveField(2), SketchField(5), CurveField(5), SketchField(7), CurveField(7), FieldImportant}
	if got := mixed.Fields(); !slices.Equal(got, want) {
		t.Fatalf("Fields = %v, want %v", got, want)
	}
	if got := (&Year{}).Fields(); len(got) != 0 {
		t.Fatalf("Fields of an empty year = %v", got)
	}
}

func TestYearImportantFlags(t *testing.T) {
	for _, flags := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		y := &Year{Important: flags}
		d, err := DecodeYear(encodeYear(t, y))
		if err != nil || d.Important != flags {
			t.Fatalf("important %v decodes as %v, %v", flags, d.Important, err)
		}
	}
	y := &Year{}
	y.MarkImportant(true)
	if y.Important != [2]bool{false, true} {
		t.Fatalf("MarkImportant(exempt) sets %v", y.Important)
	}
}

func TestYearMergeLaws(t *testing.T) {
	a := yearOf(4, 5000, 0, 1, 2)
	b := yearOf(5, 20000, 2, 3) // dense once merged
	b.MarkImportant(false)
	merge := func(ys ...*Year) *Year {
		m := &Year{}
		for _, y := range ys {
			if err := m.Merge(y); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
	aBefore, bBefore := encodeYear(t, a), encodeYear(t, b)
	ab, ba := merge(a, b), merge(b, a)
	assertSameYear(t, ab, ba, "commutative")
	assertSameYear(t, merge(a, b, a, b), ab, "idempotent")
	if !sameEncoding(encodeYear(t, a), aBefore) || !sameEncoding(encodeYear(t, b), bBefore) {
		// A store retries a batch after a failed flush: merging must
		// leave the batch as it was.
		t.Fatal("Merge modified the year merged in")
	}
	if !ab.Important[0] || ab.Important[1] {
		t.Fatalf("merged important = %v", ab.Important)
	}

	// Merging encoded-then-decoded parts equals merging the originals,
	// whatever the order: what a store does across flushes.
	da, err := DecodeYear(aBefore)
	if err != nil {
		t.Fatal(err)
	}
	if err := da.Merge(b); err != nil {
		t.Fatal(err)
	}
	assertSameYear(t, da, ab, "decoded then merged")
	if !sameEncoding(encodeYear(t, da), encodeYear(t, ab)) {
		t.Fatal("equal years encode differently")
	}
}

func TestDecodeYearRejectsCorrupt(t *testing.T) {
	good := encodeYear(t, yearOf(6, 100, 1))
	p16 := hyperloglog.New16()
	p16.InsertHash(1)
	p16Bytes, err := p16.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for name, fields := range map[string]map[string][]byte{
		"unknown field":          {"x1": {1}},
		"version field":          {"v": []byte("1")},
		"cell 8":                 {"s8": good[SketchField(1)]},
		"cell 9 curve":           {"c9": good[CurveField(1)]},
		"long name":              {"s10": good[SketchField(1)]},
		"short name":             {"s": good[SketchField(1)]},
		"important empty":        {FieldImportant: {}},
		"important 4":            {FieldImportant: {4}},
		"important two bytes":    {FieldImportant: {1, 0}},
		"sketch garbage":         {SketchField(1): []byte("garbage")},
		"sketch empty":           {SketchField(1): nil},
		"sketch truncated":       {SketchField(1): good[SketchField(1)][:len(good[SketchField(1)])-1]},
		"sketch precision 16":    {SketchField(1): p16Bytes},
		"curve garbage":          {CurveField(1): []byte("garbage")},
		"curve empty":            {CurveField(1): nil},
		"good and a bad field":   {SketchField(1): good[SketchField(1)], CurveField(1): {9}},
		"curve where sketch was": {SketchField(1): good[CurveField(1)]},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeYear(fields); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeYear = %v, want ErrCorrupt", err)
			}
		})
	}
}

// fuzzFieldNames are the names FuzzDecodeYear picks from: every valid
// field and two invalid ones, so that most inputs reach the decoders.
var fuzzFieldNames = func() []string {
	var names []string
	for c := range Cell(NumCells) {
		names = append(names, SketchField(c), CurveField(c))
	}
	return append(names, FieldImportant, "v", "s8")
}()

// FuzzDecodeYear feeds the decoder of stored entity-years arbitrary
// fields: it must never panic, reject with ErrCorrupt, and whatever it
// accepts must merge, count, and encode to something that decodes to the
// same year.
func FuzzDecodeYear(f *testing.F) {
	enc, err := yearOf(7, 500, 0, 3).Encode()
	if err != nil {
		f.Fatal(err)
	}
	dense, err := yearOf(8, 20000, 1).Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), enc[SketchField(0)], uint8(1), enc[CurveField(0)])
	f.Add(uint8(2), dense[SketchField(1)], uint8(16), []byte{3})
	f.Add(uint8(7), enc[CurveField(3)], uint8(14), []byte{2, 14, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, n1 uint8, data1 []byte, n2 uint8, data2 []byte) {
		name1 := fuzzFieldNames[int(n1)%len(fuzzFieldNames)]
		name2 := fuzzFieldNames[int(n2)%len(fuzzFieldNames)]
		y, err := DecodeYear(map[string][]byte{name1: data1, name2: data2})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		for c := range Cell(NumCells) {
			if y.Curves[c] != nil {
				checkStaircase(t, y.Curves[c])
			}
		}
		// What was accepted can be used: merged, counted and stored again.
		m := yearOf(9, 50, 0, 1)
		if err := m.Merge(y); err != nil {
			t.Fatalf("a decoded year does not merge: %v", err)
		}
		_ = History{2026: m}.Figure(Processed, CurrentYear, 2026, true)
		enc1 := encodeYear(t, y)
		y2, err := DecodeYear(enc1)
		if err != nil {
			t.Fatalf("re-encoding rejected: %v", err)
		}
		assertSameYear(t, y2, y, "round trip")
		if !sameEncoding(encodeYear(t, y2), enc1) {
			t.Fatal("second round trip changed the encoding")
		}
	})
}
