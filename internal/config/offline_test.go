package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestLoadOffline: without a subject key and with named files absent, the configuration
// passes and the absent files are listed; a named file that exists but is wrong, and any
// other problem, still fail; Load fails on the same file.
func TestLoadOffline(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missingCA := filepath.Join(dir, "ca.pem")
	missingKey := filepath.Join(dir, "subject.key")
	good := write("good.yaml", `
subject_key_file: `+missingKey+`
kafka:
  tls: {enabled: true, ca_file: `+missingCA+`}
`)
	c, absent, err := LoadOffline(good, nil)
	if err != nil || c == nil {
		t.Fatalf("LoadOffline: %v", err)
	}
	want := []string{"subject_key_file: " + missingKey, "kafka.tls.ca_file: " + missingCA}
	slices.Sort(want)
	slices.Sort(absent)
	if !slices.Equal(absent, want) {
		t.Errorf("absent %q, want %q", absent, want)
	}
	if c.HasSubjectKey {
		t.Error("a subject key out of nowhere")
	}
	if _, err := Load(good, nil); err == nil {
		t.Error("Load accepts files that do not exist")
	}

	// A file that exists is checked; other rules apply.
	bad := write("bad.yaml", `
subject_key_file: `+write("short.key", "abc\n")+`
policy: {preset: cac-2099}
`)
	_, _, err = LoadOffline(bad, nil)
	var fe *FieldError
	if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("LoadOffline(bad) = %v, want the invalid key file and preset", err)
	}
	for _, field := range []string{"subject_key_file", "policy.preset"} {
		found := false
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			if errors.As(e, &fe) && fe.Field == field {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem about %s in %v", field, err)
		}
	}
	// The configuration file itself must exist.
	if _, _, err := LoadOffline(filepath.Join(dir, "nope.yaml"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadOffline of a missing file: %v", err)
	}
}
