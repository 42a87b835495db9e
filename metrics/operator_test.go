package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/rotatord/rotatord/internal/window"

	"github.com/rotatord/rotatord/state"
)

// families gathers the registry into families by name.
func families(t *testing.T, m interface {
	Gather() ([]*dto.MetricFamily, error)
}) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := m.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// TestGoAndProcessCollectors: the go_* and process_* series every
// exporter has.
func TestGoAndProcessCollectors(t *testing.T) {
	_, reg, _ := newTestMetrics(t)
	fams := families(t, reg)
	want := []string{"go_goroutines", "go_memstats_alloc_bytes", "go_gc_duration_seconds", "go_info"}
	if runtime.GOOS == "linux" {
		want = append(want, "process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds", "process_open_fds")
	}
	for _, name := range want {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
}

func TestBuildInfoLabels(t *testing.T) {
	_, reg, _ := newTestMetrics(t)
	mf := families(t, reg)["rotatord_build_info"]
	if mf == nil || len(mf.GetMetric()) != 1 {
		t.Fatalf("rotatord_build_info: %v, want one series", mf)
	}
	got := labelsOf(mf.GetMetric()[0])
	if v := mf.GetMetric()[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("rotatord_build_info = %v, want 1", v)
	}
	want := map[string]string{"goversion": runtime.Version(), "goos": runtime.GOOS, "goarch": runtime.GOARCH}
	for _, l := range []string{"version", "revision", "branch", "goversion", "goos", "goarch"} {
		if got[l] == "" {
			t.Errorf("rotatord_build_info has no %s label: %v", l, got)
		}
		if w, ok := want[l]; ok && got[l] != w {
			t.Errorf("rotatord_build_info %s=%q, want %q", l, got[l], w)
		}
	}
	if len(got) != 6 {
		t.Errorf("rotatord_build_info labels %v, want exactly version, revision, branch, goversion, goos, goarch", got)
	}
}

func TestBuildFrom(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.99.1", Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123abcd"},
		{Key: "vcs.modified", Value: "false"},
	}}
	tests := []struct {
		name             string
		info             *debug.BuildInfo
		revision, branch string
		wantRev, wantBr  string
	}{
		{name: "clean tree", info: info, wantRev: "0123abcd", wantBr: unknown},
		{name: "modified tree", info: &debug.BuildInfo{Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "true"},
		}}, wantRev: "0123abcd-modified", wantBr: unknown},
		{name: "link-time values win", info: info, revision: "feed", branch: "release-1.2", wantRev: "feed", wantBr: "release-1.2"},
		{name: "no build information", info: nil, wantRev: unknown, wantBr: unknown},
	}
	for _, tt := range tests {
		b := buildFrom(tt.info, tt.revision, tt.branch)
		if b.Revision != tt.wantRev || b.Branch != tt.wantBr {
			t.Errorf("%s: revision %q branch %q, want %q %q", tt.name, b.Revision, b.Branch, tt.wantRev, tt.wantBr)
		}
		if b.Version == "" || b.GoOS != runtime.GOOS || b.GoArch != runtime.GOARCH {
			t.Errorf("%s: %+v", tt.name, b)
		}
	}
	if b := buildFrom(info, "", ""); b.GoVersion != "go1.99.1" {
		t.Errorf("goversion %q, want the toolchain's record go1.99.1", b.GoVersion)
	}
}

