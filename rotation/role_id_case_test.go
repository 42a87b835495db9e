package rotation

// Role ids are UUIDs, which compare without regard to case (RFC 4122:
// "case insensitive on input"). An API whose answers spell one role id in
// two cases (seed keys listed with the role id as it was once sent in
// upper case, new keys with the role's own lower-case id) must neither
// leak the keys rotatord creates nor stop it rotating.

import (
	"context"
	"strings"
	"testing"
	"time"
)

const roleUpper = "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE"

func TestRoleIDInAnotherCaseNeitherLeaksNorStopsRotation(t *testing.T) {
	for _, grace := range []time.Duration{0, time.Hour} {
		t.Run(grace.String(), func(t *testing.T) {
			h := newHarness(t, grace)
			old := h.api.add("ci-runner", roleUpper)
			h.api.mu.Lock()
			h.api.roleSpelling = strings.ToLower // the API answers with its own spelling of the role id
			h.api.mu.Unlock()

			for range 6 {
				h.pass(Options{Force: true, IgnoreBackoff: true})
				h.clock.Add(grace + 3*time.Minute)
				h.engine.DeleteDue(context.Background())
			}

			r := h.record("ci-runner")
			held := h.sinkA.holds("ci-runner")
			live := h.api.live("ci-runner")
			for _, id := range live {
				known := id == r.CurrentKeyID || id == held
				if rot := r.Rotation; rot != nil && (id == rot.NewKeyID || strings.Contains(strings.Join(rot.OldKeyIDs, ","), id)) {
					known = true
				}
				if !known {
					t.Errorf("LEAK: key %s of ci-runner is alive, held by no sink and not on record (live %v, sink holds %q, record current %q)", id, live, held, r.CurrentKeyID)
				}
			}
			if h.api.maxLive > 2 {
				t.Errorf("ci-runner had %d live keys at once, want at most 2", h.api.maxLive)
			}
			if held == "" || held == old {
				t.Errorf("the sink holds %q: the name never rotated away from %s (last error %q)", held, old, r.LastError)
			}
			if len(live) != 1 || live[0] != held {
				t.Errorf("live keys %v, want only the key the sinks hold (%s)", live, held)
			}
		})
	}
}
