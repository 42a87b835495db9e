package metrics

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rotatord/rotatord/internal/version"
)

// Set at link time, like Prometheus's own version package:
//
//	go build -ldflags "-X github.com/rotatord/rotatord/metrics.Branch=$(git rev-parse --abbrev-ref HEAD)"
//
// Go records the commit in the binary by itself (a plain go build in a git
// checkout), but not the branch: Branch says "unknown" unless set. Revision
// overrides the recorded commit, for builds outside a checkout (a source
// tarball) that know it.
var (
	Branch   = ""
	Revision = ""
)

// unknown is the value of a build_info label nobody could fill.
const unknown = "unknown"

// Build is what rotatord_build_info says about the running binary.
type Build struct {
	Version   string // internal/version: -ldflags, else the module version, else "dev"
	Revision  string // the VCS commit, with "-modified" when the tree had uncommitted changes
	Branch    string
	GoVersion string
	GoOS      string
	GoArch    string
}

// BuildInfo describes the running binary, from the Go toolchain's build
// information and the link-time variables.
func BuildInfo() Build {
	info, _ := debug.ReadBuildInfo()
	return buildFrom(info, Revision, Branch)
}

// buildFrom fills a Build from the toolchain's record (nil: none) and the
// link-time overrides.
func buildFrom(info *debug.BuildInfo, revision, branch string) Build {
	b := Build{
		Version: version.String(), Revision: revision, Branch: branch,
		GoVersion: runtime.Version(), GoOS: runtime.GOOS, GoArch: runtime.GOARCH,
	}
	if info != nil {
		if info.GoVersion != "" {
			b.GoVersion = info.GoVersion
		}
		var rev string
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if b.Revision == "" && rev != "" {
			b.Revision = rev
			if modified {
				b.Revision += "-modified"
			}
		}
	}
	if b.Revision == "" {
		b.Revision = unknown
	}
	if b.Branch == "" {
		b.Branch = unknown
	}
	return b
}

// newBuildInfo is rotatord_build_info: always 1, the labels say which
// rotatord runs (the labels of every Prometheus component's build_info).
func newBuildInfo(b Build) prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help: "Always 1; the labels say which rotatord is running (version, VCS revision and branch, Go version, OS and architecture).",
	}, []string{"version", "revision", "branch", "goversion", "goos", "goarch"})
	g.WithLabelValues(b.Version, b.Revision, b.Branch, b.GoVersion, b.GoOS, b.GoArch).Set(1)
	return g
}
