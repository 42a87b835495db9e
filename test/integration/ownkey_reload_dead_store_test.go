package integration

import (
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// TestReloadKeepsWorkingOwnKeyOverDeadStore: an operator puts a dead key
// (deleted already) in the credential file by mistake, then reloads. The
// reload must not trade the working key in use for the dead one (every
// request refused from then on, and the working key's secret gone with the
// old client): rotatord keeps signing with the working key and writes it
// back to the file, as a pass does without a reload.
func TestReloadKeepsWorkingOwnKeyOverDeadStore(t *testing.T) {
	t.Parallel()
	o := newOwnEnv(t)
	o.writeOwnConfig(ownSettledKey, ownQuietPolicy)
	old := o.sim.Admin
	var dead simKey
	o.sim.do("POST", "/_sim/keys", map[string]string{"name": adminName, "role": roleAdmin}, &dead)
	o.sim.do("DELETE", "/_sim/keys/"+dead.Key, nil, nil)
	if dead.Key == "" || dead.Secret == "" || o.sim.authenticates(dead.Key, dead.Secret) {
		t.Fatalf("a dead key to paste: %+v", dead.Key)
	}

	d := o.startDaemon()
	d.waitLog(20*time.Second, "pass done")
	data, err := json.Marshal(credential{Key: dead.Key, Secret: dead.Secret})
	if err != nil {
		t.Fatal(err)
	}
	writeFileAtomic(t, o.credFile, string(data))
	d.signal(syscall.SIGHUP)
	since := d.waitLog(20*time.Second, "configuration reloaded")
	eventually(t, 20*time.Second, func() (bool, string) {
		c := o.stored()
		return c.Key == old.Key, fmt.Sprintf("the credential file holds %s, want the working %s back\n%s", c.Key, old.Key, summary(d.logs()))
	})
	// Passes after the reload sign with the working key.
	eventually(t, 20*time.Second, func() (bool, string) {
		n := 0
		for _, l := range d.logs() {
			if l.str("msg") == "pass done" && logTime(t, l, "ts").After(logTime(t, since, "ts")) {
				n++
			}
		}
		return n >= 2, fmt.Sprintf("%d passes done since the reload:\n%s", n, summary(d.logs()))
	})
	d.stop()
	o.checkStored()
	o.checkNoSecretLeak(dead.Secret)
}
