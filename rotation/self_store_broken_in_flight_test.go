package rotation

import (
	"context"
	"testing"
	"time"
)

// An own rotation stays in flight after its confirmation failed (the
// client went back to the old key; the store holds the new one). Then
// the store is broken: emptied, or its api_key is no key id. A reload
// first repairs a store that holds no credential (OwnStoreEmpty, then
// FollowOwnKey), else it reads nothing and, when it also changes the
// account's policies, drops the client that holds the only working
// secret. The rotation in flight must not stop that repair: the store
// gets the working key back, and the recovery then finishes the
// rotation from what the store holds.
func TestABrokenOwnStoreIsRepairedWhileAnOwnRotationIsInFlight(t *testing.T) {
	for name, broken := range map[string]func(*memSink){
		"emptied": func(s *memSink) { delete(s.held, "rotatord-admin") },
		"invalid key id": func(s *memSink) {
			c := s.held["rotatord-admin"]
			c.KeyID = string(c.Secret) // the secret pasted where the key belongs
			s.held["rotatord-admin"] = c
		},
	} {
		t.Run(name, func(t *testing.T) {
			sh, working := ownRotationLeftInFlight(t)
			sh.store.mu.Lock()
			broken(sh.store)
			sh.store.mu.Unlock()

			ctx := context.Background()
			if !sh.engine.OwnStoreEmpty(ctx) {
				t.Fatal("OwnStoreEmpty does not see the broken store")
			}
			sh.engine.FollowOwnKey(ctx)
			h, err := sh.store.Read(ctx, "rotatord-admin")
			if err != nil || h.KeyID != working.KeyID || h.Secret != working.Secret {
				t.Fatalf("the store holds a key id of %d characters (%v), want the working key %s back", len(h.KeyID), err, working.KeyID)
			}

			// The recovery finishes from there: one live own key, the one
			// the store holds and the client signs with.
			sh.api.mu.Lock()
			sh.api.getLag, sh.api.hidden = nil, nil
			sh.api.mu.Unlock()
			sh.clock.Add(time.Hour)
			sh.pass(Options{IgnoreBackoff: true})
			held, _ := sh.store.Read(ctx, "rotatord-admin")
			if live := sh.liveAdmin(); len(live) != 1 || live[0] != held.KeyID || sh.sapi.signing() != held.KeyID {
				t.Errorf("live own keys %v; the store holds %s, signing with %s", live, held.KeyID, sh.sapi.signing())
			}
		})
	}
}
