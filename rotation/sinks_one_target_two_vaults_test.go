package rotation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/vault"
)

// Two Vault sinks of one policy with the same mount and path template on
// two Vault servers (validate takes them, as their addresses differ) write
// two secrets, but the state journal knows a sink by its target (mount and
// path) and cannot tell them apart: refused, saying so
// (TestSinksOfOneJournalIDOnTwoServersAreRefused). The same server under
// two spellings of its address is one target, and refused as such.
func TestTwoVaultSinksOfOnePathAreRefusedOnOneServerOrTwo(t *testing.T) {
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("dev-root-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	mk := func(addr string) sinks.Sink {
		s, err := vault.New(vault.Options{
			Address: addr, Path: template.Must(template.New("p").Parse("rotatord/{{.Name}}")),
			Policy: "ci", Auth: vault.AuthOptions{TokenFile: token},
			Getenv: func(string) string { return "" },
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	for _, tc := range []struct {
		a, b string
		why  string
	}{
		{"http://127.0.0.1:18200", "http://127.0.0.2:18200", "cannot tell their deliveries apart"},
		{"http://127.0.0.1:18200", "http://127.0.0.1:18200/", "both render target"},
	} {
		h := newHarness(t, 0)
		h.policy.Sinks = []sinks.Sink{mk(tc.a), mk(tc.b)}
		h.newEngine()
		h.api.add("ci-runner", roleCI)
		// plan: what a pass would refuse before any key is made.
		o := findOutcome(h.pass(Options{Force: true, DryRun: true}), "ci-runner")
		if o.Err == nil || !strings.Contains(o.Err.Error(), tc.why) {
			t.Errorf("sinks on %s and %s: plan says %v, want refused: %s", tc.a, tc.b, o.Err, tc.why)
		}
	}
}
