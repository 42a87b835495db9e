package integration

import (
	"strings"
	"testing"
	"time"
)

// TestOwnKeyOfAnotherRoleSameNameWaits: the store given by hand a key of
// the own name but another role, then a restart. rotatord signs with it,
// but the name is one record, whose rotation still holds the former role's
// old key: rotating the new own key would drop that record and leave two
// live admin keys nobody knows about. So every pass fails naming them and
// the own key waits; once they are deleted by hand (the way out the error
// gives), the own key rotates again, after the settle time in which the
// API may still lag on the former rotation's new key. The README says so.
func TestOwnKeyOfAnotherRoleSameNameWaits(t *testing.T) {
	t.Parallel()
	o := newOwnEnv(t)
	// A short timeout: the settle time is twice it, at least 10s.
	writeFileAtomic(t, o.config, strings.Replace(o.ownConfig(`{schedule: "@every 1h", max_age: 1s, grace_period: 2s}`, ownQuietPolicy), "timeout: 10s", "timeout: 2s", 1))
	first, second, made := o.rotateThenStoreAHandMadeKey(adminName, "ci")

	r := o.rotatord("once", "--force", "--policy", selfPolicy)
	got := row(t, parseTable(t, r.stdout), adminName)
	for _, id := range []string{first.Key, second.Key} {
		if !strings.Contains(got["ERROR"], id) {
			t.Errorf("row %v: want an error naming the former role's live key %s\n%s", got, id, r)
		}
	}
	if r.code != 1 {
		t.Errorf("once: exit %d with the former role's keys left\n%s", r.code, r)
	}
	for _, id := range []string{first.Key, second.Key, made.Key} {
		if k, ok := o.sim.key(id); !ok || !k.Alive {
			t.Errorf("key %s was deleted", id)
		}
	}
	if c := o.stored(); c.Key != made.Key {
		t.Errorf("the credential file holds %s, want the hand-made own key %s, which waits", c.Key, made.Key)
	}

	for _, id := range []string{first.Key, second.Key} {
		o.sim.do("DELETE", "/_sim/keys/"+id, nil, nil)
	}
	time.Sleep(3 * time.Second)  // the grace period ends
	o.rotatord("once")           // the former rotation's new key missing: the settle time runs
	time.Sleep(11 * time.Second) // and ends
	for i := 0; i < 2; i++ {
		if r := o.rotatord("once", "--force", "--policy", selfPolicy); r.code != 0 {
			t.Errorf("once #%d after the settle time: exit %d\n%s", i, r.code, r)
		}
	}
	c := o.stored()
	if !o.sim.authenticates(c.Key, c.Secret) {
		t.Fatalf("the credential file's key %s does not authenticate", c.Key)
	}
	if c.Key == made.Key {
		t.Errorf("the own key %s never rotates, even once the former role's keys were deleted by hand", made.Key)
	}
	o.checkNoSecretLeak(made.Secret)
}
