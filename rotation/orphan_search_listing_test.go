package rotation

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// staleListing leaves key omit out of the listing numbered at (counted
// from 1): a listing that lags behind the API, as the simulator's stale
// reads do.
type staleListing struct {
	*fakeAPI
	mu    sync.Mutex
	calls int
	at    int
	omit  string
}

func (s *staleListing) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	keys, err := s.fakeAPI.ListKeys(ctx)
	s.mu.Lock()
	s.calls++
	stale := s.calls == s.at
	s.mu.Unlock()
	if stale {
		keys = slices.DeleteFunc(keys, func(k apiclient.Key) bool { return k.ID == s.omit })
	}
	return keys, err
}

// Found by the chaos campaign (seed 1, app-04): a create whose answer was
// lost made a key; rotatord was killed with the intent on record and
// restarted with its clock ahead (here: past the settle time). The pass's
// listing showed the key, the orphan search's own listing, a stale one,
// did not, and the search, its settle time seemingly over, rolled the
// intent back. The key, whose secret nobody has, then blocked the name for
// good ("two live keys already"), its sinks empty.
func TestLostCreateKeyThePassListedIsNotForgottenOnAStaleSearchListing(t *testing.T) {
	h := newHarness(t, 0)
	h.policy.AdoptRotate = true // sinks empty: the first rotation delivers the first key
	h.newEngine()
	h.api.add("ci-runner", roleCI)
	var orphan string
	h.api.createHook = func(k apiclient.Key) error {
		orphan = k.ID
		h.api.hide(k.ID, 1) // the search right after the create misses it too
		return apiclient.ErrAmbiguousCreate
	}
	h.pass(Options{})
	if orphan == "" || h.record("ci-runner").Rotation == nil {
		t.Fatalf("setup: want an intent on record after a lost create answer (orphan %q, record %+v)", orphan, h.record("ci-runner"))
	}
	h.api.createHook = nil

	// Restart with the clock well ahead; the second listing of the first
	// pass (the search's) omits the key the first (the pass's) showed.
	h.clock.Add(3 * time.Minute)
	h.useAPI(&staleListing{fakeAPI: h.api, at: 2, omit: orphan})
	for i := 0; i < 3; i++ {
		h.engine.Pass(context.Background(), nil, Options{})
	}
	if slices.Contains(h.api.live("ci-runner"), orphan) {
		r := h.record("ci-runner")
		t.Errorf("the key %s of the lost create is still alive, held by no sink (live %v, current %s, rotation %+v)",
			orphan, h.api.live("ci-runner"), r.CurrentKeyID, r.Rotation)
	}
	if held := h.sinkA.holds("ci-runner"); held == "" || !slices.Contains(h.api.live("ci-runner"), held) {
		t.Errorf("sink a holds %q, want a live key of ci-runner (live %v)", held, h.api.live("ci-runner"))
	}
	h.assertNoSecretLeak()
}

// A name left with two live keys and no sink holding either waits for an
// operator. The warning that says so came only from the pass that first
// saw it so (the record changed): a restarted daemon, or one whose first
// sight of the second key was a pass that recovered a rotation, never
// logged it, and the name stayed unrotated with nothing in its log.
func TestTwoUnheldKeysAreReportedByEachProcess(t *testing.T) {
	h := newHarness(t, 0)
	a := h.api.add("ci-runner", roleCI)
	b := h.api.add("ci-runner", roleCI)
	warned := func() bool {
		for _, e := range h.logs.FilterMessageSnippet("two live keys").All() {
			if e.ContextMap()["name"] == "ci-runner" {
				return true
			}
		}
		return false
	}
	h.pass(Options{})
	if !warned() {
		t.Fatalf("setup: no warning for ci-runner's two keys %s and %s", a, b)
	}
	h.newEngine() // a restart: the record is known and unchanged
	h.pass(Options{})
	h.pass(Options{})
	if !warned() {
		t.Errorf("the restarted process never reported ci-runner's two live keys %s and %s, which no sink holds and it does not rotate", a, b)
	}
	if n := len(h.logs.FilterMessageSnippet("two live keys").All()); n > 1 {
		t.Errorf("the restarted process reported ci-runner's two keys %d times in two passes, want once", n)
	}
}
