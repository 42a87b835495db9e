package integration

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestOwnKeysOfAFormerNameAreReported: rotatord has rotated its own key
// (two admin keys of its name alive, the old one in its grace period); the
// operator then puts a key of another name (made by hand, same role) in the
// credential file and runs rotatord again. rotatord signs with the new
// name's key from then on, and the keys of the former own name, both
// live admin keys, the newer one's secret in no store any more, must not
// vanish from sight: plan used to show that name with 0 keys ("the
// current key no longer exists"), once reported nothing, and after the
// grace period the deletion of the old key was refused with a message
// giving the same role twice. Nothing may be deleted (the input is the
// operator's), but every pass must say which live keys are left.
func TestOwnKeysOfAFormerNameAreReported(t *testing.T) {
	t.Parallel()
	o := newOwnEnv(t)
	o.writeOwnConfig(`{schedule: "@every 1h", max_age: 1s, grace_period: 2s}`, ownQuietPolicy)
	// A key of another name, same role, put in the file by hand.
	first, second, made := o.rotateThenStoreAHandMadeKey("rotatord-admin-2", "admin")

	// The daemon's deleter, at the end of the grace period, must not
	// drop the old key from the record either: the deletion stays
	// overdue (RotatordDeletionOverdue), and is done once the former
	// own key is back in the store.
	d := o.startDaemon()
	d.waitLog(20*time.Second, "live keys of rotatord's former own name and role: neither rotated nor deleted", "name", adminName)
	time.Sleep(8 * time.Second) // the grace period ends: the deleter's turn
	d.stop()
	if r := o.records()[adminName]; r.Rotation == nil || !slices.Contains(r.Rotation.OldKeyIDs, first.Key) {
		t.Errorf("%s: record %+v after the daemon ran; want its rotation kept, the old key %s still to delete", adminName, r, first.Key)
	}

	for _, cmd := range []string{"plan", "once"} {
		r := o.rotatord(cmd)
		got := row(t, parseTable(t, r.stdout), adminName)
		for _, id := range []string{first.Key, second.Key} {
			if !strings.Contains(got["ERROR"], id) {
				t.Errorf("%s: row of the former own name %s: %v; want an error naming its live key %s\n%s", cmd, adminName, got, id, r)
			}
		}
		if cmd == "once" && r.code != 1 {
			t.Errorf("once: exit %d with two live admin keys of the former own name left\n%s", r.code, r)
		}
	}
	for _, id := range []string{first.Key, second.Key} {
		if k, ok := o.sim.key(id); !ok || !k.Alive {
			t.Errorf("key %s of the former own name was deleted: the operator's input is never acted on destructively", id)
		}
	}

	// The former own key put back: a start signs with it again, and the
	// deletion kept on record is done.
	data, err := json.Marshal(second)
	if err != nil {
		t.Fatal(err)
	}
	writeFileAtomic(t, o.credFile, string(data))
	o.rotatord("once")
	if k, ok := o.sim.key(first.Key); !ok || k.Alive {
		t.Errorf("the old key %s of the own name is still alive once the former own key is back in the store", first.Key)
	}
	if k, ok := o.sim.key(second.Key); !ok || !k.Alive {
		t.Errorf("the former own key %s, back in the store, was deleted", second.Key)
	}
	o.checkNoSecretLeak(made.Secret)
}

// rotateThenStoreAHandMadeKey rotates o's own key once (first: its key
// before, second: the key the store then holds), then makes a key of name
// and role by hand and writes it into the credential file, as an operator
// would, rotatord stopped.
func (o *ownEnv) rotateThenStoreAHandMadeKey(name, role string) (first, second credential, made simKey) {
	t := o.t
	t.Helper()
	first = o.sim.Admin
	r := o.mustRun("once", "--force", "--policy", selfPolicy)
	if got := row(t, parseTable(t, r.stdout), adminName); got["RESULT"] != "rotated" {
		t.Fatalf("own key: row %v, want rotated\n%s", got, r)
	}
	second = o.checkStored()
	if second.Key == first.Key {
		t.Fatal("the credential file still holds the first key")
	}
	o.sim.do("POST", "/_sim/keys", map[string]string{"name": name, "role": role}, &made)
	data, err := json.Marshal(credential{Key: made.Key, Secret: made.Secret})
	if err != nil {
		t.Fatal(err)
	}
	writeFileAtomic(t, o.credFile, string(data))
	return first, second, made
}
