package integration

import (
	"fmt"
	"testing"
	"time"
)

// TestStandbyMetricsFollowTheJournal: standbys serve /metrics (issue 15)
// from their copy of the Kubernetes journal, and the shipped alerts read
// the key creation times and rotations in flight from those series. A
// standby reads the journal again every 30 s (standbyJournalRefresh), so
// it exports the keys the leader rotated since it started; before, it
// exported the journal as it was at its start, and fired
// RotatordKeyTooOld once 1.1 x max_age had passed, whatever the leader
// did.
func TestStandbyMetricsFollowTheJournal(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	h := newHAEnv(t, c, "standby-metrics")
	old := h.oldKeys()
	// Every name rotates every 12 s or so.
	h.startReplicas(1, haPolicy("12s", "1s"))
	leader := h.waitLeader(h.replicas, 30*time.Second)
	h.waitSettled(old, 60*time.Second)
	// A standby starts now: it reads the journal as it is.
	h.startReplicas(1, haPolicy("12s", "1s"))
	standby := h.replicas[1]
	created := func(r *replica, n string) (float64, bool) {
		return metricValue(r.metrics(), fmt.Sprintf(`rotatord_key_created_timestamp_seconds{account="default",name=%q,policy="ci"}`, n))
	}
	first := map[string]float64{}
	for _, n := range haNames {
		first[n], _ = created(leader, n)
	}
	// Wait for the leader to rotate every name again.
	eventually(t, 60*time.Second, func() (bool, string) {
		for _, n := range haNames {
			if v, _ := created(leader, n); v == first[n] {
				return false, n + " not rotated again yet"
			}
		}
		return true, ""
	})
	// The standby shows keys created after it started within one refresh
	// period (30 s), with room for a slow machine.
	eventually(t, 50*time.Second, func() (bool, string) {
		for _, n := range haNames {
			lv, _ := created(leader, n)
			sv, sok := created(standby, n)
			if !sok || sv <= first[n] {
				return false, fmt.Sprintf("standby %s exports rotatord_key_created_timestamp_seconds %v (present %v) for %s, a key rotated since (the leader: %v)", standby.name, sv, sok, n, lv)
			}
		}
		return true, ""
	})
	lm, sm := leader.metrics(), standby.metrics()
	for _, phase := range []string{"none", "intent", "created", "delivered"} {
		s := fmt.Sprintf(`rotatord_state_records{account="default",phase=%q,policy="ci"}`, phase)
		lv, _ := metricValue(lm, s)
		sv, sok := metricValue(sm, s)
		t.Logf("%s: leader %v, standby %v (%v)", s, lv, sv, sok)
	}
}
