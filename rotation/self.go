package rotation

// Own-key rotation: the policy whose Self is set rotates the key rotatord
// signs with, through the same durable steps as any key, its one sink
// being the store rotatord reads its credential from at start. The
// invariants kept here: rotatord switches to the new key only once the
// store holds it (so a restart reads a key that works), proves the switch
// with a signed request before the old key may go, never deletes the key
// it signs with, and rotates its own key only while no other rotation is
// in flight (the switch happens between two rotations, never inside one).

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// SelfCredential is the credential the API client signs with, for the
// policy that rotates it (Policy.Self).
type SelfCredential interface {
	// Use makes every later request sign with c, and returns what
	// switches back to the credential in force before.
	Use(c sinks.Credential) (revert func(), err error)
	// Check makes one signed, read-only request with c, without
	// switching to it: nil when the API accepts c.
	Check(ctx context.Context, c sinks.Credential) error
}

// ReasonOthersInFlight: the own key waits for the other rotations.
const ReasonOthersInFlight Reason = "rotatord's own key rotates only when no other rotation is in flight"

// selfMatch selects rotatord's own key: the name and role the last listing
// showed for the key it signs with. Until a listing showed it, nothing.
func (e *Engine) selfMatch(name, roleID string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.selfName != "" && name == e.selfName && roleID == e.selfRole
}

// noteSelf remembers the name and role of the key rotatord signs with, from
// a listing.
func (e *Engine) noteSelf(keys []apiclient.Key) {
	own := e.own()
	i := slices.IndexFunc(keys, func(k apiclient.Key) bool { return k.ID == own })
	if i < 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.selfName, e.selfRole = keys[i].Name, keys[i].RoleID
}

// setOwn changes the id of the key rotatord signs with.
func (e *Engine) setOwn(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ownKeyID = id
}

// useNewSelf switches the API client to the new own key the store holds
// now, and returns what switches back (when the new key cannot be
// confirmed, the old one, still valid, carries on).
func (e *Engine) useNewSelf(p Policy, cred sinks.Credential) (func(), error) {
	prev := e.own()
	revert, err := p.Self.Use(cred)
	if err != nil {
		return nil, err
	}
	e.setOwn(cred.KeyID)
	return func() {
		revert()
		e.setOwn(prev)
	}, nil
}

// othersInFlight reports whether a rotation of another policy has begun
// and not yet delivered: the own key must not switch under it.
func (e *Engine) othersInFlight(self string) (string, bool) {
	for _, r := range e.store.List("") {
		if r.Policy != self && r.Rotation != nil && r.Rotation.Phase != state.PhaseDelivered {
			return r.Policy + "/" + r.Name, true
		}
	}
	return "", false
}

// proveSigns waits until the API accepts a new own key for signing, before
// the store gets it: a store must never hold a key that cannot sign (the
// API may apply a create late), or a restart or reload would read a
// credential that fails every request. It tries for the settle time, the
// longest a create takes to apply.
func (e *Engine) proveSigns(ctx context.Context, p Policy, cred sinks.Credential) error {
	settle := e.settleTime()
	deadline := e.now().Add(settle)
	// Bounded in attempts and in real time too, whatever the engine's
	// clock says (a clock that does not move must not make it spin).
	attempts, began := max(3, int(settle/(2*time.Second))+3), time.Now()
	wait := 200 * time.Millisecond
	for n := 1; ; n++ {
		err := p.Self.Check(ctx, cred)
		if err == nil {
			return nil
		}
		if !e.now().Before(deadline) || n >= attempts || time.Since(began) > settle {
			return fmt.Errorf("the new key does not sign requests yet: %w", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}
