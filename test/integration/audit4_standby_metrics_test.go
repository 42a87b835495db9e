package integration

import (
	"fmt"
	"testing"
	"time"
)

// TestAudit4StandbyMetricsFollowTheJournal: issue 15 has standbys serve
// /metrics, and the README says the state_* gauges "are read from the
// state records at each scrape". A standby reads the Kubernetes journal
// at start (and at a reload) only, so for as long as it stands by it
// exports the records as they were when it started: the creation times
// of keys rotated since (rotatord_key_created_timestamp_seconds),
// rotations in flight that the leader finished long ago
// (rotatord_state_records, rotatord_state_oldest_phase_timestamp_seconds,
// rotatord_keys_pending_deletion). The shipped alerts are per instance:
// a standby fires RotatordKeyTooOld (critical) once 1.1 x max_age has
// passed since it started, whatever the leader does, and
// RotatordRotationStuck / RotatordDeletionOverdue an hour after it
// started while a pass was in flight.
func TestAudit4StandbyMetricsFollowTheJournal(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	h := newHAEnv(t, c, "audit4-standby-metrics")
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
	time.Sleep(2 * time.Second)
	for _, n := range haNames {
		lv, _ := created(leader, n)
		sv, sok := created(standby, n)
		t.Logf("%s: created at %v says the leader, %v (present %v) the standby", n, lv, sv, sok)
		if sok && sv != lv {
			t.Errorf("standby %s exports rotatord_key_created_timestamp_seconds %v for %s, the key rotated since (the leader: %v)", standby.name, sv, n, lv)
		}
	}
	lm, sm := leader.metrics(), standby.metrics()
	for _, phase := range []string{"none", "intent", "created", "delivered"} {
		s := fmt.Sprintf(`rotatord_state_records{account="default",phase=%q,policy="ci"}`, phase)
		lv, _ := metricValue(lm, s)
		sv, sok := metricValue(sm, s)
		t.Logf("%s: leader %v, standby %v (%v)", s, lv, sv, sok)
	}
}
