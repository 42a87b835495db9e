package integration

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestOwnKeyVaultKilledAtEachStep: rotatord's credential lives in Vault;
// it is killed (SIGKILL) at a step of its own rotation, and the restarted
// process must authenticate with what Vault holds, finish or roll back,
// and leave exactly one live own key, the one in Vault.
func TestOwnKeyVaultKilledAtEachStep(t *testing.T) {
	t.Parallel()
	v := startVault(t)
	tests := []struct {
		name     string
		faults   string
		killWhen func(e *env, d *daemonProc)
		// revokeOld deletes the old key after the kill, as someone
		// cleaning up two admin keys would.
		revokeOld bool
		// once: a 'once' runs before the restart (run backs off a
		// minute after a failure; once retries now).
		once bool
	}{
		{
			name:   "create-in-flight",
			faults: `{"create-api-key": {"latency": "3s"}}`,
			killWhen: func(e *env, d *daemonProc) {
				d.waitLog(20*time.Second, "rotation started", "policy", selfPolicy)
				time.Sleep(500 * time.Millisecond)
			},
		},
		{
			name:   "create-applies-late",
			faults: `{"create-api-key": {"late_apply": "6s"}}`,
			killWhen: func(e *env, d *daemonProc) {
				d.waitLog(20*time.Second, "replacement created", "policy", selfPolicy)
				time.Sleep(1500 * time.Millisecond)
			},
		},
		{
			name:   "just-switched",
			faults: `{"get-api-key": {"latency": "2s"}}`,
			killWhen: func(e *env, d *daemonProc) {
				d.waitLog(30*time.Second, "signing with the new key", "policy", selfPolicy)
			},
		},
		{
			name:   "confirm-failed",
			faults: `{"get-api-key": {"error_next": 5, "error_status": 500}}`,
			killWhen: func(e *env, d *daemonProc) {
				d.waitLog(30*time.Second, "rotation failed", "policy", selfPolicy)
			},
			once: true,
		},
		{
			name:   "confirm-failed-old-revoked",
			faults: `{"get-api-key": {"error_next": 5, "error_status": 500}}`,
			killWhen: func(e *env, d *daemonProc) {
				d.waitLog(30*time.Second, "rotation failed", "policy", selfPolicy)
			},
			revokeOld: true,
			once:      true,
		},
		{
			name: "grace-period",
			killWhen: func(e *env, d *daemonProc) {
				d.waitLog(30*time.Second, "rotation delivered", "policy", selfPolicy)
			},
			revokeOld: true,
		},
	}
	for _, tt := range tests {
		// One Vault, one secret path: the cases run one after the other.
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			old := e.sim.Admin
			v.srv.Root(t, http.MethodPost, "secret/data/rotatord/"+adminName, map[string]any{
				"data": map[string]string{"api_key": old.Key, "api_secret": old.Secret, "name": adminName, "role_id": roleAdmin, "created_at": time.Now().UTC().Format(time.RFC3339)},
			}, nil)
			writeFileAtomic(t, e.config, ownVaultConfig(e, v, ownCrashKey, ownQuietPolicy))
			if tt.faults != "" {
				e.sim.setFaults(tt.faults)
			}
			d := e.startDaemon()
			tt.killWhen(e, d)
			d.kill()
			killed, _, ok := v.held(t, adminName)
			if !ok || !e.sim.authenticates(killed.Key, killed.Secret) {
				t.Errorf("after the kill Vault holds %s (present %v), which does not authenticate", killed.Key, ok)
			}
			e.sim.clearFaults()
			if tt.name == "create-applies-late" {
				time.Sleep(6 * time.Second) // the late create applies
			}
			if tt.revokeOld && killed.Key != old.Key {
				e.sim.do("DELETE", "/_sim/keys/"+old.Key, nil, nil)
			}
			writeFileAtomic(t, e.config, ownVaultConfig(e, v, ownSettledKey, ownQuietPolicy))
			if tt.once {
				checkNoAuthErrors(t, "once after the kill", e.mustRun("once").logs())
			}
			d2 := e.startDaemon()
			eventually(t, 40*time.Second, func() (bool, string) {
				held, _, _ := v.held(t, adminName)
				live := e.sim.live(adminName)
				r := e.records()[adminName]
				if len(live) != 1 || live[0].Key != held.Key || r.Rotation != nil {
					return false, fmt.Sprintf("%s: live %v, Vault holds %s; rotation %+v\n%s", adminName, ids(live), held.Key, r.Rotation, summary(d2.logs()))
				}
				return true, ""
			})
			d2.stop()
			checkNoAuthErrors(t, "restarted process", d2.logs())
			held, _, _ := v.held(t, adminName)
			if !e.sim.authenticates(held.Key, held.Secret) {
				t.Errorf("Vault holds %s, which does not authenticate", held.Key)
			}
			r := e.mustRun("once")
			checkNoAuthErrors(t, "once", r.logs())
			e.sim.checkMaxLive(2, adminName)
		})
	}
}
