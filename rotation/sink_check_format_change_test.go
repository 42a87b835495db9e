package rotation

import (
	"context"
	"testing"
	"time"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
)

// TestSinkCheckRewritesAFileItCannotParseInItsFormat: a reload changes a
// file sink's format (json to env, same path). The file still holds what
// rotatord wrote there, byte for byte, but in a format its consumer, now
// reading env, cannot parse: the check takes it for lost, as the README
// says of a file it cannot parse, and writes it again from the other
// sink, in the format the policy names.
func TestSinkCheckRewritesAFileItCannotParseInItsFormat(t *testing.T) {
	h := newHarness(t, 0)
	h.api.sinks = nil
	dir := t.TempDir()
	mk := func(format string) sinks.Sink { return fileSinkAt(t, dir+"/{{.Name}}.conf", format) }
	h.policy.Sinks = []sinks.Sink{mk(file.FormatJSON), mustJSON(t)}
	h.policy.SinkCheck = time.Hour
	h.engine.SetPolicies([]Policy{h.policy})
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	key := h.api.live("ci-runner")[0]

	h.policy.Sinks[0] = mk(file.FormatEnv)
	h.engine.SetPolicies([]Policy{h.policy})
	h.clock.Add(checkAgain)
	h.pass(Options{})
	if got, err := h.policy.Sinks[0].Read(context.Background(), "ci-runner"); err != nil || got.KeyID != key {
		t.Errorf("the file reads back %q (%v) in its new format, want the current key %s written again", got.KeyID, err, key)
	}
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != key {
		t.Errorf("live keys %v, want %s alone: the other sink could give the key back", live, key)
	}
}
