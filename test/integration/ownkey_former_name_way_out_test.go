package integration

import (
	"strings"
	"testing"
	"time"
)

// TestFormerOwnKeysDeletedByHandEndTheFailures: the way out the error
// gives ("delete them by hand once nobody uses them") must end the
// failures: once the keys of the former own name are gone, plan and once
// say nothing is wrong with that name, and the deletion kept on record is
// not overdue for ever. Meanwhile the own key of the new name rotates.
func TestFormerOwnKeysDeletedByHandEndTheFailures(t *testing.T) {
	t.Parallel()
	o := newOwnEnv(t)
	// A short timeout: the settle time (twice it, at least 10s) after which
	// a new key the API no longer shows is taken as gone.
	writeFileAtomic(t, o.config, strings.Replace(o.ownConfig(`{schedule: "@every 1h", max_age: 1s, grace_period: 2s}`, ownQuietPolicy), "timeout: 10s", "timeout: 2s", 1))
	first, second, _ := o.rotateThenStoreAHandMadeKey("rotatord-admin-2", "admin")

	// The own key of the new name is due (max_age 1s): it rotates, even
	// though the former name's keys are left.
	r := o.rotatord("once", "--force", "--policy", selfPolicy)
	rows := parseTable(t, r.stdout)
	if got := row(t, rows, "rotatord-admin-2"); got["RESULT"] != "rotated" {
		t.Errorf("own key of the new name: row %v, want rotated\n%s", got, r)
	}
	if got := row(t, rows, adminName); got["ERROR"] == "" {
		t.Errorf("former own name: row %v, want an error\n%s", got, r)
	}
	if c := o.stored(); !o.sim.authenticates(c.Key, c.Secret) {
		t.Fatalf("the credential file's key %s does not authenticate", c.Key)
	}

	// The operator deletes the former own name's keys by hand.
	for _, id := range []string{first.Key, second.Key} {
		o.sim.do("DELETE", "/_sim/keys/"+id, nil, nil)
	}
	// The first pass after it finds the rotation's new key missing, and
	// waits the settle time (the API may lag) before taking it as gone.
	time.Sleep(3 * time.Second) // the grace period ends
	t.Logf("first once after the deletion by hand:\n%s", o.rotatord("once"))
	time.Sleep(11 * time.Second) // the settle time ends
	for i, cmd := range []string{"once", "plan", "once"} {
		r := o.rotatord(cmd)
		t.Logf("%s #%d:\n%s", cmd, i, r)
		if cmd == "once" && r.code != 0 {
			t.Errorf("%s #%d: exit %d once the former own name's keys are deleted by hand\n%s", cmd, i, r.code, r)
		}
		for _, rw := range parseTable(t, r.stdout) {
			if rw["NAME"] == adminName && rw["ERROR"] != "-" {
				t.Errorf("%s #%d: row of the former own name %v after its keys were deleted by hand", cmd, i, rw)
			}
		}
	}
	if rec, ok := o.records()[adminName]; ok && rec.Rotation != nil && len(rec.Rotation.OldKeyIDs) > 0 {
		t.Errorf("record of the former own name %+v: a deletion still on record after its keys were deleted by hand", rec)
	}
	if c := o.stored(); !o.sim.authenticates(c.Key, c.Secret) {
		t.Errorf("the credential file's key %s does not authenticate", c.Key)
	}
}
