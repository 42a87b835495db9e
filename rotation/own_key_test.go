package rotation

// Review of issue 13 (own-key rotation): tests that try to break the
// engine's side of it. A failing test here is a defect.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

var errKilled = errors.New("killed")

// crashWorld kills the process at its n-th side-effecting step: the API
// calls, the switch of credential, the store's writes and the journal's
// writes. With after, the step takes effect and then the process dies
// (its answer is lost); else it dies just before. Once dead, every step
// fails and changes nothing.
type crashWorld struct {
	mu     sync.Mutex
	n      int
	killAt int
	after  bool
	dead   bool
	steps  []string
	cancel context.CancelFunc // the dying process's work stops
}

// step reports whether the step may run, and whether the process dies
// once it has.
func (w *crashWorld) step(name string) (run, dieAfter bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dead {
		return false, false
	}
	w.n++
	w.steps = append(w.steps, name)
	if w.n != w.killAt {
		return true, false
	}
	w.dead = true
	if w.cancel != nil {
		w.cancel()
	}
	return w.after, w.after
}

type crashAPI struct {
	w *crashWorld
	a *signedAPI
}

func (c crashAPI) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	run, die := c.w.step("list")
	if !run {
		return nil, errKilled
	}
	k, err := c.a.ListKeys(ctx)
	if die {
		return nil, errKilled
	}
	return k, err
}

func (c crashAPI) GetKey(ctx context.Context, id string) (apiclient.Key, error) {
	run, die := c.w.step("get")
	if !run {
		return apiclient.Key{}, errKilled
	}
	k, err := c.a.GetKey(ctx, id)
	if die {
		return apiclient.Key{}, errKilled
	}
	return k, err
}

func (c crashAPI) CreateKey(ctx context.Context, name, role string) (apiclient.CreatedKey, error) {
	run, die := c.w.step("create")
	if !run {
		return apiclient.CreatedKey{}, errKilled
	}
	k, err := c.a.CreateKey(ctx, name, role)
	if die {
		return apiclient.CreatedKey{}, errKilled
	}
	return k, err
}

func (c crashAPI) DeleteKey(ctx context.Context, id string) error {
	run, die := c.w.step("delete")
	if !run {
		return errKilled
	}
	err := c.a.DeleteKey(ctx, id)
	if die {
		return errKilled
	}
	return err
}

func (c crashAPI) ListRoles(ctx context.Context) ([]apiclient.Role, error) { return nil, nil }

func (c crashAPI) Current() sinks.Credential { return c.a.Current() }

func (c crashAPI) Use(cr sinks.Credential) (func(), error) {
	run, die := c.w.step("use")
	if !run {
		return nil, errKilled
	}
	r, err := c.a.Use(cr)
	if die {
		return nil, errKilled
	}
	return r, err
}

func (c crashAPI) Check(ctx context.Context, cr sinks.Credential) error {
	run, die := c.w.step("check")
	if !run {
		return errKilled
	}
	err := c.a.Check(ctx, cr)
	if die {
		return errKilled
	}
	return err
}

type crashJournal struct {
	state.Journal
	w *crashWorld
}

func (j crashJournal) Put(r state.Record) error {
	run, die := j.w.step("put " + r.Policy)
	if !run {
		return errKilled
	}
	err := j.Journal.Put(r)
	if die {
		return errKilled
	}
	return err
}

func (j crashJournal) Delete(policy, name string) error {
	run, die := j.w.step("forget " + policy)
	if !run {
		return errKilled
	}
	err := j.Journal.Delete(policy, name)
	if die {
		return errKilled
	}
	return err
}

type crashSink struct {
	*memSink
	w *crashWorld
}

func (s crashSink) Write(ctx context.Context, c sinks.Credential) error {
	run, die := s.w.step("store write")
	if !run {
		return errKilled
	}
	err := s.memSink.Write(ctx, c)
	if die {
		return errKilled
	}
	return err
}

func (s crashSink) Read(ctx context.Context, name string) (sinks.Held, error) {
	s.w.mu.Lock()
	dead := s.w.dead
	s.w.mu.Unlock()
	if dead {
		return sinks.Held{}, errKilled
	}
	return s.memSink.Read(ctx, name)
}

