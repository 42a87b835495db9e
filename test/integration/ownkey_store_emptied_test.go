package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"
)

// TestOwnKeyStoreEmptiedWhileRunningIsWrittenBack: while rotatord runs,
// its credential file is emptied (a disk that filled up, a botched edit)
// or filled with something that is no credential. rotatord still signs
// with the working key, whose secret only it holds now: unless it writes
// that key back, its next start reads no credential and it is locked out
// for good, the own key alive and its secret nowhere. A pass must put the
// working key back, so that a restart authenticates.
func TestOwnKeyStoreEmptiedWhileRunningIsWrittenBack(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"empty", ""},
		{"not a credential", "{\"api_key\": \"EXO"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := newOwnEnv(t)
			o.writeOwnConfig(ownSettledKey, ownQuietPolicy)
			old := o.sim.Admin

			d := o.startDaemon()
			d.waitLog(20*time.Second, "pass done")
			writeFileAtomic(t, o.credFile, tc.content)
			eventually(t, 20*time.Second, func() (bool, string) {
				data, _ := os.ReadFile(o.credFile)
				var c credential
				_ = json.Unmarshal(data, &c)
				return c.Key == old.Key && c.Secret == old.Secret, fmt.Sprintf("the credential file holds %q, want the working %s back\n%s", c.Key, old.Key, summary(d.logs()))
			})
			d.stop()
			o.checkStored()

			// The next start authenticates with what the file holds.
			d = o.startDaemon()
			d.waitLog(20*time.Second, "pass done")
			d.stop()
			if l, failed := findLog(d.logs(), "pass failed"); failed {
				t.Errorf("after the restart: %s", l.String())
			}
			o.checkNoSecretLeak()
		})
	}
}
