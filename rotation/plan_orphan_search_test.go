package rotation

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// While the orphan search of a lost create waits for the API to settle,
// plan (a dry run) said only "a rotation was interrupted", with no time:
// it says what the search waits for and until when, the settle time
// counted from the intent on this host's clock and, when the API sends a
// Date, from the first search on the API's clock (the later of the two),
// and writes nothing.
func TestPlanShowsWhatAnOrphanSearchWaitsForAndUntilWhen(t *testing.T) {
	const settle = 2 * time.Minute // the engine's default
	for _, c := range []struct {
		name      string
		apiClock  bool
		hostAhead time.Duration // host clock's advance after the create
		apiAhead  time.Duration // API clock's advance after the create
		want      time.Duration // the wait's end, after the intent
	}{
		// No Date: the settle time from the intent.
		{name: "no API clock", hostAhead: 61 * time.Second, want: settle},
		// The API's clock moved less than this host's since the first
		// search: its settle time (one second more for Date's whole
		// seconds) ends later, counted from this listing.
		{name: "API clock behind", apiClock: true, hostAhead: 61 * time.Second, apiAhead: 31 * time.Second,
			want: 61*time.Second + settle + time.Second - 31*time.Second},
		// Both clocks alike: the API's extra second.
		{name: "API clock alike", apiClock: true, hostAhead: 61 * time.Second, apiAhead: 61 * time.Second,
			want: settle + time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, 0)
			h.policy.AdoptRotate = true
			server := h.clock.Now().Add(-7 * time.Hour) // another clock than this host's
			if c.apiClock {
				h.api.serverNow = func() time.Time { return server }
			}
			h.newEngine()
			h.api.add("ci-runner", roleCI)
			h.api.createHook = func(k apiclient.Key) error { // the answer lost, and no key made
				h.api.mu.Lock()
				delete(h.api.keys, k.ID)
				h.api.mu.Unlock()
				return apiclient.ErrAmbiguousCreate
			}
			h.pass(Options{})
			before := h.record("ci-runner")
			if before.Rotation == nil {
				t.Fatalf("setup: want an intent on record after a lost create answer")
			}
			h.api.createHook = nil
			// Past the failure's backoff (1 min), within the settle time.
			h.clock.Add(c.hostAhead)
			server = server.Add(c.apiAhead)

			var got *Outcome
			for _, o := range h.pass(Options{DryRun: true}) {
				if o.Name == "ci-runner" {
					got = &o
				}
			}
			if got == nil {
				t.Fatal("plan has no row for ci-runner")
			}
			want := before.Rotation.StartedAt.Add(c.want)
			if got.Decision.Reason != ReasonCreateSettle || !got.Decision.Due.Equal(want) {
				t.Errorf("plan: %s %q due %s; want reason %q due %s (%s after the intent)",
					got.Decision.Action, got.Decision.Reason, got.Decision.Due.Format(time.RFC3339), ReasonCreateSettle, want.Format(time.RFC3339), c.want)
			}
			after := h.record("ci-runner")
			if !after.Rotation.SearchFrom.Equal(before.Rotation.SearchFrom) || after.Failures != before.Failures {
				t.Errorf("plan wrote the record: search_from %s -> %s, failures %d -> %d",
					before.Rotation.SearchFrom, after.Rotation.SearchFrom, before.Failures, after.Failures)
			}

			// Once the wait is over, a pass would end the search: plan
			// says the interrupted rotation is recovered now.
			h.clock.Add(c.want)
			server = server.Add(c.want + time.Hour)
			for _, o := range h.pass(Options{DryRun: true}) {
				if o.Name == "ci-runner" && (o.Decision.Action != ActionRecover || !o.Decision.Due.IsZero()) {
					t.Errorf("plan once the wait is over: %s %q due %s; want recover now", o.Decision.Action, o.Decision.Reason, o.Decision.Due)
				}
			}
			h.assertNoSecretLeak()
		})
	}
}
