package memtrim

import (
	"runtime/debug"
	"sync"
)

// BurstPercent is the collector's target (GOGC) while a burst runs: the
// heap may grow to twice what is live before a collection starts.
const BurstPercent = 100

var (
	burstMu    sync.Mutex
	bursts     int // bursts running
	burstSaved int // the target before the first of them
)

// Burst raises the collector's target to BurstPercent until end is called,
// for a short stretch of work that allocates a lot of garbage at once and
// waits on it: a pass decoding its listing. At GCPercent, the 8 MB that a
// listing of 10,000 keys allocates went past the target of a daemon
// holding 18 MB, so a collection started in the middle of every pass and
// marked the whole journal while the listing was decoded, and the claim
// after it ran with the collector's write barriers and assists on. With
// the target raised, the collection starts when the burst ends, usually
// after the pass: the same work, off the pass's clock. A collection that
// is due still runs (it is only started later), and a memory limit
// (GOMEMLIMIT) still rules.
//
// Bursts may overlap (the accounts' passes run in parallel): the target
// goes back when the last one ends. A target already at or above
// BurstPercent, or off (GOGC=off), is left alone. end may be called more
// than once.
func Burst() (end func()) {
	burstMu.Lock()
	if bursts == 0 {
		burstSaved = debug.SetGCPercent(BurstPercent)
		if !raises(burstSaved) {
			debug.SetGCPercent(burstSaved)
		}
	}
	bursts++
	burstMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			burstMu.Lock()
			defer burstMu.Unlock()
			if bursts--; bursts == 0 && raises(burstSaved) {
				debug.SetGCPercent(burstSaved)
			}
		})
	}
}

// raises reports whether a burst raises the target percent.
func raises(percent int) bool { return percent >= 0 && percent < BurstPercent }