func (s crashSink) Verify(ctx context.Context, c sinks.Credential) error {
	s.w.mu.Lock()
	dead := s.w.dead
	s.w.mu.Unlock()
	if dead {
		return errKilled
	}
	return s.memSink.Verify(ctx, c)
}

// crashOwnRotation runs a forced own-key rotation in a process that dies
// at its killAt-th step, then restarts from what the store holds and runs
// passes and deletions until well after the grace period. It returns the
// steps the dying process took.
func crashOwnRotation(t *testing.T, killAt int, after bool, grace time.Duration) (*selfHarness, []string) {
	sh := newSelfHarness(t, grace)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &crashWorld{killAt: killAt, after: after, cancel: cancel}
	api := crashAPI{w: w, a: sh.sapi}
	store := crashSink{memSink: sh.store, w: w}
	e := New(Config{API: api, Store: crashJournal{sh.harness.store, w}, Logger: sh.engine.log, Recorder: sh.rec, Now: sh.clock.Now, Sleep: sh.clock.Sleep, OwnKeyID: sh.own})
	self := Policy{Name: "_self", MaxAge: 24 * time.Hour, GracePeriod: grace, Sinks: []sinks.Sink{store}, Self: api}
	if err := e.SetPolicies([]Policy{sh.policy, self}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Pass(ctx, nil, Options{Force: true}); err != nil && !errors.Is(err, errKilled) {
		t.Logf("pass of the dying process: %v", err)
	}
	e.DeleteDue(ctx)
	for i := 0; i < 3 && !w.dead; i++ {
		sh.clock.Add(grace + time.Minute)
		e.Pass(ctx, nil, Options{})
		e.DeleteDue(ctx)
	}
	w.mu.Lock()
	steps := slices.Clone(w.steps)
	w.mu.Unlock()

	// The restart reads what the store holds.
	sh.restart(sh.store.holds("rotatord-admin"))
	for i := 0; i < 12; i++ {
		sh.clock.Add(10 * time.Minute)
		if _, err := sh.engine.Pass(context.Background(), nil, Options{IgnoreBackoff: true}); err != nil {
			t.Errorf("pass %d after the restart: %v", i, err)
		}
		sh.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
	}
	return sh, steps
}

// checkSettled: exactly one own key alive, the store holds it, rotatord
// signs with it, and nothing of the own key is in flight.
func checkSettled(t *testing.T, sh *selfHarness, what string) {
	t.Helper()
	held := sh.store.holds("rotatord-admin")
	live := sh.liveAdmin()
	if len(live) != 1 || live[0] != held {
		t.Errorf("%s: live own keys %v, want only the one the store holds (%s)", what, live, held)
	}
	if s := sh.sapi.signing(); s != held || sh.engine.own() != held {
		t.Errorf("%s: signing with %s (engine %s), the store holds %s", what, s, sh.engine.own(), held)
	}
	if r, ok := sh.harness.store.Get("_self", "rotatord-admin"); ok && r.Rotation != nil {
		t.Errorf("%s: own-key rotation still in flight: %+v", what, *r.Rotation)
	}
}

// The chaos of the issue, in the engine: the process dies at every step of
// its own key's rotation (before the step, and after it with its answer
// lost); the restart reads the store. Afterwards exactly one own key is
// alive, the store holds it and rotatord signs with it.
func TestOwnKeyCrashAtEveryStep(t *testing.T) {
	for _, grace := range []time.Duration{0, time.Hour} {
		_, steps := crashOwnRotation(t, 0, false, grace)
		t.Logf("grace %v: %d steps: %v", grace, len(steps), steps)
		for k := 1; k <= len(steps); k++ {
			for _, after := range []bool{false, true} {
				name := fmt.Sprintf("grace=%v/kill-%s-step-%d-%s", grace, map[bool]string{false: "before", true: "after"}[after], k, steps[k-1])
				t.Run(name, func(t *testing.T) {
					sh, _ := crashOwnRotation(t, k, after, grace)
					checkSettled(t, sh, name)
					sh.assertNoSecretLeak()
				})
			}
		}
	}
}

// The confirmation of a new own key fails: rotatord switches back to the
// old key, while the store keeps the new one. Someone then deletes that
// new key. The recovery notes it gone and clears the rotation, but leaves
// the dead key in the store: from then until the next own-key rotation
// (the own key's schedule, an hour by default, or longer behind the
// failure backoff and other rotations) a restart or a reload reads a
// credential that signs nothing. rotatord still signs with the old key,
// whose secret it has: the store should get it back.
func TestStoreKeepsADeadOwnKeyAfterRecovery(t *testing.T) {
	sh := newSelfHarness(t, time.Hour)
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
	sh.api.createHook = nil
	neu := sh.store.holds("rotatord-admin")
	if neu == old || sh.sapi.signing() != old {
		t.Fatalf("setup: store %s, signing %s", neu, sh.sapi.signing())
	}
	// Someone deletes the new key.
	sh.api.mu.Lock()
	delete(sh.api.keys, neu)
	sh.api.getLag = nil
	sh.api.mu.Unlock()
	sh.clock.Add(2 * time.Minute)
	sh.pass(Options{IgnoreBackoff: true})
	held := sh.store.holds("rotatord-admin")
	if !slices.Contains(sh.liveAdmin(), held) {
		t.Errorf("after the recovery the store holds %s, a deleted key (rotatord signs with %s, alive): a restart now cannot authenticate", held, sh.sapi.signing())
	}
}

// Restarted during the own key's grace period, rotatord fires due
// deletions before any listing (the pass at start failed: the network was
// not up yet). The own-key policy's match knows the own key's name only
// from a listing, so the deletion refuses the old key as "not the
// policy's", drops it from the rotation and ends it: the old admin key is
// left alive (until a later pass adopts the name again and waits out a
// whole new grace period), and a deletion refusal is counted.
func TestOwnKeyDeletionBeforeAnyListingRefusesTheOldKey(t *testing.T) {
	sh := newSelfHarness(t, time.Hour)
	old := sh.own
	if o, _ := outcomeOf(sh.pass(Options{Force: true}), "_self"); o.Err != nil {
		t.Fatal(o.Err)
	}
	neu := sh.store.holds("rotatord-admin")
	sh.restart(neu)
	sh.clock.Add(time.Hour + time.Minute)
	sh.engine.DeleteDue(context.Background())
	sh.clock.Add(time.Minute)
	sh.engine.DeleteDue(context.Background())
	if slices.Contains(sh.liveAdmin(), old) {
		r, _ := sh.harness.store.Get("_self", "rotatord-admin")
		t.Errorf("the old own key %s is alive after its grace period; refusals %d; rotation %+v", old, sh.rec.refused, r.Rotation)
	}
	if sh.rec.refused > 0 {
		t.Errorf("%d deletions refused: the own key's old key was taken for another policy's", sh.rec.refused)
	}
}

// Held: the store is restored to the old credential during the grace
// period and rotatord restarts with it: it keeps signing with the old key,
// never deletes it, and drops the new one (which no store holds) instead.
func TestStoreRestoredToOldCredentialDuringGrace(t *testing.T) {
	sh := newSelfHarness(t, time.Hour)
	old := sh.own
	if o, _ := outcomeOf(sh.pass(Options{Force: true}), "_self"); o.Err != nil {
		t.Fatal(o.Err)
	}
	sh.store.mu.Lock()
	sh.store.held["rotatord-admin"] = sinks.Credential{Name: "rotatord-admin", KeyID: old, Secret: "ADMIN-SECRET"}
	sh.store.mu.Unlock()
	sh.restart(old)
	for i := 0; i < 8; i++ {
		sh.clock.Add(30 * time.Minute)
		if _, err := sh.engine.Pass(context.Background(), nil, Options{IgnoreBackoff: true}); err != nil {
			t.Fatalf("pass %d: %v", i, err)
		}
		sh.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
	}
	checkSettled(t, sh, "store restored")
	if sh.store.holds("rotatord-admin") != old {
		t.Errorf("the store holds %s, want the old key it was restored to", sh.store.holds("rotatord-admin"))
	}
}

// Held: a concurrent pass of another policy (its own cron) and the own
// key's pass, many times over: the own key's switch never happens inside
// another rotation, and nothing signs with a deleted key.
func TestConcurrentPassesWithOwnKey(t *testing.T) {
	sh := newSelfHarness(t, 0)
	for i := 0; i < 6; i++ {
		sh.api.add(fmt.Sprintf("ci-%d", i), roleCI)
	}
	sh.pass(Options{})
	for round := 0; round < 10; round++ {
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		for _, names := range [][]string{{"_self"}, {"ci"}, nil} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := sh.engine.Pass(context.Background(), names, Options{Force: true})
				if err != nil {
					errs <- err
				}
				for _, o := range out {
					if o.Err != nil {
						errs <- fmt.Errorf("%s/%s: %w", o.Policy, o.Name, o.Err)
					}
				}
			}()
		}
		wg.Add(1)
		go func() { defer wg.Done(); sh.engine.DeleteDue(context.Background()) }()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Logf("round %d: %v", round, err)
		}
	}
	for i := 0; i < 3; i++ {
		sh.clock.Add(time.Hour)
		sh.pass(Options{IgnoreBackoff: true})
	}
	checkSettled(t, sh, "after concurrent passes")
	sh.assertAtMostTwoKeys()
}

