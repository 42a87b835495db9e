package rotation

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
)

// TestSinkCheckCopiesFromAFileAdoptedAsItWas: a key made by hand and
// written to both files of a name (created_at and all) is adopted from
// them; rotatord writes neither, so what it records of each delivery must
// be what the file holds. Then one file is removed: the check gives the
// key back from the other file, which rotatord never saw changed, instead
// of taking it for a file edited since and rotating the name.
func TestSinkCheckCopiesFromAFileAdoptedAsItWas(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.sinks = nil // the files are checked below
	dirA, dirB := t.TempDir(), t.TempDir()
	fa, fb := fileSinkAt(t, dirA+"/{{.Name}}.json", file.FormatJSON), fileSinkAt(t, dirB+"/{{.Name}}.json", file.FormatJSON)
	h.policy.Sinks = []sinks.Sink{fa, fb}
	h.policy.SinkCheck = time.Hour
	h.engine.SetPolicies([]Policy{h.policy})
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	h.clock.Add(2 * time.Hour)
	h.pass(Options{})
	if live := h.api.live("ci-runner"); len(live) != 1 {
		t.Fatalf("setup: live keys %v", live)
	}

	// A second key, made by hand and written to both files a day ago.
	byHand := h.api.add("ci-runner", roleCI)
	c := sinks.Credential{Name: "ci-runner", KeyID: byHand, RoleID: roleCI, Secret: secret.Value("the-secret-of-the-key-made-by-hand"),
		CreatedAt: h.clock.Now().Add(-24 * time.Hour).UTC()}
	for _, s := range []sinks.Sink{fa, fb} {
		if err := s.Write(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	h.pass(Options{}) // adopts the key the files hold
	if r := h.record("ci-runner"); r.CurrentKeyID != byHand {
		t.Fatalf("setup: current key %s, want the adopted %s", r.CurrentKeyID, byHand)
	}
	h.clock.Add(2 * time.Hour)
	h.pass(Options{})
	h.clock.Add(time.Minute)
	h.pass(Options{})
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != byHand {
		t.Fatalf("setup: live keys %v, want the adopted key %s alone", live, byHand)
	}

	if err := os.Remove(filepath.Join(dirB, "ci-runner.json")); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(checkAgain)
	h.pass(Options{})
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != byHand {
		t.Errorf("live keys %v: the removed file could be given the key back from the other, want %s kept", live, byHand)
	}
	if got, err := fb.Read(context.Background(), "ci-runner"); err != nil || got.KeyID != byHand {
		t.Errorf("removed file holds %q (%v), want %s given back", got.KeyID, err, byHand)
	}
}
