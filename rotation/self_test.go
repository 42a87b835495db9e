package rotation

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// signedAPI is the fake API with a signer: every request signs with the
// key the client uses now, a request signed with a key that is gone is
// refused, and deletions note who signed them.
type signedAPI struct {
	*fakeAPI
	smu       sync.Mutex
	signer    string
	secret    secret.Value      // the signer's secret, as Use or the store gave it
	deletedBy map[string]string // deleted key -> the key that signed its deletion
	// cannotSign: Check refuses that many times (a create applied late);
	// each refusal moves the clock on by a minute.
	cannotSign int
	clock      *fakeClock
	checks     int
	// refused: a secret Check refuses whatever the key id (a secret
	// that is not the key's own).
	refused secret.Value
}

// Check implements SelfCredential.
func (a *signedAPI) Check(ctx context.Context, c sinks.Credential) error {
	a.smu.Lock()
	a.checks++
	refuse := a.cannotSign > 0
	if refuse {
		a.cannotSign--
	}
	wrong := !a.refused.IsZero() && c.Secret == a.refused
	a.smu.Unlock()
	if wrong {
		return &apiclient.Error{Op: "get-api-key", Kind: apiclient.KindAuth, Status: 403, Message: "invalid signature"}
	}
	if refuse {
		a.clock.Add(time.Minute)
		return &apiclient.Error{Op: "get-api-key", Kind: apiclient.KindAuth, Status: 403, Message: "unknown or deleted API key"}
	}
	a.fakeAPI.mu.Lock()
	defer a.fakeAPI.mu.Unlock()
	if _, ok := a.fakeAPI.keys[c.KeyID]; !ok {
		return &apiclient.Error{Op: "get-api-key", Kind: apiclient.KindAuth, Status: 403, Message: "unknown or deleted API key"}
	}
	return nil
}

func (a *signedAPI) sign() error {
	a.smu.Lock()
	s := a.signer
	a.smu.Unlock()
	a.fakeAPI.mu.Lock()
	defer a.fakeAPI.mu.Unlock()
	if _, ok := a.fakeAPI.keys[s]; !ok {
		return &apiclient.Error{Op: "sign", Kind: apiclient.KindAuth, Status: 403, Message: "signed with a key that does not exist: " + s}
	}
	return nil
}

func (a *signedAPI) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	if err := a.sign(); err != nil {
		return nil, err
	}
	return a.fakeAPI.ListKeys(ctx)
}

func (a *signedAPI) GetKey(ctx context.Context, id string) (apiclient.Key, error) {
	if err := a.sign(); err != nil {
		return apiclient.Key{}, err
	}
	return a.fakeAPI.GetKey(ctx, id)
}

func (a *signedAPI) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	if err := a.sign(); err != nil {
		return apiclient.CreatedKey{}, err
	}
	return a.fakeAPI.CreateKey(ctx, name, roleID)
}

func (a *signedAPI) DeleteKey(ctx context.Context, id string) error {
	if err := a.sign(); err != nil {
		return err
	}
	a.smu.Lock()
	if id == a.signer {
		a.smu.Unlock()
		a.t.Errorf("deleting the key the request is signed with: %s", id)
		return errors.New("self-delete")
	}
	a.deletedBy[id] = a.signer
	a.smu.Unlock()
	return a.fakeAPI.DeleteKey(ctx, id)
}

// Current implements SelfCredential.
func (a *signedAPI) Current() sinks.Credential {
	a.smu.Lock()
	defer a.smu.Unlock()
	return sinks.Credential{KeyID: a.signer, Secret: a.secret}
}

// Use implements SelfCredential: the client's switch.
func (a *signedAPI) Use(c sinks.Credential) (func(), error) {
	a.smu.Lock()
	defer a.smu.Unlock()
	prev, prevSecret := a.signer, a.secret
	a.signer, a.secret = c.KeyID, c.Secret
	return func() {
		a.smu.Lock()
		defer a.smu.Unlock()
		a.signer, a.secret = prev, prevSecret
	}, nil
}

func (a *signedAPI) signing() string {
	a.smu.Lock()
	defer a.smu.Unlock()
	return a.signer
}

type selfHarness struct {
	*harness
	sapi  *signedAPI
	store *memSink // the credential store
}

