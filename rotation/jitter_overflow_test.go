package rotation

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/state"
)

// max_age and jitter are each at most about 292 years (a time.Duration),
// and validate lets jitter be up to max_age: their sum must not wrap
// around to a negative age that makes every key due at every pass.
func TestLongMaxAgeWithJitterIsNotDueAtOnce(t *testing.T) {
	now := time.Date(2026, 12, 14, 12, 0, 0, 0, time.UTC)
	maxAge := 200 * 365 * 24 * time.Hour
	jitter := 150 * 365 * 24 * time.Hour
	rec := state.Record{Name: "ci-x", RoleID: "r", CurrentKeyID: "EXO1", CurrentSince: now.Add(-time.Hour)}
	in := Input{Now: now, MaxAge: maxAge, Live: []apiclient.Key{{ID: "EXO1", Name: "ci-x", RoleID: "r"}}, Record: rec,
		JitterOffset: JitterOffset("ci-x", jitter)}
	if in.JitterOffset <= jitter/10 {
		t.Fatalf("test premise: ci-x's share of the jitter (%s) is too small for max_age plus it to overflow", in.JitterOffset)
	}
	d := Decide(in)
	if d.Action != ActionNone || d.Reason != ReasonFresh || !d.Due.After(now.Add(maxAge/2)) {
		t.Errorf("a key an hour old under max_age 200y and jitter 150y: %+v, want none (younger than max_age), due in centuries", d)
	}
}
