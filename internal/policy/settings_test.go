package policy

import (
	"errors"
	"testing"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func TestSettingsValidate(t *testing.T) {
	if err := settingsFor(t, PresetCAC2022).Validate(); err != nil {
		t.Fatalf("default settings: %v", err)
	}
	s := settingsFor(t, PresetCAC2024)
	s.Levels = Levels{Notice: 0.9, Warning: 0.8, Critical: 0.95}
	s.RenewalLeadDays = -1
	s.Location = nil
	err := s.Validate()
	for _, want := range []error{ErrInvalidLevels, ErrLeadDays, ErrNoLocation} {
		if !errors.Is(err, want) {
			t.Errorf("Validate() = %v, want %v among the errors", err, want)
		}
	}
	if err := (Settings{}).Validate(); !errors.Is(err, ErrNoRules) {
		t.Errorf("zero settings: %v, want ErrNoRules", err)
	}
	bad := settingsFor(t, PresetCAC2022)
	bad.Preset.Rules = append(bad.Preset.Rules, Rule{ID: "x", Threshold: 0, Mechanism: MechanismNone})
	if err := bad.Validate(); !errors.Is(err, ErrInvalidPreset) {
		t.Errorf("rule without threshold: %v, want ErrInvalidPreset", err)
	}
	for _, l := range []Levels{{0, 0.5, 0.6}, {0.5, 0.6, 1.1}, {0.7, 0.85, 0.95}, {0.5, 0.5, 0.5}} {
		err := l.Validate()
		if ok := l.Notice > 0 && l.Critical <= 1; (err == nil) != ok {
			t.Errorf("%+v.Validate() = %v", l, err)
		}
	}
}
