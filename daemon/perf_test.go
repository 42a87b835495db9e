package daemon

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/rotation"
)

// TestRotationsOverlapTheirRequests is the regression test of a finding of
// the benchmark (bench/): a pass handled only as many names at once as
// requests may be in flight, so while a rotation wrote its state and sinks
// no request of the pass was in flight, and a pass took up to 1.22 times
// what the API allows. With one request in flight allowed, a second
// rotation must start while the first waits for its create.
func TestRotationsOverlapTheirRequests(t *testing.T) {
	e := newEnv(t)
	body := fmt.Sprintf(strings.Replace(policyTmpl, "  max_retries: 0\n", "  max_retries: 0\n  concurrency: 1\n", 1),
		e.sim.Endpoint, e.sim.Admin().Key, e.listen, ciPolicy)
	if err := os.WriteFile(e.config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.d.Reload(); err != nil {
		t.Fatal(err)
	}
	// Long enough that the second rotation's intent is written while the
	// first create is still in flight.
	e.sim.SetFault(exosim.OpCreateAPIKey, exosim.Fault{Latency: 300 * time.Millisecond})
	out, err := e.d.RunPass(context.Background(), nil, rotation.Options{Force: true, IgnoreBackoff: true})
	if err != nil {
		t.Fatal(err)
	}
	rotated := 0
	for _, o := range out {
		if o.Err != nil {
			t.Errorf("%s: %v", o.Name, o.Err)
		}
		if o.Decision.Action == rotation.ActionRotate {
			rotated++
		}
	}
	if rotated != 2 {
		t.Fatalf("%d rotations, want 2 (ci-runner, ci-deploy): %+v", rotated, out)
	}
	started, firstDeleted := 0, -1
	for i, entry := range e.logs.All() {
		switch entry.Message {
		case "rotation started":
			started++
			if started == 2 && firstDeleted >= 0 {
				t.Errorf("the second rotation started only after the first finished (log entries %d and %d)", firstDeleted, i)
			}
		case "old key deleted":
			if firstDeleted < 0 {
				firstDeleted = i
			}
		}
	}
	if started != 2 || firstDeleted < 0 {
		t.Errorf("log shows %d rotations started, first deletion at %d", started, firstDeleted)
	}
}
