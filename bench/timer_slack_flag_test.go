package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// A negative -timer-slack is refused, naming the flag, not taken as the
// default: a run meant to measure a slack would measure none.
func TestNegativeTimerSlackIsRefused(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // nothing is to run
	err := run(ctx, []string{"-timer-slack", "-1ms", "-dir", t.TempDir(), "-bin", t.TempDir()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-timer-slack") {
		t.Fatalf("run with -timer-slack -1ms: %v, want an error naming -timer-slack", err)
	}
}
