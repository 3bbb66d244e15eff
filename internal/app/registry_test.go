package app

import (
	"slices"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/config"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
)

// TestRegistry checks that every field of a configured entity and approval
// reaches the policy, dates at midnight in the configured time zone.
func TestRegistry(t *testing.T) {
	cfg := config.Default()
	cfg.Entities = []config.Entity{{
		ID: "acme-sh", Name: "Acme", CIIO: true, FTZ: "shanghai-lingang", Employees: 3_000, ProcessedSubjects: 3_000_000,
		Approvals: []config.Approval{{
			Mechanism: config.MechanismStandardContract, Status: config.StatusApproved, Reference: "SC-2026-0007",
			ValidFrom: civil.NewDate(2026, 10, 1), ValidUntil: civil.NewDate(2029, 10, 1), FiledOn: civil.NewDate(2026, 10, 9),
			Scope: &config.Scope{Recipients: []string{"acme-inc-us"}, Destinations: []string{"US", "GB"},
				Categories: []string{"personal", "sensitive"}, MaxSubjects: 1_200_000},
		}},
	}}
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	reg := Registry(cfg)
	if len(reg) != 1 {
		t.Fatalf("%d entities", len(reg))
	}
	e := reg[0]
	if e.ID != "acme-sh" || e.Name != "Acme" || !e.CIIO || e.FTZ != "shanghai-lingang" || e.Employees != 3_000 || e.ProcessedSubjects != 3_000_000 {
		t.Errorf("entity %+v", e)
	}
	a := e.Approvals[0]
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, cfg.Location) }
	if a.Mechanism != policy.StandardContract || a.Status != policy.Approved || a.Reference != "SC-2026-0007" ||
		!a.ValidFrom.Equal(day(2026, 10, 1)) || !a.ValidUntil.Equal(day(2029, 10, 1)) || !a.FiledOn.Equal(day(2026, 10, 9)) {
		t.Errorf("approval %+v", a)
	}
	if sc := a.Scope; sc == nil || !slices.Equal(sc.Recipients, []string{"acme-inc-us"}) || !slices.Equal(sc.Destinations, []string{"US", "GB"}) ||
		!slices.Equal(sc.Categories, []sketch.Category{sketch.CategoryPersonal, sketch.CategorySensitive}) || sc.MaxSubjects != 1_200_000 {
		t.Errorf("scope %+v", a.Scope)
	}

	s, err := PolicySettings(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Preset.Name != policy.PresetCAC2024 || s.UsePoint || s.Location != cfg.Location || s.RenewalLeadDays != 183 {
		t.Errorf("settings %+v, want the defaults under cac-2024", s)
	}
	cfg.Policy.Estimate = config.EstimatePoint
	if s, _ := PolicySettings(cfg); !s.UsePoint {
		t.Error("estimate: point not passed on")
	}
}
