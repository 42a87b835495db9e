package exosim

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestSleepWaitsAndGivesUp: the latency's wait lasts at least what it was
// told, with the timer file and without, and ends when the request is
// abandoned.
func TestSleepWaitsAndGivesUp(t *testing.T) {
	ctx := context.Background()
	for name, wait := range map[string]func(context.Context, time.Duration) bool{
		"sleep":    sleep,
		"spinning": func(ctx context.Context, d time.Duration) bool { return sleepSpinning(ctx, time.Now().Add(d)) },
	} {
		t.Run(name, func(t *testing.T) {
			for _, d := range []time.Duration{time.Millisecond, 30 * time.Millisecond} {
				start := time.Now()
				if !wait(ctx, d) {
					t.Fatalf("%s: gave up without a reason", d)
				}
				if took := time.Since(start); took < d {
					t.Errorf("waited %s, told %s", took, d)
				}
			}
			cctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(20*time.Millisecond, cancel)
			done := make(chan bool, 1)
			go func() { done <- wait(cctx, time.Hour) }()
			select {
			case ok := <-done:
				if ok {
					t.Error("an abandoned wait reported that it waited its time")
				}
			case <-time.After(30 * time.Second):
				t.Fatal("an abandoned wait did not end")
			}
			if wait(cctx, time.Millisecond) {
				t.Error("a wait for an abandoned request reported that it waited")
			}
		})
	}
}

// TestSleepTimerFD: on Linux the wait goes through a timer file, and
// leaves no descriptor behind.
func TestSleepTimerFD(t *testing.T) {
	before := openFDs(t)
	ok, err := sleepTimerFD(context.Background(), 5*time.Millisecond)
	if err != nil {
		t.Skipf("no timer file here: %v", err)
	}
	if !ok {
		t.Fatal("a wait without a deadline gave up")
	}
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, err := sleepTimerFD(cctx, time.Hour); ok || err != nil {
		t.Fatalf("a wait for an abandoned request: %t, %v; want false, nil", ok, err)
	}
	if after := openFDs(t); after > before {
		t.Errorf("%d descriptors open after the waits, %d before", after, before)
	}
}

// openFDs counts this process's open descriptors (Linux), or skips.
func openFDs(t *testing.T) int {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("counts descriptors in /proc/self/fd")
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	return len(ents)
}