// newSelfHarness: the ci policy of the harness (whose glob also selects
// rotatord's own key) and the own-key policy, whose store holds the key
// rotatord signs with.
func newSelfHarness(t *testing.T, grace time.Duration) *selfHarness {
	h := newHarness(t, grace)
	sh := &selfHarness{harness: h, store: newMemSink("credential")}
	sh.sapi = &signedAPI{fakeAPI: h.api, signer: h.own, deletedBy: map[string]string{}, clock: h.clock}
	h.api.sinks = append(h.api.sinks, sh.store)
	sh.store.held["rotatord-admin"] = sinks.Credential{Name: "rotatord-admin", KeyID: h.own, Secret: "ADMIN-SECRET"}
	sh.restart(h.own)
	return sh
}

// restart is a new process: it reads its credential from the store.
func (sh *selfHarness) restart(own string) {
	h := sh.harness
	sh.sapi.smu.Lock()
	sh.sapi.signer = own
	// The secret the store holds for it, as a new process reads it.
	sh.sapi.secret = secret.Value("SECRET-OF-" + own)
	sh.store.mu.Lock()
	if c := sh.store.held["rotatord-admin"]; c.KeyID == own {
		sh.sapi.secret = c.Secret
	}
	sh.store.mu.Unlock()
	sh.sapi.smu.Unlock()
	h.own = own
	sh.restartWith(sh.sapi, sh.sapi)
}

// restartWith is a new engine over the same journal (h.wrap applied),
// signing with h.own, whose API is api and whose own-key policy (_self:
// max age 24h, the ci policy's grace period, the credential store) reads
// and switches its credential through self.
func (sh *selfHarness) restartWith(api apiclient.API, self SelfCredential) {
	h := sh.harness
	h.t.Helper()
	var j state.Journal = h.store
	if h.wrap != nil {
		j = h.wrap(h.store)
	}
	h.engine = New(Config{API: api, Store: j, Logger: h.engine.log, Recorder: h.rec, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own})
	pol := Policy{Name: "_self", MaxAge: 24 * time.Hour, GracePeriod: h.policy.GracePeriod, Sinks: toSinks(sh.store), Self: self}
	if err := h.engine.SetPolicies([]Policy{h.policy, pol}); err != nil {
		h.t.Fatal(err)
	}
}

// noFailures reports every outcome of out that failed.
func noFailures(t *testing.T, out []Outcome) {
	t.Helper()
	for _, o := range out {
		if o.Err != nil {
			t.Errorf("%s/%s: %v", o.Policy, o.Name, o.Err)
		}
	}
}

func (sh *selfHarness) liveAdmin() []string { return sh.api.live("rotatord-admin") }

func outcomeOf(out []Outcome, policy string) (Outcome, bool) {
	i := slices.IndexFunc(out, func(o Outcome) bool { return o.Policy == policy })
	if i < 0 {
		return Outcome{}, false
	}
	return out[i], true
}

func TestSelfRotationSwitchesThenDeletesWithTheNewKey(t *testing.T) {
	sh := newSelfHarness(t, 0)
	old := sh.own
	out := sh.pass(Options{Force: true})
	o, ok := outcomeOf(out, "_self")
	if !ok || o.Err != nil {
		t.Fatalf("own-key outcome %+v (found %v)", o, ok)
	}
	if _, ok := outcomeOf(out, "ci"); ok && slices.Contains(o.KeyIDs, old) {
		t.Error("the ci policy, whose glob matches the own key, handled it too")
	}
	now := sh.store.holds("rotatord-admin")
	if now == old || now == "" {
		t.Fatalf("the store holds %q", now)
	}
	if sh.sapi.signing() != now || sh.engine.own() != now {
		t.Errorf("signing with %s (engine: %s), want the new key %s", sh.sapi.signing(), sh.engine.own(), now)
	}
	if live := sh.liveAdmin(); len(live) != 1 || live[0] != now {
		t.Errorf("live own keys %v, want only %s", live, now)
	}
	if by := sh.sapi.deletedBy[old]; by != now {
		t.Errorf("the old key's deletion was signed by %q, want the new key", by)
	}
	// Later passes work with the new key.
	for _, o := range sh.pass(Options{}) {
		if o.Err != nil {
			t.Errorf("%s/%s: %v", o.Policy, o.Name, o.Err)
		}
	}
	sh.assertNoSecretLeak()
}