// TestBuildInfoOfAPlainGoBuild builds a small program with a plain
// `go build` in this checkout (a test binary records no VCS information)
// and checks that it reports the checkout's commit and its Go version, and
// the branch given with -ldflags -X.
func TestBuildInfoOfAPlainGoBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds a program")
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git")
	}
	out, err := exec.Command(git, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	head := strings.TrimSpace(string(out))
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	bin := filepath.Join(t.TempDir(), "buildinfo")
	for _, tt := range []struct {
		ldflags, wantBranch string
	}{
		{"", unknown},
		{"-X github.com/rotatord/rotatord/metrics.Branch=release-7", "release-7"},
	} {
		args := []string{"build", "-o", bin}
		if tt.ldflags != "" {
			args = append(args, "-ldflags", tt.ldflags)
		}
		cmd := exec.Command(goBin, append(args, "./testdata/buildinfo")...)
		// -buildvcs=auto is go build's default; the environment may say
		// otherwise (GOFLAGS=-buildvcs=false in go env).
		cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=auto")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, b)
		}
		out, err := exec.Command(bin).Output()
		if err != nil {
			t.Fatal(err)
		}
		var b Build
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if b.Revision != head && b.Revision != head+"-modified" {
			t.Errorf("revision %q, want %s (with -modified if the tree has changes)", b.Revision, head)
		}
		if b.GoVersion != runtime.Version() || b.Branch != tt.wantBranch || b.Version == "" {
			t.Errorf("ldflags %q: %+v, want goversion %s, branch %s", tt.ldflags, b, runtime.Version(), tt.wantBranch)
		}
	}
}

func TestReadyGauge(t *testing.T) {
	m, reg, _ := newTestMetrics(t)
	ready := func() float64 {
		mf := families(t, reg)["rotatord_ready"]
		if mf == nil || len(mf.GetMetric()) != 1 {
			t.Fatalf("rotatord_ready: %v", mf)
		}
		return mf.GetMetric()[0].GetGauge().GetValue()
	}
	if v := ready(); v != 0 {
		t.Errorf("before SetReady: %v, want 0", v)
	}
	ok := false
	m.SetReady(func() bool { return ok })
	if v := ready(); v != 0 {
		t.Errorf("not ready: %v, want 0", v)
	}
	ok = true
	if v := ready(); v != 1 {
		t.Errorf("ready: %v, want 1", v)
	}
}