// Held: the own key's create answer is lost and the key shows in listings
// only later: the orphan search, signed with the old key (the store still
// holds it), finds the new key and deletes it; nothing switches.
func TestOwnKeyAmbiguousCreateAppliedLate(t *testing.T) {
	sh := newSelfHarness(t, 0)
	old := sh.own
	sh.api.createHook = func(k apiclient.Key) error {
		sh.api.hide(k.ID, 3)
		return apiclient.ErrAmbiguousCreate
	}
	sh.pass(Options{Force: true})
	sh.api.createHook = nil
	for i := 0; i < 10; i++ {
		sh.clock.Add(time.Minute)
		if _, err := sh.engine.Pass(context.Background(), nil, Options{IgnoreBackoff: true}); err != nil {
			t.Fatalf("pass %d: %v", i, err)
		}
	}
	checkSettled(t, sh, "lost create")
	if sh.store.holds("rotatord-admin") != old {
		t.Errorf("the store holds %s, want the old key", sh.store.holds("rotatord-admin"))
	}
	if by := sh.sapi.deletedBy; len(by) != 1 {
		t.Errorf("deletions %v, want the orphan's alone", by)
	} else {
		for id, signer := range by {
			if signer != old || id == old {
				t.Errorf("key %s deleted with %s", id, signer)
			}
		}
	}
}

