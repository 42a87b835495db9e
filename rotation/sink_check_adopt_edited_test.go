package rotation

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/secret"
)

// TestAdoptionTakesNoSecretFromAFileACheckFoundEdited: a check found sink
// a rewritten by its consumer under the current key's id and sink b
// emptied; the name waits for its window. Meanwhile someone makes a
// second key under the name by hand, and the next pass adopts from the
// sinks. The edited file is no source there either: its secret must not
// be written to sink b, nor the loss forgotten (the name rotates when the
// window opens).
func TestAdoptionTakesNoSecretFromAFileACheckFoundEdited(t *testing.T) {
	h, key := editedOutsideWindow(t)
	h.api.add("ci-runner", roleCI) // a key made by hand
	h.clock.now = time.Date(2026, 12, 14, 8, 30, 0, 0, time.UTC)
	h.pass(Options{})
	gotB := h.sinkB.cred("ci-runner")
	if gotB.Secret == secret.Value("edited-by-its-consumer") {
		t.Errorf("adoption gave sink b the secret sink a's consumer wrote under key %s", key)
	}
	if r := h.record("ci-runner"); !stillLost(h.policy, &r) && r.Rotation == nil {
		t.Errorf("the loss was forgotten: record %+v", r.Delivered)
	}
}
