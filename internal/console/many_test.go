package console_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/pkg/decision"
)

// manyStatuses evaluates n synthetic entities with the cac-2024 preset,
// as the decider would: people counts spread from a few to past the
// thresholds, a growing series for the forecast, a security assessment
// for one in five.
func manyStatuses(tb testing.TB, n int, now time.Time) []policy.Status {
	tb.Helper()
	preset, err := policy.PresetByName(policy.PresetCAC2024)
	if err != nil {
		tb.Fatal(err)
	}
	loc := now.Location()
	s := policy.Settings{Preset: preset, RenewalLeadDays: 183, ForecastLeadDays: 183, Location: loc}
	rng := rand.New(rand.NewPCG(1, 2))
	_, today := sketch.DayOf(now, loc)
	out := make([]policy.Status, n)
	for i := range out {
		e := policy.Entity{ID: fmt.Sprintf("entity-%05d", i), Name: fmt.Sprintf("Entity %d Co., Ltd.", i)}
		if i%5 == 0 {
			from := civil.DateOf(now.AddDate(-1, 0, -rng.IntN(300)))
			e.Approvals = []policy.Approval{{Mechanism: policy.SecurityAssessment, Status: policy.Approved,
				Reference: fmt.Sprintf("CAC-%05d", i), ValidFrom: from.In(loc), ValidUntil: from.AddDays(730).In(loc)}}
		}
		people := uint64(rng.ExpFloat64() * 40_000)
		sensitive := uint64(rng.ExpFloat64() * 2_000)
		fig := func(v uint64) sketch.Figure { return sketch.Figure{Estimate: v, UpperBound: v + v/50} }
		series := make([]float64, today+1)
		for d := range series {
			series[d] = float64(people) * float64(d+1) / float64(today+1)
		}
		obs := policy.Observation{
			Figures: map[sketch.Window]map[sketch.Counter]sketch.Figure{},
			Series:  map[sketch.Window]map[sketch.Counter][]float64{},
		}
		for _, w := range []sketch.Window{sketch.CurrentYear, sketch.SincePrevJan1} {
			obs.Figures[w] = map[sketch.Counter]sketch.Figure{
				sketch.Personal: fig(people + sensitive), sketch.NonSensitive: fig(people), sketch.Sensitive: fig(sensitive), sketch.Processed: fig(people + sensitive),
			}
			obs.Series[w] = map[sketch.Counter][]float64{sketch.Personal: series, sketch.NonSensitive: series}
		}
		out[i] = policy.Evaluate(s, e, obs, now)
	}
	return out
}

// statusList is a Statuses over a fixed list.
type statusList struct {
	list []policy.Status
	byID map[string]policy.Status
}

func newStatusList(list []policy.Status) *statusList {
	l := &statusList{list: list, byID: make(map[string]policy.Status, len(list))}
	for _, s := range list {
		l.byID[s.Entity] = s
	}
	return l
}

func (l *statusList) Status(id string) (policy.Status, bool) { s, ok := l.byID[id]; return s, ok }
func (l *statusList) Statuses() []policy.Status              { return l.list }
func (l *statusList) Verdict(id string, _ time.Time) (decision.Verdict, error) {
	if s, ok := l.byID[id]; ok && !s.UpdatedAt.IsZero() {
		return s.Verdict(), nil
	}
	return decision.Verdict{}, fmt.Errorf("entity %s was not evaluated yet", id)
}
