package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// `validate --online --file-only` asks for the API and this host to be
// checked, and for nothing beyond the file: it passed, silently checking
// the file alone (exit 0 on a credential nobody proved). A usage error,
// as two policy files are.
func TestValidateOnlineAndFileOnlyIsAUsageError(t *testing.T) {
	good := writeFile(t, filepath.Join(t.TempDir(), "good.yml"), `exoscale:
  api_key: EXO00000000000000000000000a
  api_secret: not-checked-here
state_dir: state
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks:
      - {type: file, path: "out/{{.Name}}.json"}
`)
	if code, _, stderr := runCLI("validate", "--file-only", good); code != 0 {
		t.Fatalf("setup: validate --file-only = %d\n%s", code, stderr)
	}
	for _, args := range [][]string{
		{"validate", "--online", "--file-only", good},
		{"validate", "--file-only", "--online", "--config.file", good},
	} {
		code, stdout, stderr := runCLI(args...)
		if code != 2 || !strings.Contains(stderr, "--online and --file-only") || !strings.Contains(stderr, "rotatord help validate") {
			t.Errorf("rotatord %s = %d, stdout %q, stderr %q; want a usage error (2) naming both flags", strings.Join(args[1:], " "), code, stdout, stderr)
		}
	}
}
