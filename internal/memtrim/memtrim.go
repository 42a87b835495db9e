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
// page that is needed again is mapped back in by a minor fault, or read
// from disk if it has left the cache (as TrimBeforeWork makes most of
// them do, once, when the program starts its work).
package memtrim

import (
	"os"
	"runtime"
	"runtime/debug"
	"sync"
)

// GCPercent is the garbage collector's target (GOGC) SetGC sets: the heap
// grows to 1.3 times what is live between collections instead of twice.
// A forced pass over 10,000 names holds 13–14 MB live. Measured on that
// pass without latency (bench/README.md): the process's anonymous
// memory peaked at 30.7–31.0 MB with 50 and 28.9–29.2 MB with 40; with
// 20 ms of latency, 28.2–28.4 MB with 40 and 26.5–26.8 MB with 30, for
// 1.5 and 2.0 s of the collector's CPU over the pass (gctrace: 0.05 ms
// more a rotation, 2% of its CPU). 25 saved 5 MB more than 50 for 6%
// more CPU.
const GCPercent = 30

// SetGC sets the collector's target to GCPercent, unless the environment
// sets GOGC, which then rules. A GOMEMLIMIT (the Kubernetes manifests set
// one from the container's limit) works with either: it only makes the
// collector run sooner near the limit.
func SetGC() {
	burstMu.Lock()
	defer burstMu.Unlock()
	if managed = os.Getenv("GOGC") == ""; managed {
		debug.SetGCPercent(GCPercent)
	}
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
	dropExecutablePages(false)
}

// TrimBeforeWork is Trim for a program about to work, not to wait: the
// collection and the executable's pages go, but the free heap stays
// mapped. The work allocates at once and would fault every page of it
// back in: a no-op pass over 10,000 names took 20 ms longer after Trim
// than after this (bench/README.md). Keeping the pages does not raise the
// peak: they were resident already, and the work reuses them first.
//
// With uncache (on Linux), it also leaves the process with only the
// executable's pages it uses from then on (see dropExecutablePages), at
// the cost of reading those pages from disk again. The commands that run
// passes (run, once) ask for it once, as they start; the trims between
// passes (Trim) never do.
func TrimBeforeWork(uncache bool) {
	mu.Lock()
	defer mu.Unlock()
	runtime.GC()
	dropExecutablePages(uncache)
}
