package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/state"
)

// A key past max_age but not past its name's share of the jitter is not
// rotated by the next pass (plan says fresh): the landing page must not
// show it as due at the next pass, nor count it among the policy's due.
func TestLandingPageAllowsForTheJitterShare(t *testing.T) {
	pol := rotation.Policy{Name: "ci", MaxAge: 24 * time.Hour, Jitter: 24 * time.Hour}
	name := "ci-runner"
	share := rotation.JitterOffset(name, pol.Jitter)
	if share < time.Hour {
		t.Fatalf("test premise: %s's share of the jitter is only %s", name, share)
	}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	since := now.Add(-pol.MaxAge - share/2) // past max_age, within the share
	rec := state.Record{Policy: "ci", Name: name, CurrentKeyID: "EXO1", CurrentSince: since}
	d := rotation.Decide(rotation.Input{Now: now, MaxAge: pol.MaxAge, Record: rec, JitterOffset: share,
		Live: []apiclient.Key{{ID: "EXO1", Name: name}}})
	if d.Reason != rotation.ReasonFresh {
		t.Fatalf("test premise: the pass's decision %+v", d)
	}
	row := landingRowOf(rec, pol, now)
	if row.Overdue || !strings.HasPrefix(row.NextRotation, "in ") {
		t.Errorf("landing row %+v: says the next pass rotates a key due at %v", row, d.Due)
	}
}
