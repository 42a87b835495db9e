package rotation

import (
	"testing"
	"time"
)

// TestStaleMomentsMinutesApartDoNotMakeADeliveredKeyGone: the API's answers
// lag twice, minutes apart, for a delivered key that stays live (a listing,
// a GET and a second listing miss it each time; every pass in between
// shows it). Each miss alone is shorter than the settle time, so the key
// is not gone: the sinks keep it, no key is made for the name, and no live
// key is left in no sink.
func TestStaleMomentsMinutesApartDoNotMakeADeliveredKeyGone(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	delivered := h.sinkA.holds("ci-runner")
	if delivered == "" || delivered == old {
		t.Fatalf("sink a holds %q after the rotation, want a new key", delivered)
	}

	h.clock.Add(time.Minute)
	h.api.hide(delivered, 2) // the pass's listing, then the GET and the check's listing
	h.pass(Options{})
	for range 3 {
		h.clock.Add(time.Minute)
		h.pass(Options{}) // the key shows again
	}
	h.api.hide(delivered, 2) // one more lagging moment, four minutes later
	h.pass(Options{})

	if got := h.sinkA.holds("ci-runner"); got != delivered {
		t.Errorf("sink a holds %q, want still the live key %s: two short lags are no deletion", got, delivered)
	}
	if h.api.maxLive > 2 {
		t.Errorf("name had %d live keys at once, want at most 2 (live now: %v)", h.api.maxLive, h.api.live("ci-runner"))
	}
	if live := h.api.live("ci-runner"); len(live) != 2 {
		t.Errorf("live keys %v, want the old key %s and the delivered %s", live, old, delivered)
	}
}
