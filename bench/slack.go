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
// The thread's own slack is then put back before the thread returns to
// the runtime: left set, the thread would end with the goroutine, unless
// it is the main thread, which the runtime never ends but parks for good,
// slack and all (what /proc/PID/timerslack_ns shows of the bench).
func startProcess(cmd *exec.Cmd) error {
	if timerSlack <= 0 {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		was, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("read the timer slack: %w", err)
			return
		}
		if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(timerSlack.Nanoseconds()), 0, 0, 0); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("set the timer slack: %w", err)
			return
		}
		err = cmd.Start()
		if unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(was), 0, 0, 0) == nil {
			// Otherwise the thread keeps the slack, and ends with this
			// goroutine (the main thread is parked).
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}
