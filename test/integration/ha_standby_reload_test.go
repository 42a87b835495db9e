package integration

import (
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestHAStandbyReloadTakesEffectWhenItLeads: a standby reloaded with a
// policy file that adds a policy accepts it without acting (no write of
// its own reaches Exoscale or the API server), and applies it once it
// leads after the leader is killed.
func TestHAStandbyReloadTakesEffectWhenItLeads(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	h := newHAEnv(t, c, "standby-reload")
	h.startReplicas(2, haPolicy("1h", "1s"))
	leader := h.waitLeader(h.replicas, 30*time.Second)
	h.waitSettled(nil, 60*time.Second)
	standby := others(h.replicas, leader)[0]
	backup := h.sim.only("backup-agent")

	// The standby's file gains a policy for backup-agent.
	more := haPolicy("1h", "1s") + `  - name: backup
    match: {name: backup-agent}
    schedule: "@every 1s"
    max_age: 1h
    grace_period: 1s
    adopt: rotate
    sinks:
      - {type: kubernetes, namespace: $NS, name: "bk-{{.Name}}", kubeconfig: $KUBECONFIG}
`
	cfg := h.configFor(standby.name, standby.proxy, more)
	if cfg != standby.config {
		t.Fatalf("config path changed: %s, was %s", cfg, standby.config)
	}
	since := time.Now()
	standby.signal(syscall.SIGHUP)
	standby.waitLog(30*time.Second, "configuration reloaded")
	if code, body := standby.http(http.MethodGet, "/readyz"); code != http.StatusOK {
		t.Errorf("standby after the reload: /readyz %d %s", code, body)
	}
	time.Sleep(3 * time.Second)
	if w := standby.proxy.writes(since); len(w) != 0 {
		t.Errorf("the standby wrote to the API server after its reload: %v", w)
	}
	for _, r := range h.sim.requests("") {
		if r.replica() != leader.identity() {
			t.Errorf("an Exoscale call not by the leader: %v", r)
		}
	}
	if got := h.sim.only("backup-agent").Key; got != backup.Key {
		t.Fatalf("backup-agent rotated by the leader, which was not reloaded: %s", got)
	}

	// The leader dies: the standby leads with the reloaded file.
	leader.kill()
	next := h.waitLeader([]*replica{standby}, 60*time.Second)
	eventually(t, 60*time.Second, func() (bool, string) {
		k, _, ok := h.secretHolds("bk-backup-agent")
		if !ok || k == backup.Key {
			return false, "backup-agent not rotated into its Secret yet"
		}
		return true, ""
	})
	_ = next
	h.env.checkNoSecretInOutput()
}
