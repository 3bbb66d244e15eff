package civil

import (
	"encoding/json"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDate(t *testing.T) {
	d, err := ParseDate("2025-03-01")
	if err != nil {
		t.Fatal(err)
	}
	if d.String() != "2025-03-01" || d.IsZero() {
		t.Errorf("ParseDate = %q (zero %v)", d, d.IsZero())
	}
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Time(shanghai), time.Date(2025, 3, 1, 0, 0, 0, 0, shanghai); !got.Equal(want) {
		t.Errorf("Time(Shanghai) = %v, want %v", got, want)
	}
	if got := d.Time(nil); got.Location() != time.UTC || got.Day() != 1 {
		t.Errorf("Time(nil) = %v", got)
	}
	if DateOf(time.Date(2025, 3, 1, 23, 59, 0, 0, shanghai)) != d {
		t.Error("DateOf lost the calendar day")
	}
	if NewDate(2025, 2, 29) != NewDate(2025, 3, 1) {
		t.Error("NewDate does not normalise")
	}
	later := NewDate(2025, 3, 2)
	if !d.Before(later) || !later.After(d) || d.Compare(NewDate(d.Year, d.Month, d.Day)) != 0 || NewDate(2024, 12, 31).Compare(d) != -1 {
		t.Error("comparisons wrong")
	}
	if (Date{}).String() != "" || !(Date{}).IsZero() {
		t.Error("zero Date")
	}
	for _, bad := range []string{"2025-3-1", "2025-02-30", "01/03/2025", "2025-03-01T00:00:00Z", "x"} {
		if _, err := ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) succeeded", bad)
		}
	}
}

func TestDateEncodings(t *testing.T) {
	type doc struct {
		D Date `yaml:"d" json:"d"`
		Z Date `yaml:"z" json:"z"`
	}
	in := doc{D: NewDate(2027, 3, 1)}
	y, err := yaml.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out doc
	if err := yaml.Unmarshal(y, &out); err != nil || out != in {
		t.Errorf("YAML round trip: %q -> %+v, %v", y, out, err)
	}
	j, err := json.Marshal(in)
	if err != nil || string(j) != `{"d":"2027-03-01","z":""}` {
		t.Errorf("JSON = %s, %v", j, err)
	}
	out = doc{}
	if err := json.Unmarshal(j, &out); err != nil || out != in {
		t.Errorf("JSON round trip: %+v, %v", out, err)
	}
	for _, src := range []string{"d: 2027-03-01", `d: "2027-03-01"`, "d: '2027-03-01'"} {
		var got doc
		if err := yaml.Unmarshal([]byte(src), &got); err != nil || got.D != in.D {
			t.Errorf("%s -> %+v, %v", src, got, err)
		}
	}
	var got doc
	if err := yaml.Unmarshal([]byte("d: [2027]"), &got); err == nil {
		t.Error("a sequence was accepted as a date")
	}
}
