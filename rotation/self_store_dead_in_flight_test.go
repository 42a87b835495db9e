package rotation

import (
	"context"
	"testing"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// An own rotation stays in flight after its confirmation failed (the
// client went back to the old key; the store holds the new one), its
// recovery waiting for the failure's backoff. Then the store gets a
// credential the API refuses that is not the rotation's new key: the id
// of the key in use with a wrong secret, or a key deleted since. A
// restart before the recovery would read it and be locked out, the
// working secret only in the process: the store gets the working key
// back, as it does with no rotation in flight.
func TestADeadOwnStoreIsRepairedWhileAnOwnRotationIsInFlight(t *testing.T) {
	const wrong = secret.Value("NotTheSecretOfThisKey-0123456789abcdefABCD")
	for name, dead := range map[string]func(working sinks.Credential) sinks.Credential{
		"the key in use with a wrong secret": func(w sinks.Credential) sinks.Credential {
			return sinks.Credential{Name: "rotatord-admin", KeyID: w.KeyID, Secret: wrong}
		},
		"a deleted key": func(sinks.Credential) sinks.Credential {
			return sinks.Credential{Name: "rotatord-admin", KeyID: "EXO0000000000000000000dead", Secret: wrong}
		},
	} {
		t.Run(name, func(t *testing.T) {
			sh, working := ownRotationLeftInFlight(t)
			sh.sapi.smu.Lock()
			sh.sapi.refused = wrong
			sh.sapi.smu.Unlock()
			sh.store.mu.Lock()
			sh.store.held["rotatord-admin"] = dead(working)
			sh.store.mu.Unlock()

			ctx := context.Background()
			sh.pass(Options{}) // the recovery waits for the failure's backoff
			if r, _ := sh.harness.store.Get("_self", "rotatord-admin"); r.Rotation == nil {
				t.Fatal("the rotation is no longer in flight: the case is not the one tested")
			}
			h, err := sh.store.Read(ctx, "rotatord-admin")
			if err != nil || h.KeyID != working.KeyID || h.Secret != working.Secret {
				t.Errorf("the store holds %s (its secret the working one: %v; %v), want the working key %s back", h.KeyID, h.Secret == working.Secret, err, working.KeyID)
			}
			if sh.sapi.signing() != working.KeyID || sh.sapi.Current().Secret != working.Secret {
				t.Errorf("signing with %s (working secret %v), want the working key %s", sh.sapi.signing(), sh.sapi.Current().Secret == working.Secret, working.KeyID)
			}
		})
	}
}

// ownRotationLeftInFlight forces an own rotation whose confirmation fails
// (the confirmation's GET and listing lack the new key): the rotation
// stays in flight, the store holds the new key and the client signs with
// the old one again. It returns the harness and the working credential.
func ownRotationLeftInFlight(t *testing.T) (*selfHarness, sinks.Credential) {
	t.Helper()
	sh := newSelfHarness(t, 0)
	old := sh.own
	sh.api.createHook = func(k apiclient.Key) error {
		sh.api.mu.Lock()
		defer sh.api.mu.Unlock()
		sh.api.getLag = map[string]bool{k.ID: true}
		sh.api.hidden = map[string]int{k.ID: 1} // the confirmation's listing lacks it
		return nil
	}
	if o, _ := outcomeOf(sh.pass(Options{Force: true}), "_self"); o.Err == nil {
		t.Fatalf("own-key outcome %+v: want the confirmation to fail", o)
	}
	if r, _ := sh.harness.store.Get("_self", "rotatord-admin"); r.Rotation == nil {
		t.Fatal("no own rotation in flight after the failed confirmation")
	}
	if sh.sapi.signing() != old {
		t.Fatalf("signing with %s, want the old key %s", sh.sapi.signing(), old)
	}
	return sh, sh.sapi.Current()
}
