// Package buildinfo carries the version stamped into the binary at build
// time (see the Makefile's LDFLAGS) and exports it as a metric.
package buildinfo

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
)

// Set with -ldflags "-X ...=...". These are the only package-level variables
// the project has, and only the linker writes them.
var (
	Version  = "dev"
	Revision = ""
)

// Info is what `transferwatch version` prints.
type Info struct {
	Version, Revision, GoVersion string
}

// Get returns the build information, falling back to what the Go toolchain
// recorded when the linker flags were not set.
func Get() Info {
	i := Info{Version: Version, Revision: Revision, GoVersion: runtime.Version()}
	if i.Revision == "" {
		i.Revision = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 7 {
					i.Revision = s.Value[:7]
				}
			}
		}
	}
	return i
}

// Program is the namespace of the build-info metric: transferwatch_build_info.
const Program = "transferwatch"

// Register exports transferwatch_build_info on reg with client_golang's
// version collector. The contract's labels version, revision and goversion
// carry Get(); the collector adds branch, goos, goarch and tags (branch is
// empty unless the linker sets github.com/prometheus/common/version.Branch).
func Register(reg prometheus.Registerer) {
	i := Get()
	reg.MustRegister(versioncollector.NewCollector(Program, versioncollector.WithExtraConstLabels(prometheus.Labels{
		"version":   i.Version,
		"revision":  i.Revision,
		"goversion": i.GoVersion,
	})))
}
