package daemon

import (
	"regexp"
	"testing"
	"time"

	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/state"
)

// TestLandingShowsNoKeyID: the README promises the landing page
// "shows no secret and no key id", and TestLandingPageLinksAndPlan checks
// it only for the records' key id fields. But the "last failure" column
// prints state.Record.LastError verbatim, and the engine writes errors that
// name key ids into it (rotation/delete.go "delete old key %s: ...",
// "look up old key %s", rotation/rotate.go "confirm new key: the API does
// not show key %s", recover.go "... new key %s yet", evidence.go
// "key %s is held by sink ..."). So any failed deletion or confirmation
// publishes the Exoscale key id (the api_key half of the credential) to
// whoever can reach the unauthenticated listen port.
func TestLandingShowsNoKeyID(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	e.d.opts.Now = func() time.Time { return now }
	// The LastError exactly as rotation/delete.go's failDelete records it.
	rec := state.Record{
		Policy: "ci", Name: "ci-stuck", CurrentKeyID: "EXO0123456789abcdef0123456",
		CurrentSince: now.Add(-time.Hour),
		Failures:     1, LastFailure: now.Add(-time.Minute),
		LastError: "delete old key EXOfedcba9876543210fedcba98: api: 403 Forbidden",
		Rotation: &state.Rotation{Phase: state.PhaseDelivered, StartedAt: now.Add(-2 * time.Hour),
			NewKeyID: "EXO0123456789abcdef0123456", OldKeyIDs: []string{"EXOfedcba9876543210fedcba98"},
			DeliveredAt: now.Add(-2 * time.Hour), DeleteAfter: now.Add(-time.Hour)},
	}
	if err := e.d.account(config.DefaultAccount).store.Put(rec); err != nil {
		t.Fatal(err)
	}
	_, body := getPage(t, serveHandler(t, e.d)+"/")
	if ids := regexp.MustCompile(`EXO[0-9a-fA-F]{8,}`).FindAllString(body, -1); len(ids) > 0 {
		t.Errorf("GET / shows key ids %v (from the last failure), though the README says it shows none", ids)
	}
}
