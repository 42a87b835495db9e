package hooks

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A hook cut short because rotatord stops (its context cancelled) did not
// time out: its error said "timed out after 10m0s" at every SIGTERM
// during a long consumer check, which sends an operator looking at a
// hook that did nothing wrong.
func TestExecHookCancelledIsNotATimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	err := Exec{Command: []string{"/bin/sleep", "60"}, Timeout: 10 * time.Minute}.Run(ctx, testEvent())
	if err == nil {
		t.Fatal("a cancelled hook succeeded")
	}
	if strings.Contains(err.Error(), "timed out") {
		t.Errorf("a cancelled hook's error = %q, says it timed out", err)
	}
	if !strings.Contains(err.Error(), "cancel") {
		t.Errorf("a cancelled hook's error = %q, want it to say it was cancelled", err)
	}
}
