package main

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/leader"
)

// state import waits for a dead replica's Lease to expire, and for the
// lease duration a Lease made anew is held, before its first write: with a
// lease_duration of minutes, a fixed bound on the whole import ran out
// during those waits, and the import said it "could not take the Lease".
// The bound must outlast the election's wait for the Lease (as long as
// once's) and still leave the writes their time.
func TestImportTimeoutOutlastsTheLeaseWaits(t *testing.T) {
	const retry = 2 * time.Second
	for _, longest := range []time.Duration{2 * time.Second, 15 * time.Second, 10 * time.Minute, time.Hour} {
		wait := leader.TakeWait(longest, retry)
		got := importTimeout(longest, retry)
		if left := got - wait; left < time.Minute {
			t.Errorf("lease duration %s: the import's bound %s leaves %s for the writes after the wait for the Lease (%s)", longest, got, left, wait)
		}
	}
}
