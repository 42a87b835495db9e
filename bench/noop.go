package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The no-op pass is one listing and rotatord's own work. Two measures,
// each against the listing it makes: the daemon's scheduled pass (a warm
// process and connection) against the SDK's listing in a process that
// just listed, and `rotatord once` (a fresh process: its heap, its code
// pages and its connection are new) against the SDK's first listing in a
// fresh process.

// daemonNoop runs `rotatord run` on w with a pass every second and returns
// the median of the durations it logs for passes passes, the pass at
// start left out. Each must have rotated nothing and failed nothing.
//
// Between those passes, a quarter of a second after the bench sees each
// one end (it reads the log every 50 ms), list makes one listing with the
// SDK, and daemonNoop returns the median of those too: a listing made at
// the same pace as the daemon's passes (a connection idle for most of a
// second), on the same host at the same moments, so that what changes the
// daemon's pass from one second to the next (another process, the page
// cache, the CPU's clock) changes the listing's too.
func daemonNoop(ctx context.Context, w *world, passes int, list func() (time.Duration, error)) (pass, listing time.Duration, err error) {
	spec, env := w.spec, w.env
	w.spec.schedule, w.env = "@every 1s", append(slices.Clip(env), "ROTATORD_TEST_MIN_SCHEDULE=1s")
	defer func() {
		w.spec, w.env = spec, env
		_ = w.writePolicy()
	}()
	if err := w.writePolicy(); err != nil {
		return 0, 0, err
	}
	dm, err := w.start(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer dm.stop()
	deadline := time.Now().Add(time.Duration(2*passes+60) * time.Second)
	var listings []time.Duration
	seen := 0 // passes logged
	for {
		done, err := readLog(dm.log, "pass done")
		if err != nil {
			return 0, 0, err
		}
		if len(done) > passes && len(listings) >= passes {
			dm.stop()
			var took []time.Duration
			for _, e := range done[1 : passes+1] {
				if e.Rotated != 0 || e.Failed != 0 || e.Duration <= 0 {
					return 0, 0, fmt.Errorf("%s: a scheduled pass rotated %d names and failed %d: not a no-op pass", dm.log, e.Rotated, e.Failed)
				}
				took = append(took, time.Duration(e.Duration*float64(time.Second)))
			}
			return median(took), median(listings), nil
		}
		if len(done) > seen {
			// A pass (the one at start excepted) just ended: the next
			// begins about a second after it began.
			seen = len(done)
			if seen > 1 && len(listings) < passes {
				if err := pause(ctx, 250*time.Millisecond); err != nil {
					return 0, 0, err
				}
				d, err := list()
				if err != nil {
					return 0, 0, fmt.Errorf("a listing between the daemon's passes: %w", err)
				}
				listings = append(listings, d)
			}
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%s: %d scheduled passes logged, want %d", dm.log, len(done)-1, passes)
		}
		if err := pause(ctx, 50*time.Millisecond); err != nil {
			return 0, 0, err
		}
	}
}

func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// coldListingEnv makes the bench binary (or the test binary of the
// package) list the keys once and exit: see coldListingChild.
const coldListingEnv = "ROTATORD_BENCH_COLD_LISTING"

// coldListing times the SDK's first listing in a fresh process, from the
// client's creation to the decoded answer, times times, and returns the
// median.
func coldListing(ctx context.Context, endpoint, key, secret string, times int) (time.Duration, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	var took []time.Duration
	for range times {
		cmd := exec.CommandContext(ctx, self)
		cmd.Env = append(os.Environ(), coldListingEnv+"="+endpoint+" "+key+" "+secret)
		out, err := cmd.Output()
		if err != nil {
			return 0, fmt.Errorf("cold listing: %w", err)
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cold listing: %q: %w", out, err)
		}
		took = append(took, time.Duration(ns))
	}
	return median(took), nil
}

// coldListingChild is the child's side of coldListing: when the
// environment asks for it, it lists once, prints the nanoseconds it took
// and returns true; the caller then exits.
func coldListingChild() bool {
	v := os.Getenv(coldListingEnv)
	if v == "" {
		return false
	}
	f := strings.Fields(v)
	if len(f) != 3 {
		fmt.Fprintln(os.Stderr, coldListingEnv+": want endpoint, key and secret")
		os.Exit(2)
	}
	took, err := timeListing(context.Background(), f[0], f[1], f[2], 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(took.Nanoseconds())
	return true
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
