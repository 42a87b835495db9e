package memtrim

import (
	"runtime/debug"
	"sync"
)

// BurstPercent is the collector's target (GOGC) while a burst runs: the
// heap may grow to twice what is live before a collection starts.
const BurstPercent = 100

var (
	burstMu sync.Mutex
	managed bool // SetGC set the target: GOGC is not in the environment
	bursts  int  // bursts running
)

// Burst raises the collector's target from GCPercent to BurstPercent until
// end is called, for a short stretch of work that allocates a lot of
// garbage at once and waits on it: a pass decoding its listing. At
// GCPercent, the 8 MB that a listing of 10,000 keys allocates went past
// the target of a daemon holding 18 MB, so a collection started in the
// middle of every pass and marked the whole journal while the listing was
// decoded, and the claim after it ran with the collector's write barriers
// and assists on. With the target raised, the collection starts when the
// burst ends, usually after the pass: the same work, off the pass's clock.
// A memory limit (GOMEMLIMIT) still rules.
//
// Only the target SetGC set is raised: a GOGC in the environment rules,
// and a program that never called SetGC keeps its own. The target is
// process-wide, so a burst must stay short: the other goroutines run at
// it too. Bursts may overlap (the accounts' passes run in parallel): the
// target goes back when the last one ends. end may be called more than
// once.
func Burst() (end func()) {
	burstMu.Lock()
	defer burstMu.Unlock()
	if !managed {
		return func() {}
	}
	if bursts == 0 {
		debug.SetGCPercent(BurstPercent)
	}
	bursts++
	var once sync.Once
	return func() {
		once.Do(func() {
			burstMu.Lock()
			defer burstMu.Unlock()
			if bursts--; bursts == 0 && managed {
				debug.SetGCPercent(GCPercent)
			}
		})
	}
}