func TestStateRecordsByPhase(t *testing.T) {
	m, reg, store := newTestMetrics(t)
	m.SetPolicies([]PolicyInfo{{Name: "ci", MaxAge: time.Hour}, {Name: "db", MaxAge: time.Hour}})
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	put := func(name string, rot *state.Rotation) {
		t.Helper()
		if err := store.Put(state.Record{Policy: "ci", Name: name, CurrentKeyID: "EXO" + name, CurrentSince: t0, Rotation: rot}); err != nil {
			t.Fatal(err)
		}
	}
	put("a", nil)
	put("b", nil)
	put("c", &state.Rotation{Phase: state.PhaseIntent, StartedAt: t0.Add(2 * time.Minute)})
	put("d", &state.Rotation{Phase: state.PhaseIntent, StartedAt: t0.Add(time.Minute)})
	put("e", &state.Rotation{Phase: state.PhaseCreated, StartedAt: t0, NewCreatedAt: t0.Add(3 * time.Minute), NewKeyID: "EXOe2"})
	put("f", &state.Rotation{Phase: state.PhaseDelivered, StartedAt: t0, NewKeyID: "EXOf2", OldKeyIDs: []string{"EXOf"},
		DeliveredAt: t0.Add(4 * time.Minute), DeleteAfter: t0.Add(64 * time.Minute)})
	put("g", &state.Rotation{Phase: state.PhaseDelivered, StartedAt: t0, NewKeyID: "EXOg2", OldKeyIDs: []string{"EXOg"},
		DeliveredAt: t0.Add(5 * time.Minute), DeleteAfter: t0.Add(35 * time.Minute)})
	// Another policy's record in flight is not counted as ci's; a policy
	// gone from the config has no series.
	store.Put(state.Record{Policy: "gone", Name: "x", Rotation: &state.Rotation{Phase: state.PhaseIntent, StartedAt: t0}})

	want := `
# HELP rotatord_state_records State records by policy and the phase of their rotation in flight (none, intent, created, delivered).
# TYPE rotatord_state_records gauge
rotatord_state_records{account="default",phase="created",policy="ci"} 1
rotatord_state_records{account="default",phase="delivered",policy="ci"} 2
rotatord_state_records{account="default",phase="intent",policy="ci"} 2
rotatord_state_records{account="default",phase="none",policy="ci"} 2
rotatord_state_records{account="default",phase="created",policy="db"} 0
rotatord_state_records{account="default",phase="delivered",policy="db"} 0
rotatord_state_records{account="default",phase="intent",policy="db"} 0
rotatord_state_records{account="default",phase="none",policy="db"} 0
# HELP rotatord_state_oldest_phase_timestamp_seconds When the record longest in each phase of a rotation in flight entered it (intent: started; created: key created; delivered: delivered), Unix time; absent while no record is in the phase.
# TYPE rotatord_state_oldest_phase_timestamp_seconds gauge
rotatord_state_oldest_phase_timestamp_seconds{account="default",phase="created",policy="ci"} 1.79352738e+09
rotatord_state_oldest_phase_timestamp_seconds{account="default",phase="delivered",policy="ci"} 1.79352744e+09
rotatord_state_oldest_phase_timestamp_seconds{account="default",phase="intent",policy="ci"} 1.79352726e+09
# HELP rotatord_state_oldest_deletion_due_timestamp_seconds The earliest delete_after of the policy's delivered rotations, moved to the next opening of the policy's windows: when the longest-waiting old keys became (or become) deletable, Unix time; absent while none waits.
# TYPE rotatord_state_oldest_deletion_due_timestamp_seconds gauge
rotatord_state_oldest_deletion_due_timestamp_seconds{account="default",policy="ci"} 1.7935293e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rotatord_state_records",
		"rotatord_state_oldest_phase_timestamp_seconds", "rotatord_state_oldest_deletion_due_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestNewOnARegistryWithGoCollectors: a registry that has the Go and
// process collectors already (like Prometheus's default one) keeps them.
func TestNewOnARegistryWithGoCollectors(t *testing.T) {
	store, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	New(reg, store) // must not panic
	if families(t, reg)["go_goroutines"] == nil {
		t.Error("no go_goroutines")
	}
}

func TestDeletionDueWaitsForTheWindow(t *testing.T) {
	m, reg, store := newTestMetrics(t)
	days, _ := window.ParseDays([]string{"mon-fri"})
	office := window.Set{{Days: days, Start: 9 * time.Hour, End: 16 * time.Hour, Zone: time.UTC}}
	m.SetPolicies([]PolicyInfo{{Name: "ci", MaxAge: time.Hour, Windows: office}})
	// 2026-12-05 is a Saturday: the grace period ends at 10:00, the next
	// window opens on Monday 2026-12-07 at 09:00.
	sat := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	if err := store.Put(state.Record{Policy: "ci", Name: "a", CurrentKeyID: "EXOa2", CurrentSince: sat,
		Rotation: &state.Rotation{Phase: state.PhaseDelivered, NewKeyID: "EXOa2", OldKeyIDs: []string{"EXOa"}, DeliveredAt: sat, DeleteAfter: sat}}); err != nil {
		t.Fatal(err)
	}
	monday := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	want := fmt.Sprintf(`
# HELP rotatord_state_oldest_deletion_due_timestamp_seconds The earliest delete_after of the policy's delivered rotations, moved to the next opening of the policy's windows: when the longest-waiting old keys became (or become) deletable, Unix time; absent while none waits.
# TYPE rotatord_state_oldest_deletion_due_timestamp_seconds gauge
rotatord_state_oldest_deletion_due_timestamp_seconds{account="default",policy="ci"} %g
# HELP rotatord_policy_window_closed_max_seconds The longest stretch in the coming fortnight with none of the policy's windows open (0 without windows): how long a due rotation may wait.
# TYPE rotatord_policy_window_closed_max_seconds gauge
rotatord_policy_window_closed_max_seconds{account="default",policy="ci"} %g
`, float64(monday.Unix()), (65 * time.Hour).Seconds())
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"rotatord_state_oldest_deletion_due_timestamp_seconds", "rotatord_policy_window_closed_max_seconds"); err != nil {
		t.Error(err)
	}
}
