package main

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// A SIGHUP that arrives after main started but before `run` set up its
// signals (while the config and the journal load) is held, and becomes a
// reload once run is ready, instead of ending the process (found by
// review: `rotatord run` died of a SIGHUP in its first 40 ms).
func TestHangupBeforeRunIsReadyBecomesAReload(t *testing.T) {
	holdHangups()
	t.Cleanup(func() { earlyHangup = nil })
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The signal is delivered asynchronously: wait until it is held.
	deadline := time.Now().Add(5 * time.Second)
	for len(earlyHangup) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	_, reload, stop := signals(context.Background())
	defer stop()
	select {
	case <-reload:
	case <-time.After(5 * time.Second):
		t.Fatal("a SIGHUP received while starting was not handed on as a reload")
	}
}
