package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWriteDoc: the tables land between the markers, with the ratios to
// the ceiling and both baselines, and the prose around them is kept.
func TestWriteDoc(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	before := "# Benchmarks\n\nprose before\n\n" + DocBegin + "\nold table\n" + DocEnd + "\n\nprose after\n"
	if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	w := Workload{Subjects: 1, Entities: 10, Partitions: 1}
	results := []Result{
		{Workload: w, Variant: Ceiling, Drain: time.Second, Events: 1000, CPUSeconds: 1},
		{Workload: w, Variant: Batched, Drain: time.Second, Events: 500, CPUSeconds: 1, RedisCPUSeconds: 1, RedisIn: 50_000, RedisOut: 500},
		{Workload: w, Variant: Transferwatch, Drain: time.Second, Events: 750, CPUSeconds: 0.75, RedisIn: 7_500, RedisOut: 15_000},
	}
	if err := WriteDoc(path, results, time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, want := range []string{
		"prose before\n\n" + DocBegin + "\nRun of 2026-12-01 15:00 UTC",
		// ceiling 0.75; batched: events 1.50, CPU per event 1.00/(2/500)... 0.50, with Redis 0.25;
		// Redis bytes in per event 10 ÷ 100
		"| 1 subj/ev, 10 entities, 1 part. | 0.75 | 1.50 | 0.50 | 0.25 | – | – | 0.10 |",
		"| 10 B / 20 B |",
		"\n" + DocEnd + "\n\nprose after\n",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("the document lacks %q:\n%s", want, doc)
		}
	}
	if strings.Contains(doc, "old table") {
		t.Error("the old table is still there")
	}

	if err := os.WriteFile(path, []byte("no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteDoc(path, results, time.Now()); err == nil {
		t.Error("WriteDoc into a document without markers succeeded")
	}
}
