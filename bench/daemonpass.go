package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// daemonPass is the pass of `rotatord run` that rotates every name, with
// a grace period of an hour: the way a daemon under a default-like policy
// rotates, its old keys left for later. The forced passes of `once` have
// no grace period; this one keeps every delivered rotation waiting for
// its deletion, which the deleter's timer must follow without reading
// every record at each rotation (at 10,000 names that once took the
// pass to 1.71x its bound and 15.5 ms of CPU a rotation).
type daemonPass struct {
	n        int
	wall     time.Duration // the pass's duration, as its "pass done" line says
	cpu      time.Duration // the daemon's, from its start to the end of the pass
	peakRSS  int64         // VmHWM at the end of the pass
	latBound time.Duration
}

func (d daemonPass) vsBound() float64 { return ratio(d.wall, d.latBound) }

func (d daemonPass) cpuPerRotation() float64 {
	return float64(d.cpu.Microseconds()) / 1000 / float64(d.n)
}

// measureDaemonPass adopts -daemon-pass-n names, then starts `rotatord
// run` on a policy under which all of them are due (max_age 1s, counted
// from the adoption) with grace_period 1h, and waits for its first pass.
func (b *bencher) measureDaemonPass(ctx context.Context) (daemonPass, error) {
	p := b.p
	n := p.daemonPassN
	dp := daemonPass{n: n}
	w, _, err := b.prepare(ctx, "daemon-pass", simSpec{managed: n, latency: p.latency}, filepath.Join(p.workDir, "daemon-pass", "state"), b.policy())
	if err != nil {
		return dp, err
	}
	defer w.sim.stop()
	w.spec.maxAge = "1s"
	w.spec.gracePeriod = "1h"
	if err := w.writePolicy(); err != nil {
		return dp, err
	}
	select {
	case <-time.After(1100 * time.Millisecond): // the adopted keys pass max_age
	case <-ctx.Done():
		return dp, ctx.Err()
	}
	before, err := w.sim.calls()
	if err != nil {
		return dp, err
	}
	dm, err := w.start(ctx)
	if err != nil {
		return dp, err
	}
	defer dm.stop()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	line, err := waitLine(wctx, dm.log, `"pass done"`)
	if err != nil {
		return dp, err
	}
	pid := dm.cmd.Process.Pid
	if dp.cpu, _, err = procStat(pid); err != nil {
		return dp, err
	}
	if dp.peakRSS, err = peakRSS(pid); err != nil {
		return dp, err
	}
	dm.stop()
	var done logEntry
	if err := json.Unmarshal([]byte(line), &done); err != nil || done.Duration <= 0 {
		return dp, fmt.Errorf("cannot read the pass's duration from %q", line)
	}
	if done.Rotated != n || done.Failed != 0 {
		return dp, fmt.Errorf("the daemon's pass rotated %d and failed %d of %d names (log: %s)", done.Rotated, done.Failed, n, dm.log)
	}
	dp.wall = time.Duration(done.Duration * float64(time.Second))
	after, err := w.sim.calls()
	if err != nil {
		return dp, err
	}
	c := after.sub(before)
	if creates := c.ok(exosim.OpCreateAPIKey); creates != n || c.n(exosim.OpDeleteAPIKey) != 0 {
		return dp, fmt.Errorf("the daemon's pass made %d creates and %d deletes for %d names, want %d and none", creates, c.n(exosim.OpDeleteAPIKey), n, n)
	}
	if live, most, err := w.sim.liveManaged(); err != nil || live != 2*n || most > 2 {
		return dp, fmt.Errorf("after the daemon's pass %d managed keys are alive (want %d: the old ones wait out the grace period), at most %d of a name (%v)", live, 2*n, most, err)
	}
	crit := c.n(exosim.OpCreateAPIKey) + c.n(exosim.OpGetAPIKey)
	dp.latBound = time.Duration(float64(w.sim.latency) * (float64(c.n(exosim.OpListAPIKeys)) + float64(crit)/float64(w.spec.effConcurrency())))
	return dp, nil
}

// peakRSS reads a process's largest resident set (VmHWM).
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" && f[2] == "kB" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
