package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

// TestLoggerWritesDurationsAsStrings: a time.Duration logged anywhere (an attribute, a group,
// a logger's With) comes out as "1.5s", not as nanoseconds.
func TestLoggerWritesDurationsAsStrings(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, slog.LevelInfo).With("interval", 250*time.Millisecond)
	log.Warn("retrying", "backoff", 1500*time.Millisecond, slog.Group("flush", "took", 2*time.Minute), "n", 3)
	log.Debug("hidden", "backoff", time.Second)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	want := map[string]any{"interval": "250ms", "backoff": "1.5s", "flush": map[string]any{"took": "2m0s"}, "n": float64(3), "msg": "retrying"}
	for k, v := range want {
		got, _ := json.Marshal(rec[k])
		exp, _ := json.Marshal(v)
		if string(got) != string(exp) {
			t.Errorf("%s = %s, want %s (record %s)", k, got, exp, buf.Bytes())
		}
	}
	if bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Errorf("want one record at info, got %s", buf.Bytes())
	}
}
