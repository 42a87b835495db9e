package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// -timer-slack sets the slack of the started processes only: the bench's
// own threads keep theirs (its main thread's is the one /proc/self
// shows), or its in-process measurements would run with it.
func TestTimerSlackLeavesTheBenchsThreads(t *testing.T) {
	before, err := os.ReadFile("/proc/self/timerslack_ns")
	if err != nil {
		t.Skipf("no timerslack_ns: %v", err)
	}
	defer func(d time.Duration) { timerSlack = d }(timerSlack)
	timerSlack = 7 * time.Millisecond
	for range 20 {
		cmd := exec.Command("sleep", "60")
		if err := startProcess(cmd); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/timerslack_ns")
		cmd.Process.Kill()
		cmd.Wait()
		if err != nil || strings.TrimSpace(string(b)) != "7000000" {
			t.Fatalf("the started process's timer slack: %q (%v), want 7000000", b, err)
		}
	}
	if after, _ := os.ReadFile("/proc/self/timerslack_ns"); string(after) != string(before) {
		t.Errorf("the bench's main thread's timer slack went from %s to %s", strings.TrimSpace(string(before)), strings.TrimSpace(string(after)))
	}
}
