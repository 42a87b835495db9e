package rotation

import (
	"testing"
	"time"
)

// A key of the own name and role that rotatord does not know (made by
// hand, or left by a rotation a journal restored from an older copy does
// not name), listed without its role while its GET fails (a 503), is left
// out of that pass's listing. The own key, due, must not rotate past it
// meanwhile: with that key alive a rotation makes a third key of the name,
// which the rule of two live keys a name exists to prevent.
func TestOwnKeyDoesNotRotateBesideAnOwnNameKeyWhoseRoleIsUnknown(t *testing.T) {
	sh := newSelfHarness(t, time.Hour)
	h := sh.harness
	sh.pass(Options{})
	hand := h.api.add("rotatord-admin", "admin-role")
	api := &otherRoleHidden{signedAPI: sh.sapi, blank: hand, failGet: true}
	sh.restartWith(api, api)
	h.clock.Add(25 * time.Hour) // the own key is due
	sh.pass(Options{})
	if live := h.api.live("rotatord-admin"); len(live) > 2 {
		t.Errorf("%d keys of rotatord's own name and role alive after the pass, want at most 2: %v", len(live), live)
	}
}
