package integration

import (
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// TestReloadTakesOwnKeyReplacedByHand: the credential store is the
// operator's way to hand rotatord a new credential. An operator makes a
// new key of the own key's name and role, writes it to the credential
// file and reloads, having revoked the old key first or meaning to revoke
// it right after. Either way the reload signs with the new key and keeps
// it in the file: once the old key is gone, passes still succeed and the
// file never gets the revoked key back.
func TestReloadTakesOwnKeyReplacedByHand(t *testing.T) {
	t.Parallel()
	for _, revokeFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("revoke_first=%v", revokeFirst), func(t *testing.T) {
			t.Parallel()
			o := newOwnEnv(t)
			o.writeOwnConfig(ownSettledKey, ownQuietPolicy)
			old := o.sim.Admin
			d := o.startDaemon()
			d.waitLog(20*time.Second, "pass done")

			var repl simKey
			o.sim.do("POST", "/_sim/keys", map[string]string{"name": adminName, "role": roleAdmin}, &repl)
			if repl.Key == "" || repl.Secret == "" {
				t.Fatalf("no replacement key made: %+v", repl.Key)
			}
			if revokeFirst {
				o.sim.do("DELETE", "/_sim/keys/"+old.Key, nil, nil)
			}
			data, err := json.Marshal(credential{Key: repl.Key, Secret: repl.Secret})
			if err != nil {
				t.Fatal(err)
			}
			writeFileAtomic(t, o.credFile, string(data))
			d.signal(syscall.SIGHUP)
			reloaded := logTime(t, d.waitLog(20*time.Second, "configuration reloaded"), "ts")
			if !revokeFirst {
				o.sim.do("DELETE", "/_sim/keys/"+old.Key, nil, nil)
			}
			revoked := time.Now()
			eventually(t, 30*time.Second, func() (bool, string) {
				n := 0
				for _, l := range d.logs() {
					if l.str("msg") == "pass done" && logTime(t, l, "ts").After(reloaded) && logTime(t, l, "ts").After(revoked) {
						n++
					}
				}
				return n >= 3, fmt.Sprintf("%d passes done since the old key was revoked:\n%s", n, summary(d.logs()))
			})
			d.stop()
			for _, l := range d.logs() {
				if l.str("msg") == "pass failed" && logTime(t, l, "ts").After(reloaded) {
					t.Errorf("a pass failed after the reload: %s", l.String())
				}
			}
			if c := o.checkStored(); c.Key == old.Key {
				t.Errorf("the credential file holds the revoked key %s again", old.Key)
			}
			o.checkNoSecretLeak(repl.Secret)
		})
	}
}
