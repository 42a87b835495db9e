package memtrim

import (
	"runtime/debug"
	"testing"
)

func TestSetGCRespectsEnvironment(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	SetGC()
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Fatalf("without GOGC: GC percent %d, want %d", got, GCPercent)
	}

	t.Setenv("GOMEMLIMIT", "64MiB")
	SetGC()
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Fatalf("with GOMEMLIMIT alone: GC percent %d, want %d", got, GCPercent)
	}

	t.Setenv("GOGC", "200")
	SetGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("with GOGC set: SetGC changed the GC percent to %d", got)
	}
}
