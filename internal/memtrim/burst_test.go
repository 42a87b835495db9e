package memtrim

import (
	"runtime/debug"
	"testing"
)

// gcPercent reads the collector's target (setting it reads it).
func gcPercent() int {
	p := debug.SetGCPercent(0)
	debug.SetGCPercent(p)
	return p
}

func TestBurstRaisesTheTargetUntilTheLastEnds(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(GCPercent))
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

func TestBurstLeavesAHigherOrNoTargetAlone(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(GCPercent))
	for _, p := range []int{-1, BurstPercent, 300} {
		debug.SetGCPercent(p)
		end := Burst()
		if got := gcPercent(); got != p {
			t.Errorf("GOGC %d: during a burst the target is %d, want it left at %d", p, got, p)
		}
		end()
		if got := gcPercent(); got != p {
			t.Errorf("GOGC %d: after a burst the target is %d, want %d", p, got, p)
		}
	}
}