func TestSelfRotationStoreUnwritableChangesNothing(t *testing.T) {
	sh := newSelfHarness(t, 0)
	old := sh.own
	sh.store.failWrite = errors.New("read-only file system")
	out := sh.pass(Options{Force: true})
	if o, _ := outcomeOf(out, "_self"); o.Err == nil {
		t.Fatalf("own-key outcome %+v: want an error", o)
	}
	if live := sh.liveAdmin(); len(live) != 1 || live[0] != old {
		t.Errorf("live own keys %v, want only the old %s", live, old)
	}
	if sh.sapi.signing() != old || sh.engine.own() != old || sh.store.holds("rotatord-admin") != old {
		t.Error("the credential in use or in the store changed")
	}
	if r, ok := sh.harness.store.Get("_self", "rotatord-admin"); ok && r.Rotation != nil {
		t.Errorf("a rotation is left in flight: %+v", r.Rotation)
	}
}

func TestSelfRotationWaitsForOtherRotations(t *testing.T) {
	sh := newSelfHarness(t, 0)
	ci := sh.api.add("ci-runner", "ci-role")
	if err := sh.harness.store.Put(state.Record{Policy: "ci", Name: "ci-runner", CurrentKeyID: ci, RoleID: "ci-role",
		Rotation: &state.Rotation{Phase: state.PhaseIntent, StartedAt: sh.clock.Now(), OldKeyIDs: []string{ci}, KnownKeyIDs: []string{ci}, RoleID: "ci-role"}}); err != nil {
		t.Fatal(err)
	}
	sh.sinkA.failWrite = errors.New("disk full") // the ci rotation stays in flight
	out, err := sh.engine.Pass(context.Background(), []string{"_self"}, Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := outcomeOf(out, "_self"); o.Decision.Reason != ReasonOthersInFlight {
		t.Fatalf("own-key outcome %+v, want %q", o, ReasonOthersInFlight)
	}
	if len(sh.liveAdmin()) != 1 {
		t.Error("a new own key was made while another rotation was in flight")
	}
}

// A confirmation that fails after the switch goes back to the old key
// (still valid); the next pass resumes from the store and switches again.
func TestSelfRotationUnconfirmedKeySwitchesBack(t *testing.T) {
	sh := newSelfHarness(t, 0)
	old := sh.own
	sh.api.createHook = func(k apiclient.Key) error {
		sh.api.mu.Lock()
		defer sh.api.mu.Unlock()
		if sh.api.getLag == nil {
			sh.api.getLag = map[string]bool{}
		}
		sh.api.getLag[k.ID] = true
		if sh.api.hidden == nil {
			sh.api.hidden = map[string]int{}
		}
		sh.api.hidden[k.ID] = 1 // the confirmation's listing lacks it
		return nil
	}
	out := sh.pass(Options{Force: true})
	if o, _ := outcomeOf(out, "_self"); o.Err == nil {
		t.Fatalf("own-key outcome %+v: want the confirmation to fail", o)
	}
	if sh.sapi.signing() != old || sh.engine.own() != old {
		t.Fatalf("signing with %s after a failed confirmation, want the old key %s", sh.sapi.signing(), old)
	}
	sh.api.mu.Lock()
	sh.api.getLag = nil
	sh.api.mu.Unlock()
	sh.clock.Add(time.Hour)
	sh.pass(Options{IgnoreBackoff: true})
	now := sh.store.holds("rotatord-admin")
	if now == old || sh.sapi.signing() != now {
		t.Fatalf("after recovery: store %s, signing %s", now, sh.sapi.signing())
	}
	if live := sh.liveAdmin(); len(live) != 1 || live[0] != now {
		t.Errorf("live own keys %v, want only %s", live, now)
	}
}

// Killed between the store's write and the delivered record: the restart
// reads the new key from the store, signs with it, and finishes.
func TestSelfRotationKilledAfterTheStoreWrite(t *testing.T) {
	sh := newSelfHarness(t, 0)
	old := sh.own
	sh.wrap = func(j state.Journal) state.Journal {
		return failingJournal{j, func(r state.Record) bool {
			return r.Policy == "_self" && r.Rotation != nil && r.Rotation.Phase == state.PhaseDelivered
		}}
	}
	sh.restart(old)
	sh.pass(Options{Force: true})
	now := sh.store.holds("rotatord-admin")
	if now == old {
		t.Fatal("the store was not written")
	}
	sh.wrap = nil
	sh.restart(now) // the new process reads the store
	sh.clock.Add(time.Hour)
	sh.pass(Options{IgnoreBackoff: true})
	if live := sh.liveAdmin(); len(live) != 1 || live[0] != now {
		t.Errorf("live own keys %v, want only %s", live, now)
	}
	if r, _ := sh.harness.store.Get("_self", "rotatord-admin"); r.Rotation != nil || r.CurrentKeyID != now {
		t.Errorf("record %+v, want %s current and nothing in flight", r, now)
	}
}

// Killed after the create, before the store's write: the restart signs
// with the old key the store still holds and drops the new one with it.
func TestSelfRotationKilledBeforeTheStoreWrite(t *testing.T) {
	sh := newSelfHarness(t, 0)
	old := sh.own
	sh.store.failWrite = errors.New("killed")
	sh.wrap = func(j state.Journal) state.Journal {
		return failingJournal{j, func(r state.Record) bool { return r.Policy == "_self" && r.Failures > 0 }}
	}
	sh.restart(old)
	sh.pass(Options{Force: true})
	sh.store.failWrite = nil
	sh.wrap = nil
	sh.restart(old)
	sh.clock.Add(time.Hour)
	sh.pass(Options{IgnoreBackoff: true})
	if live := sh.liveAdmin(); len(live) > 2 || !slices.Contains(live, sh.store.holds("rotatord-admin")) || !slices.Contains(live, sh.sapi.signing()) {
		t.Errorf("live own keys %v; store holds %s, signing with %s", live, sh.store.holds("rotatord-admin"), sh.sapi.signing())
	}
}

// A new own key the API applies late: the store gets it only once it
// signs; one that never does is rolled back, and the store keeps the old.
func TestSelfRotationStoresOnlyAKeyThatSigns(t *testing.T) {
	sh := newSelfHarness(t, 0)
	old := sh.own
	sh.sapi.cannotSign = 1
	if o, _ := outcomeOf(sh.pass(Options{Force: true}), "_self"); o.Err != nil {
		t.Fatalf("own-key outcome %+v", o)
	}
	if now := sh.store.holds("rotatord-admin"); now == old || sh.sapi.checks != 2 {
		t.Fatalf("store holds %s after %d checks, want a new key after 2", now, sh.sapi.checks)
	}

	sh = newSelfHarness(t, 0)
	old = sh.own
	sh.sapi.cannotSign = 1000
	if o, _ := outcomeOf(sh.pass(Options{Force: true}), "_self"); o.Err == nil || !strings.Contains(o.Err.Error(), "does not sign") {
		t.Fatalf("own-key outcome %+v, want the rotation to fail", o)
	}
	if sh.store.holds("rotatord-admin") != old || sh.sapi.signing() != old {
		t.Error("the store or the client took a key that does not sign")
	}
	if live := sh.liveAdmin(); len(live) != 1 || live[0] != old {
		t.Errorf("live own keys %v, want the old one alone (the new rolled back)", live)
	}
}

// A policy matching every name, with a record of the own key's name (it
// manages a key of another role there), never takes the own key.
func TestSelfKeyIsNeverAnotherPolicys(t *testing.T) {
	sh := newSelfHarness(t, 0)
	other := sh.api.add("rotatord-admin", "ci-role")
	if err := sh.harness.store.Put(state.Record{Policy: "ci", Name: "rotatord-admin", CurrentKeyID: other, RoleID: "ci-role", CurrentSince: sh.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	old := sh.own
	out := sh.pass(Options{Force: true})
	o, ok := outcomeOf(out, "_self")
	if !ok || o.Err != nil {
		t.Fatalf("own-key outcome %+v (found %v)", o, ok)
	}
	now := sh.store.holds("rotatord-admin")
	if now == old || !slices.Contains(sh.liveAdmin(), now) {
		t.Errorf("the own key was not rotated: store holds %s", now)
	}
	for _, o := range out {
		if o.Policy == "ci" && slices.Contains(o.KeyIDs, old) {
			t.Errorf("policy ci handled the own key: %+v", o)
		}
	}
}

// A store holding a working key that is not the own key's (another name
// or role) is never used to sign.
func TestSelfStoreHoldingAnotherKeyIsNotFollowed(t *testing.T) {
	sh := newSelfHarness(t, time.Hour)
	sh.pass(Options{})
	ci := sh.api.add("ci-runner", "ci-role")
	sh.store.mu.Lock()
	sh.store.held["rotatord-admin"] = sinks.Credential{Name: "rotatord-admin", KeyID: ci, Secret: "CI-SECRET"}
	sh.store.mu.Unlock()
	sh.pass(Options{})
	if sh.sapi.signing() == ci || sh.engine.own() == ci {
		t.Fatalf("rotatord signs with %s, a ci key the store held", ci)
	}
}
