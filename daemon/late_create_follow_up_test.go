package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// A create whose answer is lost and that the API applies late makes a key
// whose secret nobody has. The daemon searches for it again once the
// create's settle time and the failure's backoff (1 minute) are over, and
// deletes it, instead of leaving it alive until the policy's next
// scheduled pass, an hour away.
func TestLateAppliedCreateIsDeletedBeforeTheNextScheduledPass(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a failure's backoff (1 minute)")
	}
	e := newEnv(t)
	e.sim.SetFault(exosim.OpCreateAPIKey, exosim.Fault{LoseResponseNext: 1, LateApply: 3 * time.Second, LateApplyNext: 1})
	e.start() // ciPolicy: @every 1h, so the pass at start is the only scheduled one

	// late is the key the lost create made, once the simulator has it.
	late := func() (exosim.KeyRecord, bool) {
		for _, k := range e.sim.Keys() {
			if k.AppliedAt != nil && strings.HasPrefix(k.Name, "ci-") {
				return k, true
			}
		}
		return exosim.KeyRecord{}, false
	}
	deadline := time.Now().Add(100 * time.Second)
	for {
		k, ok := late()
		if ok && !k.Alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 100 s, the key of the lost create is %+v (found: %v), still alive; the next scheduled pass is an hour away", k, ok)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
