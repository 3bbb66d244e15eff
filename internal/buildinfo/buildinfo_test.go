package buildinfo

import (
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRegister: transferwatch_build_info is one gauge at 1 whose labels
// version, revision and goversion are those `transferwatch version` prints.
func TestRegister(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	Register(reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != "transferwatch_build_info" || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gathered %v, want one series of transferwatch_build_info", mfs)
	}
	m := mfs[0].GetMetric()[0]
	if m.GetGauge().GetValue() != 1 {
		t.Errorf("value %v, want 1", m.GetGauge().GetValue())
	}
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	i := Get()
	for name, want := range map[string]string{"version": i.Version, "revision": i.Revision, "goversion": runtime.Version(), "goos": runtime.GOOS, "goarch": runtime.GOARCH} {
		if labels[name] != want || want == "" {
			t.Errorf("label %s = %q, want %q (labels %v)", name, labels[name], want, labels)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "transferwatch_build_info"); err != nil || n != 1 {
		t.Errorf("GatherAndCount = %d, %v", n, err)
	}
}
