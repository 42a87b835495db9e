package exosim

import (
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// sleepTimerFD waits d on a timer file (timerfd) read through the
// runtime's network poller, or until ctx ends, and reports which: true
// when the wait ran its course. It returns an error, having waited
// nothing, when the timer cannot be set up.
func sleepTimerFD(ctx context.Context, d time.Duration) (bool, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return false, err
	}
	// A non-blocking descriptor: os.NewFile registers it with the poller.
	f := os.NewFile(uintptr(fd), "timerfd")
	defer f.Close()
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d.Nanoseconds())}
	if err := unix.TimerfdSettime(fd, 0, &spec, nil); err != nil {
		return false, err
	}
	// A backstop at the same time, which the runtime keeps as a timer: a
	// processor looks at the poller only when it has nothing else to run
	// (or the runtime's monitor does, every 10 ms), so with every
	// processor busy the timer file's wake-up can wait that long, while
	// the runtime's timers are run at each switch of goroutines.
	if err := f.SetReadDeadline(time.Now().Add(d)); err != nil {
		return false, err
	}
	// An ended context makes the read return at once.
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var expirations [8]byte
	if _, err := f.Read(expirations[:]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		if ctx.Err() != nil {
			return false, nil
		}
		return false, err
	}
	// Woken by the timer file, the backstop or an ended context.
	return ctx.Err() == nil, nil
}
