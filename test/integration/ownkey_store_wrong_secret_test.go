package integration

import (
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// wrongOwnSecret is what an operator's slip puts in the credential file:
// the id of the working key, with a secret that is not its own (an old
// one, another key's, a typo).
const wrongOwnSecret = "NotTheSecretOfThisKey-0123456789abcdefABCD"

// writeOwnIDWrongSecret writes the own key's id with a wrong secret to
// the credential file.
func (o *ownEnv) writeOwnIDWrongSecret(key string) {
	o.t.Helper()
	data, err := json.Marshal(credential{Key: key, Secret: wrongOwnSecret})
	if err != nil {
		o.t.Fatal(err)
	}
	writeFileAtomic(o.t, o.credFile, string(data))
}

// TestOwnStoreWithTheOwnKeyIDAndAWrongSecretGetsTheWorkingOneBack: the
// credential file holds the id of the key in use with a secret the API
// refuses. A restart would read a credential that never signs (locked
// out, the working secret only in the process), so a pass writes the
// working credential back, as for any key there the API refuses.
func TestOwnStoreWithTheOwnKeyIDAndAWrongSecretGetsTheWorkingOneBack(t *testing.T) {
	t.Parallel()
	o := newOwnEnv(t)
	o.writeOwnConfig(ownSettledKey, ownQuietPolicy)
	old := o.sim.Admin
	d := o.startDaemon()
	d.waitLog(20*time.Second, "pass done")
	o.writeOwnIDWrongSecret(old.Key)
	eventually(t, 20*time.Second, func() (bool, string) {
		c := o.stored()
		return c.Key == old.Key && c.Secret == old.Secret, fmt.Sprintf("the credential file holds %s with a secret the API refuses, want the working one back\n%s", c.Key, summary(d.logs()))
	})
	d.stop()
	o.checkStored()
	o.checkNoSecretLeak(wrongOwnSecret)
}

// TestReloadKeepsWorkingOwnKeyOverItsIDWithAWrongSecret: as above, then
// a reload. The reload must not make the client sign with the store's
// wrong secret (every request refused from then on, the working secret
// gone with the old client): the key id is the same, the credential is
// not. rotatord keeps the working one and writes it back.
func TestReloadKeepsWorkingOwnKeyOverItsIDWithAWrongSecret(t *testing.T) {
	t.Parallel()
	o := newOwnEnv(t)
	o.writeOwnConfig(ownSettledKey, ownQuietPolicy)
	old := o.sim.Admin
	d := o.startDaemon()
	d.waitLog(20*time.Second, "pass done")
	o.writeOwnIDWrongSecret(old.Key)
	d.signal(syscall.SIGHUP)
	reloaded := logTime(t, d.waitLog(20*time.Second, "configuration reloaded"), "ts")
	eventually(t, 20*time.Second, func() (bool, string) {
		c := o.stored()
		return c.Key == old.Key && c.Secret == old.Secret, fmt.Sprintf("the credential file holds %s with a secret the API refuses, want the working one back\n%s", c.Key, summary(d.logs()))
	})
	eventually(t, 20*time.Second, func() (bool, string) {
		n := 0
		for _, l := range d.logs() {
			if l.str("msg") == "pass done" && logTime(t, l, "ts").After(reloaded) {
				n++
			}
		}
		return n >= 2, fmt.Sprintf("%d passes done since the reload:\n%s", n, summary(d.logs()))
	})
	d.stop()
	for _, l := range d.logs() {
		if l.msg() == "pass failed" && logTime(t, l, "ts").After(reloaded) {
			t.Errorf("a pass after the reload failed: %s", l.String())
		}
	}
	o.checkStored()
	o.checkNoSecretLeak(wrongOwnSecret)
}
