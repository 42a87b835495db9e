package rotation

// Failing tests from an independent review of the issue-10 protocol. Each
// demonstrates a defect: the comment says the exact sequence and the
// invariant it breaks.

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// reloadingAPI runs hook once, right after the first ListKeys or GetKey
// that returns: a SIGHUP that lands while a pass or DeleteDue runs.
type reloadingAPI struct {
	*fakeAPI
	once   sync.Once
	hook   func()
	onList bool // fire on ListKeys (else on GetKey)
}

func (a *reloadingAPI) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	keys, err := a.fakeAPI.ListKeys(ctx)
	if a.onList {
		a.once.Do(a.hook)
	}
	return keys, err
}

func (a *reloadingAPI) GetKey(ctx context.Context, id string) (apiclient.Key, error) {
	k, err := a.fakeAPI.GetKey(ctx, id)
	if !a.onList {
		a.once.Do(a.hook)
	}
	return k, err
}

func credOf(name, id string) sinks.Credential {
	return sinks.Credential{Name: name, KeyID: id, RoleID: roleCI, Secret: secret.Value("held-" + id)}
}

// Defect: the deletion of old keys runs on the policy snapshot a pass (or
// DeleteDue) took before a reload. A reload during the grace period adds a
// sink that still holds the old key (the README: "A sink added or changed
// during a grace period that cannot prove what it holds blocks the
// deletion of the old key"); if it lands after the snapshot and before the
// deletion, deleteOld checks only the old sinks, catchUp never sees the new
// one, and the old key is deleted under it: an outage. Only rotate() is
// gated by the policy generation (beginIntent); deleteOld, recover and
// adoptFromSinks are not.
func TestReloadDuringDeletionChecksTheStaleSinks(t *testing.T) {
	for _, tt := range []struct {
		name   string
		onList bool
		run    func(h *harness)
	}{
		{"pass", true, func(h *harness) { h.pass(Options{}) }},
		{"DeleteDue", false, func(h *harness) { h.engine.DeleteDue(context.Background()) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, time.Hour)
			old := h.api.add("ci-runner", roleCI)
			h.pass(Options{Force: true})
			newID := h.sinkA.holds("ci-runner")
			if newID == "" || newID == old {
				t.Fatalf("sink a holds %q", newID)
			}
			// A template the operator adds now: it renders the key in use.
			tmpl := newMemSink("tmpl")
			tmpl.opaque = true
			tmpl.held["ci-runner"] = credOf("ci-runner", old)
			h.api.sinks = append(h.api.sinks, tmpl)
			h.clock.Add(time.Hour)

			withTmpl := h.policy
			withTmpl.Sinks = toSinks(h.sinkA, h.sinkB, tmpl)
			// A SIGHUP arrives from another goroutine: the reload waits for
			// a handler in flight (it acts wholly under the old sinks) and
			// takes effect before the next one starts.
			reloaded := make(chan error, 1)
			ra := &reloadingAPI{fakeAPI: h.api, onList: tt.onList, hook: func() {
				go func() { reloaded <- h.engine.SetPolicies([]Policy{withTmpl}) }()
				time.Sleep(20 * time.Millisecond) // let it wait on the handler
			}}
			h.engine.Reconfigure(ra, h.own, 4)
			tt.run(h)
			if err := <-reloaded; err != nil {
				t.Fatalf("reload: %v", err)
			}
			h.engine.Reconfigure(h.api, h.own, 4)
			if slices.Contains(h.api.live("ci-runner"), old) {
				// The reload took effect before the deletion: the added
				// sink blocks it until it holds the new key.
				h.pass(Options{})
			}
			h.clock.Add(time.Minute)
			h.engine.DeleteDue(context.Background())
			h.pass(Options{})
			if got := tmpl.holds("ci-runner"); got != newID {
				t.Errorf("the sink the reload added holds %s, want the live key %s", got, newID)
			}
			if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != newID {
				t.Errorf("live = %v, want %s", live, newID)
			}
		})
	}
}

// Defect: adoptFromSinks records a delivered rotation without the reload
// gate rotate() uses (beginIntent). Sequence: a name has two live keys and
// no rotation (a key made by hand, or a journal restored from an older
// copy); a pass lists the keys; a reload removes the policy (accepted:
// nothing is in flight); the pass's handler adopts and records a rotation
// of the removed policy. Nothing finishes it (DeleteDue and passes only
// see installed policies), so the extra key is never deleted, and from
// then on every reload and every restart is refused as "stranded".
func TestAdoptionAfterAReloadStrandsARotation(t *testing.T) {
	h := newHarness(t, time.Hour)
	cur := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	h.sinkA.held["ci-runner"] = credOf("ci-runner", cur)
	h.sinkB.held["ci-runner"] = credOf("ci-runner", cur)
	h.api.add("ci-runner", roleCI) // by hand, or what an older journal does not know
	ra := &reloadingAPI{fakeAPI: h.api, onList: true, hook: func() {
		if err := h.engine.SetPolicies(nil); err != nil {
			t.Errorf("reload: %v", err)
		}
	}}
	h.engine.Reconfigure(ra, h.own, 4)
	h.pass(Options{})
	if r := h.record("ci-runner"); r.Rotation != nil {
		t.Errorf("rotation of policy ci recorded after a reload removed it: %+v", r.Rotation)
	}
	// The consequence: no later reload or restart is accepted.
	if err := h.engine.SetPolicies(nil); err != nil {
		t.Errorf("a later reload is refused: %v", err)
	}
}

// Defect: recovery (and deleteOld) mark a key they did not delete as
// Deleted when a GET answers 404 and one listing lacks it. Sequence: a
// rotation whose second sink failed (created phase, sink a holds the new
// key K1 with its secret); more than the settle time later a pass's
// listing, the GET and the confirming listing all lag for K1; recover
// takes K1 as gone, notes it in rec.Deleted and clears the rotation. The
// listings show K1 again at once, but Deleted hides it from the name's
// live keys for as long as it is listed: the next pass rotates again (a
// third live key), and K1, alive, held by no sink after that rotation, is
// never deleted (a leak no record will clean up). Deleted is documented
// as "keys the API acknowledged deleting"; these never were.
func TestALaggingListingHidesALiveKeyForever(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	h.sinkB.failWrite = errors.New("vault sealed")
	h.pass(Options{Force: true})
	newID := h.sinkA.holds("ci-runner")
	if newID == "" || newID == old {
		t.Fatalf("sink a holds %q", newID)
	}
	h.sinkB.failWrite = nil
	h.clock.Add(5 * time.Minute) // past the backoff and the settle time
	h.api.hide(newID, 2)         // the pass's listing and the confirming one lag
	h.pass(Options{})
	for range 4 {
		h.clock.Add(time.Hour)
		h.pass(Options{IgnoreBackoff: true})
	}
	h.assertAtMostTwoKeys()
	h.assertSinksHoldLiveKeys("ci-runner", h.sinkA, h.sinkB)
	live := h.api.live("ci-runner")
	held := h.sinkA.holds("ci-runner")
	for _, id := range live {
		if id != held && id != h.sinkB.holds("ci-runner") {
			t.Errorf("LEAK: key %s is live, no sink holds it, and the record hides it (Deleted: %v)", id, h.record("ci-runner").Deleted)
		}
	}
}
