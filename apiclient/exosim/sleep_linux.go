package exosim

import (
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// sleepTimerFD waits d on a timer file (timerfd) read through the
// runtime's network poller, or until ctx ends, and reports which. It
// returns an error, having waited nothing, when the timer cannot be set
// up.
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
	// An ended context makes the read return at once.
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var expirations [8]byte
	if _, err := f.Read(expirations[:]); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
			return false, nil
		}
		return false, err
	}
	return ctx.Err() == nil, nil
}
