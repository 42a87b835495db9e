package daemon

import (
	"os"
	"strings"
	"testing"
)

// A reload that removes own_key while the own key's old key waits out its
// grace period would strand that key: nothing would delete it, and its
// secret is held nowhere once the store holds the new one. The reload is
// refused, naming the rotation, and the old configuration stays.
func TestReloadRemovingOwnKeyDuringItsGracePeriodIsRefused(t *testing.T) {
	e := newSelfEnv(t, "1h")
	old := e.sim.Admin()
	d := e.open()
	defer d.Close()
	e.forceOwnPass(d)
	if !e.alive(old.Key) {
		t.Fatal("the old own key is gone before its grace period ended")
	}
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	cut := strings.Replace(string(b), "  own_key: {max_age: 1h, grace_period: 1h, schedule: \"@every 1h\"}\n", "", 1)
	if cut == string(b) {
		t.Fatal("own_key not found in the policy file")
	}
	if err := os.WriteFile(e.config, []byte(cut), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err == nil {
		t.Errorf("a reload removing own_key while the old own key %s waits for its deletion was taken: nothing deletes that key now", old.Key)
	} else {
		t.Logf("refused: %v", err)
	}
}
