package integration

import (
	"fmt"
	"testing"
	"time"
)

// TestOwnKeyOldRevokedAfterFailedConfirmation: the confirmation of a new own
// key failed, so rotatord went back to signing with the old key while the
// credential file already holds the new one (the rotation stays in its
// created phase). Someone then deletes the old key (two admin keys: the
// older one looks stale). The running daemon must carry on with the key
// the file holds, not fail every pass on the dead one until a restart.
func TestOwnKeyOldRevokedAfterFailedConfirmation(t *testing.T) {
	t.Parallel()
	o := newOwnEnv(t)
	o.writeOwnConfig(ownCrashKey, ownQuietPolicy)
	old := o.sim.Admin
	o.sim.setFaults(`{"get-api-key": {"error_next": 5, "error_status": 500}}`)

	d := o.startDaemon()
	d.waitLog(30*time.Second, "signing with the new key", "policy", selfPolicy)
	failed := d.waitLog(30*time.Second, "rotation failed", "policy", selfPolicy)
	held := o.stored()
	if r := o.records()[adminName]; held.Key == old.Key || r.Rotation == nil || r.Rotation.Phase != "created" || r.Rotation.NewKeyID != held.Key {
		t.Fatalf("after the failed confirmation: file holds %s (old %s), rotation %+v; want phase created of the file's key", held.Key, old.Key, r.Rotation)
	}
	o.sim.clearFaults()
	o.sim.do("DELETE", "/_sim/keys/"+old.Key, nil, nil)
	since := time.Now()

	// Passes after the deletion list keys: they must be signed with a key
	// that works, the one the credential file holds.
	eventually(t, 20*time.Second, func() (bool, string) {
		n := 0
		for _, l := range d.logs() {
			if l.str("msg") == "pass done" && logTime(t, l, "ts").After(since) {
				n++
			}
		}
		return n >= 3, fmt.Sprintf("%d passes done since the old key's deletion (failure at %s):\n%s", n, failed.str("ts"), summary(d.logs()))
	})
	var late []logLine
	for _, l := range authErrors(d.logs()) {
		if logTime(t, l, "ts").After(since.Add(5 * time.Second)) {
			late = append(late, l)
		}
	}
	if len(late) > 0 {
		t.Errorf("the API still refuses rotatord's credential 5s after the old key's deletion:\n%s", summary(late))
	}
	t.Logf("%s", summary(d.logs()))
	d.stop()
	o.writeOwnConfig(ownSettledKey, ownQuietPolicy)
	o.mustRun("once")
	got := o.checkStored()
	if live := o.sim.live(adminName); len(live) != 1 || live[0].Key != got.Key {
		t.Errorf("%s: live %v, the credential file holds %s", adminName, ids(live), got.Key)
	}
	o.checkNoSecretLeak()
}

// TestOwnKeyNewRevokedAfterFailedConfirmation: as above, but someone
// deletes the new key, which the credential file holds while rotatord signs
// with the old one. The file must not go on holding a dead key: killed
// then, a restart would read it and be locked out, the old key alive and
// its secret nowhere. The file gets the working key back, and a process
// killed and restarted after that authenticates.
func TestOwnKeyNewRevokedAfterFailedConfirmation(t *testing.T) {
	t.Parallel()
	o := newOwnEnv(t)
	o.writeOwnConfig(ownCrashKey, ownQuietPolicy)
	old := o.sim.Admin
	o.sim.setFaults(`{"get-api-key": {"error_next": 5, "error_status": 500}}`)

	d := o.startDaemon()
	d.waitLog(30*time.Second, "signing with the new key", "policy", selfPolicy)
	d.waitLog(30*time.Second, "rotation failed", "policy", selfPolicy)
	held := o.stored()
	if r := o.records()[adminName]; held.Key == old.Key || r.Rotation == nil || r.Rotation.Phase != "created" || r.Rotation.NewKeyID != held.Key {
		t.Fatalf("after the failed confirmation: file holds %s (old %s), rotation %+v; want phase created of the file's key", held.Key, old.Key, r.Rotation)
	}
	o.sim.clearFaults()
	o.sim.do("DELETE", "/_sim/keys/"+held.Key, nil, nil)
	eventually(t, 15*time.Second, func() (bool, string) {
		c := o.stored()
		return o.sim.authenticates(c.Key, c.Secret), fmt.Sprintf("the credential file still holds %s, deleted", c.Key)
	})
	d.kill()

	o.writeOwnConfig(ownSettledKey, ownQuietPolicy)
	d2 := o.startDaemon()
	eventually(t, 20*time.Second, func() (bool, string) {
		return countLogs(d2.logs(), "pass done") >= 3, "no passes done after the restart:\n" + summary(d2.logs())
	})
	d2.stop()
	checkNoAuthErrors(t, "restarted process", d2.logs())
	o.checkStored()
	o.checkNoSecretLeak()
}
