package rotation

// Review 13b: tries to break followStore (commit 8d1ae04 and 296841f).
// A failing test here is a defect.

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/sinks"
)

// flakySelf is the signed API whose Check of one key fails once with a
// transport error (a timeout, a 503), not an authentication refusal.
type flakySelf struct {
	*signedAPI
	mu    sync.Mutex
	flaky map[string]int
}

func (f *flakySelf) Check(ctx context.Context, c sinks.Credential) error {
	f.mu.Lock()
	n := f.flaky[c.KeyID]
	if n > 0 {
		f.flaky[c.KeyID] = n - 1
	}
	f.mu.Unlock()
	if n > 0 {
		return &apiclient.Error{Op: "get-api-key", Kind: apiclient.KindUnavailable, Status: 503, Message: "service unavailable"}
	}
	return f.signedAPI.Check(ctx, c)
}

// An operator replaces the credential by hand with a new key of the own
// key's name and role (the case followStore was written for). The one
// request that checks the new key fails with a 503: followStore takes any
// Check error for "does not sign" and overwrites the operator's new,
// valid key with the old one. The operator then deletes the old key as
// replaced, and rotatord (and its next restart) is locked out. Only an
// authentication refusal should count as a dead key.
func TestTransientCheckErrorOverwritesHandReplacedKey(t *testing.T) {
	sh := newSelfHarness(t, time.Hour)
	fs := &flakySelf{signedAPI: sh.sapi, flaky: map[string]int{}}
	self := Policy{Name: "_self", MaxAge: 24 * time.Hour, GracePeriod: sh.policy.GracePeriod, Sinks: toSinks(sh.store), Self: fs}
	if err := sh.engine.SetPolicies([]Policy{sh.policy, self}); err != nil {
		t.Fatal(err)
	}
	sh.pass(Options{})
	neu := sh.api.add("rotatord-admin", "admin-role")
	fs.mu.Lock()
	fs.flaky[neu] = 1
	fs.mu.Unlock()
	sh.store.mu.Lock()
	sh.store.held["rotatord-admin"] = sinks.Credential{Name: "rotatord-admin", KeyID: neu, Secret: "NEW-BY-HAND"}
	sh.store.mu.Unlock()
	sh.pass(Options{})
	if got := sh.store.holds("rotatord-admin"); got != neu {
		t.Errorf("a 503 on checking the hand-placed key %s made rotatord overwrite it with %s", neu, got)
	}
}
