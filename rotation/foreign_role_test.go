package rotation

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// sortedList lists keys in id order (the fake's map order is random).
type sortedList struct{ *fakeAPI }

func (s sortedList) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	keys, err := s.fakeAPI.ListKeys(ctx)
	sort.Slice(keys, func(i, j int) bool { return keys[i].ID < keys[j].ID })
	return keys, err
}

// Found by review: the sinks hold the name's key of role ci (state lost, or
// a first run over sinks already in place). Someone creates a key of the
// same name with another role, listed first. rotatord takes the role of the
// first listed key, ignores what the sinks hold, and replaces the
// consumer's ci credential with a new key of the attacker's role.
func TestKeyOfAnotherRoleUnderTheNameDoesNotDecideTheRole(t *testing.T) {
	h := newHarness(t, time.Hour)
	const roleAttacker = "33333333-3333-3333-3333-333333333333"
	attacker := h.api.add("ci-app", roleAttacker) // lower id: listed first
	legit := h.api.add("ci-app", roleCI)
	for _, s := range []*memSink{h.sinkA, h.sinkB} {
		s.held["ci-app"] = sinks.Credential{Name: "ci-app", KeyID: legit, RoleID: roleCI, Secret: secret.Value("legit-secret")}
	}
	h.useAPI(sortedList{h.api})
	h.pass(Options{})
	got := h.sinkA.held["ci-app"]
	h.api.mu.Lock()
	role := h.api.keys[got.KeyID].RoleID
	h.api.mu.Unlock()
	if role != roleCI {
		t.Errorf("sink held key %s (role ci); now holds %s of role %s, the role of %s, a key someone else made (record role %s)",
			legit, got.KeyID, role, attacker, h.record("ci-app").RoleID)
	}
}

// The same, with no sink holding either key: which role the consumer needs
// is unknown, so the name is not rotated, even when forced, and nothing is
// deleted.
func TestKeysOfSeveralRolesAndNoSinkHoldingOneAreNotRotated(t *testing.T) {
	h := newHarness(t, 0)
	const roleOther = "33333333-3333-3333-3333-333333333333"
	a := h.api.add("ci-app", roleOther)
	b := h.api.add("ci-app", roleCI)
	created := h.api.n
	for _, opts := range []Options{{}, {Force: true}} {
		o := findOutcome(h.pass(opts), "ci-app")
		if o.Decision.Reason != ReasonRolesUnknown {
			t.Errorf("%+v: decision %v, want %q", opts, o.Decision, ReasonRolesUnknown)
		}
	}
	if h.api.n != created || len(h.api.live("ci-app")) != 2 {
		t.Errorf("keys created %d, live %v; want none created and %s, %s kept", h.api.n-created, h.api.live("ci-app"), a, b)
	}
	if h.logs.FilterMessageSnippet("keys of several roles").Len() == 0 {
		t.Error("no warning says why the name is not rotated")
	}
}
