package integration

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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

// TestReloadKeepsOwnKeyOverAnotherKeyInStore: an operator pastes ci-runner's
// credential into rotatord's credential file by mistake, then reloads. A
// pass refuses to sign as a key of another name or role; the reload must
// not either (signing as ci-runner made that name rotatord's own key: its
// policy left it alone, and the own key's record refused its own keys).
// Every request after the reload is signed with the admin key.
func TestReloadKeepsOwnKeyOverAnotherKeyInStore(t *testing.T) {
	t.Parallel()
	o := newOwnEnv(t)
	o.writeOwnConfig(ownSettledKey, ownQuietPolicy)
	old := o.sim.Admin
	ci := o.sim.only("ci-runner")

	d := o.startDaemon()
	d.waitLog(20*time.Second, "pass done")
	data, err := json.Marshal(credential{Key: ci.Key, Secret: ci.Secret})
	if err != nil {
		t.Fatal(err)
	}
	writeFileAtomic(t, o.credFile, string(data))
	d.signal(syscall.SIGHUP)
	reloaded := logTime(t, d.waitLog(20*time.Second, "configuration reloaded"), "ts")
	eventually(t, 20*time.Second, func() (bool, string) {
		n := 0
		for _, l := range d.logs() {
			if l.str("msg") == "pass done" && logTime(t, l, "ts").After(reloaded) {
				n++
			}
		}
		return n >= 3, fmt.Sprintf("%d passes done since the reload:\n%s", n, summary(d.logs()))
	})
	d.stop()
	// rotatord's own key is still the admin's: its policy acts on that
	// name only, and says why it does not use the store's key.
	for _, l := range d.logs() {
		if l.str("policy") == selfPolicy && l.str("name") == "ci-runner" {
			t.Errorf("policy %s acts on ci-runner: %s", selfPolicy, l.String())
		}
	}
	said := slices.ContainsFunc(d.logs(), func(l logLine) bool {
		return l.str("store_key_id") == ci.Key || strings.Contains(l.msg(), "not rotatord's own key") && l.str("key_id") == ci.Key
	})
	if !said {
		t.Errorf("no log says the store's key %s is not rotatord's own:\n%s", ci.Key, summary(d.logs()))
	}
	if live := o.sim.live(adminName); len(live) != 1 || live[0].Key != old.Key {
		t.Errorf("%s: live %v, want only %s", adminName, ids(live), old.Key)
	}
	if live := o.sim.live("ci-runner"); len(live) != 1 || live[0].Key != ci.Key {
		t.Errorf("ci-runner: live %v, want only %s", ids(live), ci.Key)
	}
	o.checkNoSecretLeak()
}
