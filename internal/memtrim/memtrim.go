// Package memtrim gives memory back to the system while the daemon waits
// for its next pass: the heap garbage a pass left behind, and the pages of
// the executable that starting and the pass mapped in.
//
// Most of an idle daemon's resident set is the executable itself: code and
// read-only data (type information, the function table) that package
// initialisation, configuration loading and the first pass touched once
// and will not touch again for hours. Those pages are clean copies of the
// file, so unmapping them loses nothing: the kernel keeps them in its page
// cache (reclaimable, and no longer counted in the process's RSS), and a
// page that is needed again is mapped back in by a minor fault.
package memtrim

import (
	"os"
	"runtime"
	"runtime/debug"
	"sync"
)

// GCPercent is the garbage collector's target (GOGC) SetGC sets: the heap
// grows to 1.5 times what is live between collections instead of twice.
// A forced pass over 10,000 names holds about 30 MB live; at the default
// of 100 its heap reaches 60 MB, at 50 about 45 MB, for about 10% more
// CPU in the pass (the pass waits on the API, not on the collector).
const GCPercent = 50

// SetGC sets the collector's target to GCPercent, unless the environment
// sets GOGC, which then rules. A GOMEMLIMIT (the Kubernetes manifests set
// one from the container's limit) works with either: it only makes the
// collector run sooner near the limit.
func SetGC() {
	if os.Getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(GCPercent)
}

var mu sync.Mutex

// Trim runs a garbage collection, returns the free heap to the system, and
// (on Linux) unmaps the executable's read-only file pages. It costs one
// full collection (a few milliseconds at thousands of names) and the minor
// faults that map back the code the program runs afterwards. It is safe to
// call from any goroutine; concurrent calls are serialised.
func Trim() {
	mu.Lock()
	defer mu.Unlock()
	debug.FreeOSMemory()
	dropExecutablePages()
}

// TrimBeforeWork is Trim for a program about to work, not to wait: the
// collection and the executable's pages go, but the free heap stays
// mapped. The work allocates at once and would fault every page of it
// back in: a no-op pass over 10,000 names took 20 ms longer after Trim
// than after this (bench/README.md). Keeping the pages does not raise the
// peak: they were resident already, and the work reuses them first.
func TrimBeforeWork() {
	mu.Lock()
	defer mu.Unlock()
	runtime.GC()
	dropExecutablePages()
}
