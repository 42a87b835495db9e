package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTwoAccountsWithOneCredential: the credential file of a second account
// is a copy of the first's (same key, so the same organization), both with
// own_key. Neither account may act: each would rotate the shared key from
// its own journal, and the first own-key rotation to delete the key the
// other account signs with would lock that account out for good. The
// passes fail, naming the other account; no key is made or deleted, and
// both files still hold a key that authenticates.
func TestTwoAccountsWithOneCredential(t *testing.T) {
	t.Parallel()
	o := newOwnEnv(t)
	old := o.sim.Admin
	dir := filepath.Join(o.dir, "green-credential")
	mkdir(t, dir)
	greenFile := filepath.Join(dir, "rotatord.json")
	writeFile(t, greenFile, readFile(t, o.credFile), 0o600)
	cfg := o.ownConfig(ownCrashKey, ownQuietPolicy)
	cfg = strings.Replace(cfg, "state_dir:", fmt.Sprintf(`accounts:
  - name: green
    endpoint: %s
    credential_file: %s
    timeout: 10s
    own_key: %s
state_dir:`, o.sim.Endpoint, greenFile, ownCrashKey), 1)
	writeFileAtomic(t, o.config, cfg)

	d := o.startDaemon()
	eventually(t, 20*time.Second, func() (bool, string) {
		n := 0
		for _, l := range d.logs() {
			if l.str("msg") == "pass failed" && strings.Contains(l.str("error"), "signs with") {
				n++
			}
		}
		return n >= 6, fmt.Sprintf("%d passes refused:\n%s", n, summary(d.logs()))
	})
	d.stop()
	if n := createdNamed(o.env, adminName); n != 1 {
		t.Errorf("%d keys named %s ever existed, want 1 (no rotation)", n, adminName)
	}
	for _, f := range []string{o.credFile, greenFile} {
		c, ok := readSink(t, f, "json")
		if !ok || c.Key != old.Key || !o.sim.authenticates(c.Key, c.Secret) {
			t.Errorf("%s holds %s (present %v), want the admin key %s, alive", f, c.Key, ok, old.Key)
		}
	}
	o.checkNoSecretLeak()
}
