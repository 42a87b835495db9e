package rotation

import (
	"context"
	"testing"
)

// TestListingThatLosesAnOwnKeyTheAPIShowedIsRefused: the GET of
// rotatord's own key tells a credential the API keeps outside its key
// list from a partial listing only if the API never showed that key. Once
// a listing showed it, a listing without it is partial (or lagging), and
// a GET that lags as well is no proof the API does not know the key: the
// pass must be refused as before, not act on that listing.
func TestListingThatLosesAnOwnKeyTheAPIShowedIsRefused(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{}) // the listing shows the own key
	h.api.mu.Lock()
	h.api.hidden = map[string]int{h.own: 1 << 30}
	h.api.getLag = map[string]bool{h.own: true}
	h.api.mu.Unlock()
	if _, err := h.engine.Pass(context.Background(), nil, Options{}); err == nil {
		t.Fatal("a pass acted on a listing without the own key the API listed a pass before, on a GET that lags as the listing does")
	}
}

// TestLaggingOwnKeyKeepsTheOwnNameSkip: a policy that matches the name of
// rotatord's own key leaves the whole name alone. Once the API has shown
// the own key, a pass whose listing and GET both lag on it is refused, so
// the other key under the own key's name is neither rotated nor deleted.
// (A process that has never seen its own key cannot tell that double lag
// from a credential the API keeps outside its key list: the README says
// so.)
func TestLaggingOwnKeyKeepsTheOwnNameSkip(t *testing.T) {
	h := newHarness(t, 0)
	other := h.api.add("rotatord-admin", roleCI)
	h.pass(Options{}) // the listing shows the own key
	h.api.mu.Lock()
	h.api.hidden = map[string]int{h.own: 1 << 30}
	h.api.getLag = map[string]bool{h.own: true}
	h.api.mu.Unlock()
	if _, err := h.engine.Pass(context.Background(), nil, Options{Force: true}); err == nil {
		t.Error("a forced pass acted on a listing without the own key the API showed before")
	}
	h.api.mu.Lock()
	_, kept := h.api.keys[other]
	h.api.mu.Unlock()
	if !kept {
		t.Fatalf("key %s under the own key's name was rotated and deleted on a listing without the own key", other)
	}
}
