package memtrim

import (
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

// gcPercent reads the collector's target without setting it.
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// unmanaged puts the package back as a test found it: no SetGC, the
// runtime's default target.
func unmanaged(t *testing.T) {
	t.Cleanup(func() {
		burstMu.Lock()
		managed, bursts = false, 0
		burstMu.Unlock()
		debug.SetGCPercent(100)
	})
}

func TestBurstRaisesTheTargetUntilTheLastEnds(t *testing.T) {
	unmanaged(t)
	t.Setenv("GOGC", "")
	SetGC()
	endA := Burst()
	if got := gcPercent(); got != BurstPercent {
		t.Fatalf("during a burst the target is %d, want %d", got, BurstPercent)
	}
	endB := Burst()
	endA()
	endA() // a second call changes nothing
	if got := gcPercent(); got != BurstPercent {
		t.Fatalf("with a burst still running the target is %d, want %d", got, BurstPercent)
	}
	endB()
	if got := gcPercent(); got != GCPercent {
		t.Fatalf("after the last burst the target is %d, want %d back", got, GCPercent)
	}
}

// TestBurstLeavesTheEnvironmentsTargetAlone: with GOGC in the environment
// (a number, or off) a burst changes nothing, not even for a moment.
func TestBurstLeavesTheEnvironmentsTargetAlone(t *testing.T) {
	unmanaged(t)
	for _, tt := range []struct {
		env     string
		percent int
	}{{"20", 20}, {"off", -1}, {"300", 300}} {
		t.Setenv("GOGC", tt.env)
		debug.SetGCPercent(tt.percent) // as the runtime reads it at start
		SetGC()
		want := gcPercent()
		for range 1000 {
			end := Burst()
			if got := gcPercent(); got != want {
				t.Fatalf("GOGC=%s: during a burst the target is %d, want %d", tt.env, got, want)
			}
			end()
		}
		if got := gcPercent(); got != want {
			t.Errorf("GOGC=%s: after bursts the target is %d, want %d", tt.env, got, want)
		}
	}
}

// TestBurstWithoutSetGC: a program that never called SetGC keeps its
// target.
func TestBurstWithoutSetGC(t *testing.T) {
	unmanaged(t)
	debug.SetGCPercent(77)
	end := Burst()
	defer end()
	if got := gcPercent(); got != 77 {
		t.Errorf("without SetGC, during a burst the target is %d, want 77", got)
	}
}
