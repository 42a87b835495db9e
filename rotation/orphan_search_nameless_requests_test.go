package rotation

// The orphan search asks by GET for the name of each key listed without
// one (every field of the API's schema is optional). A key's name and role
// never change (the API has no update): an organization of many keys that
// the listings show without their names must not cost a GET per key at
// every pass of the search.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

func TestOrphanSearchAsksTheNameOfEachNamelessKeyOnce(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	const others = 200
	api := &nameless{fakeAPI: h.api, blank: map[string]bool{}}
	for i := range others {
		api.blank[h.api.add(fmt.Sprintf("ci-other-%d", i), roleCI)] = true
	}
	h.pass(Options{})
	h.useAPI(api)
	h.api.createHook = func(k apiclient.Key) error {
		// The create is lost before the API applies it: no key is made.
		h.api.mu.Lock()
		delete(h.api.keys, k.ID)
		h.api.mu.Unlock()
		return apiclient.ErrAmbiguousCreate
	}
	h.api.mu.Lock()
	gets0 := h.api.gets
	h.api.mu.Unlock()
	h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
	h.api.createHook = nil
	for range 6 {
		h.clock.Add(time.Minute)
		h.engine.Pass(context.Background(), []string{"ci"}, Options{IgnoreBackoff: true})
	}
	h.api.mu.Lock()
	gets := h.api.gets - gets0
	h.api.mu.Unlock()
	if gets > others+10 {
		t.Errorf("the orphan search made %d GETs for %d keys listed without their names (want each asked once)", gets, others)
	}
}
