package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// deletionResult is how long after the end of their grace period
// `rotatord run` deleted the old keys.
type deletionResult struct {
	names       int
	grace       time.Duration
	maxDelay    time.Duration
	medianDelay time.Duration
}

// measureDeletion adopts -deletion-names names, then runs `rotatord run`
// on a policy under which every one of them is due at once (max_age 1s,
// counted from the adoption) with grace_period -deletion-grace. From its
// log: when each old key was to go (delete_old_after of "rotation
// delivered") and when it went (ts of "old key deleted"). The deletion
// needs a GET and a DELETE, so the delay is at least twice the latency.
func (b *bencher) measureDeletion(ctx context.Context) (deletionResult, error) {
	p := b.p
	n := p.deleteNames
	d := deletionResult{names: n, grace: p.deleteGrace}
	w, _, err := b.prepare(ctx, "deletion", simSpec{managed: n, latency: p.latency}, filepath.Join(p.workDir, "deletion", "state"), b.policy())
	if err != nil {
		return d, err
	}
	defer w.sim.stop()
	// The schedule (every 24h) runs no pass while the bench watches: the
	// pass at start rotates every name, and the new keys, due a second
	// later, stay.
	w.spec.maxAge = "1s"
	w.spec.gracePeriod = p.deleteGrace.String()
	if err := w.writePolicy(); err != nil {
		return d, err
	}
	select {
	case <-time.After(1100 * time.Millisecond): // the adopted keys pass max_age
	case <-ctx.Done():
		return d, ctx.Err()
	}
	dm, err := w.start(ctx)
	if err != nil {
		return d, err
	}
	defer dm.stop()
	wctx, cancel := context.WithTimeout(ctx, p.deleteGrace+5*time.Minute)
	defer cancel()
	for {
		deleted, err := readLog(dm.log, "old key deleted")
		if err != nil {
			return d, err
		}
		if len(deleted) >= n {
			break
		}
		select {
		case <-wctx.Done():
			return d, fmt.Errorf("%d of %d old keys deleted: %w (log: %s)", len(deleted), n, wctx.Err(), dm.log)
		case <-time.After(50 * time.Millisecond):
		}
	}
	dm.stop()

	due := map[string]time.Time{}
	delivered, err := readLog(dm.log, "rotation delivered")
	if err != nil {
		return d, err
	}
	for _, e := range delivered {
		if _, dup := due[e.Name]; dup || !strings.HasPrefix(e.Name, keyPrefix) {
			return d, fmt.Errorf("%s rotated more than once, or not a managed name (log: %s)", e.Name, dm.log)
		}
		if due[e.Name], err = time.Parse(logTime, e.DeleteOldAfter); err != nil {
			return d, fmt.Errorf("delete_old_after of %s: %w", e.Name, err)
		}
	}
	deleted, err := readLog(dm.log, "old key deleted")
	if err != nil {
		return d, err
	}
	var delays []time.Duration
	for _, e := range deleted {
		after, ok := due[e.Name]
		if !ok {
			return d, fmt.Errorf("old key of %s deleted with no rotation delivered (log: %s)", e.Name, dm.log)
		}
		at, err := time.Parse(logTime, e.TS)
		if err != nil {
			return d, fmt.Errorf("ts of a deletion: %w", err)
		}
		delays = append(delays, at.Sub(after))
	}
	if len(delays) != n || len(due) != n {
		return d, fmt.Errorf("%d rotations delivered and %d old keys deleted, want %d of each (log: %s)", len(due), len(delays), n, dm.log)
	}
	slices.Sort(delays)
	d.maxDelay, d.medianDelay = delays[n-1], delays[n/2]
	return d, nil
}
