package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAccountSigningWithAnOldOwnKeyKeepsIt: account A rotated its own key,
// whose old key waits for its grace period; then a second account is
// added whose credential file holds that old key (a copy of A's file made
// before the rotation). The passes of both fail, naming each other, but
// A's deleter, which runs without a pass's listing, must not delete the
// key the other account signs with when the grace period ends: that would
// lock the second account out for good.
func TestAccountSigningWithAnOldOwnKeyKeepsIt(t *testing.T) {
	t.Parallel()
	o := newOwnEnv(t)
	old := o.sim.Admin
	o.writeOwnConfig(`{schedule: "@every 1s", max_age: 1s, grace_period: 6s}`, ownQuietPolicy)
	d := o.startDaemon()
	eventually(t, 30*time.Second, func() (bool, string) {
		c := o.stored()
		return c.Key != old.Key, fmt.Sprintf("the credential file still holds %s\n%s", c.Key, summary(d.logs()))
	})

	dir := filepath.Join(o.dir, "green-credential")
	mkdir(t, dir)
	greenFile := filepath.Join(dir, "rotatord.json")
	data, err := json.Marshal(credential{Key: old.Key, Secret: old.Secret})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, greenFile, string(data), 0o600)
	cfg := strings.Replace(o.ownConfig(`{schedule: "@every 1s", max_age: 1h, grace_period: 6s}`, ownQuietPolicy), "state_dir:", fmt.Sprintf(`accounts:
  - name: green
    endpoint: %s
    credential_file: %s
    timeout: 10s
state_dir:`, o.sim.Endpoint, greenFile), 1)
	writeFileAtomic(t, o.config, cfg)
	d.signal(syscall.SIGHUP)
	d.waitLog(20*time.Second, "configuration reloaded")
	if k, ok := o.sim.key(old.Key); !ok || !k.Alive {
		t.Skipf("the old key %s was deleted before the second account came (a slow machine): nothing to test", old.Key)
	}

	// Until A's deleter has tried the old key (its grace period is over,
	// the deleter runs every few seconds), or deleted it.
	eventually(t, 60*time.Second, func() (bool, string) {
		if k, ok := o.sim.key(old.Key); !ok || !k.Alive {
			return true, ""
		}
		for _, l := range d.logs() {
			// The deleter refuses either at its own listing (once per
			// credential, before any deletion: "the listing shows key
			// ..., which account green signs with") or at the key.
			e := l.str("error")
			if strings.Contains(e, "key "+old.Key+" is the key account green signs with") ||
				strings.Contains(l.msg(), "deletion failed") && strings.Contains(e, old.Key+", which account green signs with") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("the deleter has not tried %s yet\n%s", old.Key, summary(d.logs()))
	})
	d.stop()
	if k, ok := o.sim.key(old.Key); !ok || !k.Alive || !o.sim.authenticates(old.Key, old.Secret) {
		t.Errorf("the key %s account green signs with was deleted by the other account's deleter\n%s", old.Key, summary(d.logs()))
	}
	o.checkNoSecretLeak()
}
