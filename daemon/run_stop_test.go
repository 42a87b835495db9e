package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// TestStopRightAtStart: a stop that comes before the scheduler has started
// (a signal right at start) used to let the scheduler start cron after
// cron.Stop and launch the pass at start after stop had stopped waiting for
// it, so Run returned with work still running. Nothing may happen after Run
// returns. Several rounds, as the window is narrow; -race also flags the
// unordered WaitGroup.Add and Wait the bug came from.
func TestStopRightAtStart(t *testing.T) {
	for range 20 {
		e := newEnv(t)
		e.sim.SetFault(exosim.OpListAPIKeys, exosim.Fault{Latency: 100 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := e.d.Run(ctx, nil); err != nil {
			t.Fatalf("Run: %v", err)
		}
		logged := e.logs.Len()
		time.Sleep(300 * time.Millisecond)
		if late := e.logs.All()[logged:]; len(late) > 0 {
			t.Fatalf("logged after Run returned: %q", late[0].Message)
		}
	}
}
