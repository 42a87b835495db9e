package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReloadWithOwnStoreEmptiedKeepsTheWorkingKey: two accounts; the
// default one rotates its own key, whose credential file is emptied while
// rotatord runs, and a reload then adds a policy to that account before
// any own-key pass ran. The reload must not leave the account out and
// drop its client: that client holds the only copy of the working key's
// secret, and rotatord (now and after every restart) would be locked out
// of the organization for good. The working key goes back into the file,
// and the account works on under the new policies.
func TestReloadWithOwnStoreEmptiedKeepsTheWorkingKey(t *testing.T) {
	t.Parallel()
	reloadWithOwnStoreBroken(t, func(credential) string { return "" })
}

// TestReloadWithAnInvalidKeyIDInTheOwnStoreKeepsTheWorkingKey: as above,
// the credential file now holding what is no Exoscale key id (the
// secret pasted where the key belongs), which rotatord refuses to read as
// a credential.
func TestReloadWithAnInvalidKeyIDInTheOwnStoreKeepsTheWorkingKey(t *testing.T) {
	t.Parallel()
	reloadWithOwnStoreBroken(t, func(c credential) string {
		return fmt.Sprintf(`{"api_key": %q, "api_secret": %q}`, c.Secret, c.Secret)
	})
}

// reloadWithOwnStoreBroken writes broken(the working credential) to the
// credential file, then reloads with one more policy on that account.
func reloadWithOwnStoreBroken(t *testing.T, broken func(credential) string) {
	o := newOwnEnv(t)
	green := newEnv(t)
	old := o.sim.Admin
	greenSecret := filepath.Join(o.dir, "green-secret")
	writeFile(t, greenSecret, green.sim.Admin.Secret, 0o600)
	config := func(policies string) string {
		return strings.Replace(o.ownConfig(`{schedule: "@every 1h", max_age: 30d}`, policies), "state_dir:", fmt.Sprintf(`accounts:
  - name: green
    endpoint: %s
    api_key: %s
    api_secret_file: %s
    timeout: 10s
state_dir:`, green.sim.Endpoint, green.sim.Admin.Key, greenSecret), 1)
	}
	writeFileAtomic(t, o.config, config(ownQuietPolicy))
	d := o.startDaemon()
	d.waitLog(20*time.Second, "pass done")

	writeFileAtomic(t, o.credFile, broken(old))
	writeFileAtomic(t, o.config, config(ownQuietPolicy+`  - name: deploy
    match: {name: deploy-*}
    schedule: "@every 1h"
    max_age: 30d
    sinks:
      - {type: file, path: "$OUT/deploy-{{.Name}}.json"}
`))
	d.signal(syscall.SIGHUP)
	eventually(t, 20*time.Second, func() (bool, string) {
		done := false
		for _, l := range d.logs() {
			done = done || l.msg() == "configuration reloaded" || l.msg() == "reload rejected; keeping the previous configuration"
		}
		return done, "no reload logged:\n" + summary(d.logs())
	})
	eventually(t, 20*time.Second, func() (bool, string) {
		data, _ := os.ReadFile(o.credFile)
		var c credential
		_ = json.Unmarshal(data, &c)
		return c.Key == old.Key && c.Secret == old.Secret, fmt.Sprintf("the credential file holds %q, want the working %s back\n%s", c.Key, old.Key, summary(d.logs()))
	})
	d.stop()
	if l, ok := findLog(d.logs(), "account left out: its credential cannot be read; the other accounts work on"); ok {
		t.Errorf("the reload left the account out: %s", l.String())
	}
	o.checkStored()
	o.checkNoSecretLeak()
}
