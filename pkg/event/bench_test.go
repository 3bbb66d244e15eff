package event

import (
	"encoding/json"
	"fmt"
	"testing"
)

// BenchmarkDecode measures Decode on events of 1 and 100 subjects, against
// the obvious alternative: json.Unmarshal into an Event (reflection, and
// fewer checks than the contract needs), defaults, then Validate.
func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{1, 100} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("customer-%08d", 7919*i)
		}
		data := doc(b, "subjects", ids, "event_id", "6f1c2a9e-51b4-4d0a-9a7e-0c7b1f2d3e4f")

		b.Run(fmt.Sprintf("subjects=%d/decode", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				ev, err := Decode(data, testNow)
				if err != nil || len(ev.Subjects) != n {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("subjects=%d/encoding_json", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				var ev Event
				if err := json.Unmarshal(data, &ev); err != nil {
					b.Fatal(err)
				}
				if ev.Schema == 0 {
					ev.Schema = 1
				}
				if ev.Kind == "" {
					ev.Kind = KindTransfer
				}
				if err := ev.Validate(testNow); err != nil || len(ev.Subjects) != n {
					b.Fatal(err)
				}
			}
		})
	}
}
