package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
)

// TestLogsPrintHostileNamesRaw: issue 11 "plan and once print key
// names raw ... Quote or escape control characters in every human-facing
// output". The tables are escaped now, but a matching name that fails
// CheckName is logged by rotation's skipName ("skipping a matching key
// name rotatord will not manage", zap.String("name", name)), and
// `plan`/`once`/`run` write that log to stderr, i.e. to the operator's
// terminal, with --log-format console or json. zap escapes only C0
// controls and invalid UTF-8: a C1 control (U+009B is CSI in a UTF-8
// xterm: "\u009b2K" erases the line like ESC[2K), a bidi override (U+202E
// reverses the rest of the line in bidi-aware terminals and log viewers,
// the Trojan Source trick) or U+2028 (a line break for many viewers) pass
// raw. The same holds for every other log field carrying an
// attacker-controlled string (the refused-deletion log's api_name, Vault
// and API error messages).
//
// Attack: create a key named "ci-x\u009b2K\u009b1G...\u202e" matching ci-*;
// the warning meant to tell the operator about the hostile name rewrites
// the line it is printed on.
//
// Expected: rotatord's logger escapes every non-printable rune (as cell
// does with strconv.IsPrint), or skipName logs strconv.Quote(name).
func TestLogsPrintHostileNamesRaw(t *testing.T) {
	hostile := "ci-x\u009b2K\u009b1Gci-legit rotated\u202e\u2028forged"
	sim := exosimtest.NewServer(t, exosim.DefaultSeed())
	if _, err := sim.CreateKey(hostile, exosim.CIRoleID); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte(sim.Admin().Secret), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "rotatord.yml")
	policy := fmt.Sprintf(`exoscale:
  endpoint: %s
  api_key: %s
  api_secret_file: secret
state_dir: state
listen: 127.0.0.1:0
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks:
      - type: file
        path: "out/{{.Name}}.json"
`, sim.Endpoint, sim.Admin().Key)
	if err := os.WriteFile(config, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"console", "json"} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"plan", "--config", config, "--log-format", format}, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("plan --log-format %s: exit %d, stderr %q", format, code, stderr.String())
		}
		if !strings.Contains(stderr.String(), "skipping a matching key name") {
			t.Fatalf("plan --log-format %s: no skip warning in stderr %q", format, stderr.String())
		}
		for _, r := range []rune{'\u009b', '\u202e', '\u2028'} {
			if strings.ContainsRune(stderr.String(), r) {
				t.Errorf("plan --log-format %s: stderr (the operator's terminal) holds %U raw: %q", format, r, stderr.String())
			}
		}
	}
}
