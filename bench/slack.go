package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// timerSlack, when not zero, is the timer slack the rotatord processes
// start with (-timer-slack): what systemd's TimerSlackNSec= gives the
// shipped unit's process.
var timerSlack time.Duration

// startProcess starts cmd. With a timer slack, it is started from a
// thread of its own whose slack is set first: a thread created by clone
// takes its creator's slack, and execve keeps it, so every thread of the
// new process has it, the Go runtime's monitor thread (sysmon) included.
func startProcess(cmd *exec.Cmd) error {
	if timerSlack <= 0 {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		// The thread is not given back to the runtime: it keeps the slack,
		// and ends with this goroutine.
		runtime.LockOSThread()
		if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(timerSlack.Nanoseconds()), 0, 0, 0); err != nil {
			errc <- fmt.Errorf("set the timer slack: %w", err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}
