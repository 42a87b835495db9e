package integration

// Review of issue 13 with the real binaries.

import (
	"syscall"
	"testing"
	"time"
)

// SIGHUP while rotatord waits for its new own key to sign (the API applies
// the create 3 s late): the reload reads the credential file before the
// new key reaches it, and installs its client (signing with the old key)
// once the rotation is done. With grace_period 0s that key is deleted by
// then: every later request of the running process is refused, until a
// restart reads the file again.
func TestReloadDuringOwnRotation(t *testing.T) {
	t.Parallel()
	o := newOwnEnv(t)
	o.writeOwnConfig(`{schedule: "@every 1s", max_age: 1s, grace_period: 0s}`, ownQuietPolicy)
	o.sim.setFaults(`{"create-api-key": {"late_apply": "3s", "late_apply_next": 1}}`)
	d := o.startDaemon()
	d.waitLog(30*time.Second, "replacement created", "policy", selfPolicy, "name", adminName)
	time.Sleep(300 * time.Millisecond)
	d.signal(syscall.SIGHUP)
	// No more own rotations from here: their failures would hide the cause.
	o.writeOwnConfig(`{schedule: "@every 1s", max_age: 1h, grace_period: 0s}`, ownQuietPolicy)
	delivered := d.waitLog(30*time.Second, "rotation delivered", "policy", selfPolicy, "name", adminName)
	reloaded := d.waitLog(30*time.Second, "configuration reloaded")
	t.Logf("own key delivered at %s, reload done at %s", delivered.str("ts"), reloaded.str("ts"))
	time.Sleep(4 * time.Second) // the own key's passes list the keys every second
	d.stop()
	var after []logLine
	for _, l := range d.logs() {
		if logTime(t, l, "ts").After(logTime(t, reloaded, "ts")) {
			after = append(after, l)
		}
	}
	checkNoAuthErrors(t, "after the reload", after)
	o.checkStored()
}