// An operator replaces the credential in the store by hand (a key of the
// same name and role, made in the console) and does not restart rotatord.
// The own-key policy adopts the key the store holds and schedules the one
// rotatord signs with for deletion, which deleteOld then skips as "the key
// rotatord authenticates with" and forgets; the next pass adopts again:
// forever two admin keys, the own key never rotated again, and rotatord
// never signs with the credential its store holds.
func TestStoreReplacedWhileRunningNeverSettles(t *testing.T) {
	sh := newSelfHarness(t, time.Hour)
	sh.pass(Options{})
	hand := sh.api.add("rotatord-admin", "admin-role")
	sh.store.mu.Lock()
	sh.store.held["rotatord-admin"] = sinks.Credential{Name: "rotatord-admin", KeyID: hand, Secret: "HAND-SECRET"}
	sh.store.mu.Unlock()
	for i := 0; i < 12; i++ {
		sh.clock.Add(30 * time.Minute)
		if _, err := sh.engine.Pass(context.Background(), nil, Options{IgnoreBackoff: true}); err != nil {
			t.Fatalf("pass %d: %v", i, err)
		}
		sh.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
	}
	t.Logf("%d times: not deleting the key rotatord authenticates with", sh.logs.FilterMessage("not deleting the key rotatord authenticates with").Len())
	checkSettled(t, sh, "store replaced by hand")
}
