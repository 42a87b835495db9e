package integration

import (
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// term is one replica's leadership, from its "leading" line to its "no
// longer leading" line (or the end of its log).
type term struct {
	replica  string
	identity string
	from, to time.Time
}

func leaderLogTime(l logLine) time.Time {
	ts, _ := time.Parse("2006-01-02T15:04:05.000Z0700", l.str("ts"))
	return ts
}

// terms reads every replica's leadership terms from its log.
func (h *haEnv) terms(end time.Time) []term {
	var out []term
	for _, r := range h.replicas {
		var cur *term
		for _, l := range r.logs() {
			switch l.msg() {
			case logLeading:
				cur = &term{replica: r.name, identity: l.str("identity"), from: leaderLogTime(l), to: end}
			case logNotLeading:
				if cur != nil {
					cur.to = leaderLogTime(l)
					out = append(out, *cur)
					cur = nil
				}
			}
		}
		if cur != nil {
			out = append(out, *cur)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].from.Before(out[j].from) })
	return out
}

// TestHAFrozenAPIServerNeverTwoLeaders: the API server frozen (SIGSTOP)
// for three lease durations while the leader rotates, then thawed: no two
// replicas' terms overlap, every Exoscale write falls in its replica's
// term, and the names end with one live key held by their Secret.
func TestHAFrozenAPIServerNeverTwoLeaders(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	h := newHAEnv(t, c, "frozen")
	h.startReplicas(3, haPolicy("3s", "1s"))
	h.waitLeader(h.replicas, 30*time.Second)
	time.Sleep(5 * time.Second) // rotations under way
	if err := c.SignalAPIServer(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	time.Sleep(3 * haLeaseDuration)
	if err := c.SignalAPIServer(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server frozen for %v", time.Since(stoppedAt).Round(time.Millisecond))
	h.waitLeader(h.replicas, 60*time.Second)
	time.Sleep(10 * time.Second)
	// Exoscale's request log is read before the terms' end: the leader
	// rotates all along, and a write of it received after end would lie
	// outside its term as read.
	simWrites := h.sim.requests("?writes=1")
	end := time.Now()

	terms := h.terms(end)
	var desc []string
	for _, tm := range terms {
		desc = append(desc, fmt.Sprintf("%s (%s) %s-%s", tm.replica, tm.identity, tm.from.Format("15:04:05.000"), tm.to.Format("15:04:05.000")))
	}
	t.Logf("terms:\n%s", strings.Join(desc, "\n"))
	for i := 1; i < len(terms); i++ {
		for j := 0; j < i; j++ {
			if terms[j].replica != terms[i].replica && terms[i].from.Before(terms[j].to) {
				t.Errorf("two leaders at once: %s from %s, while %s led until %s", terms[i].replica, terms[i].from.Format("15:04:05.000"),
					terms[j].replica, terms[j].to.Format("15:04:05.000"))
			}
		}
	}
	writes := 0
	for _, r := range simWrites {
		writes++
		in := false
		for _, tm := range terms {
			// Log times have millisecond resolution.
			if r.replica() == tm.identity && !r.Received.Before(tm.from.Add(-time.Millisecond)) && !r.Received.After(tm.to.Add(time.Millisecond)) {
				in = true
			}
		}
		if !in {
			t.Errorf("Exoscale write outside its replica's term: %v", r)
		}
	}
	t.Logf("%d Exoscale writes checked", writes)
	for _, n := range haNames {
		checkLive(h, n)
	}
	h.sim.checkMaxLive(2, haNames...)
	h.env.checkNoSecretInOutput()
}
