package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateValidLineIsOneLine: validate's problem lines escape the
// file's name, but its "valid" line printed it as it was: a file name
// holding a newline (a CI step that validates each file a change adds,
// named by whoever wrote the change) printed a line of its own, such as
// another file's "valid" verdict.
func TestValidateValidLineIsOneLine(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x\nforged.yml: valid (9 policies)\n")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "rotatord.yml")
	body := "policies:\n  - name: ci\n    match: {name: ci-runner}\n    sinks: [{type: file, path: /etc/ci/runner.json}]\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("validate", "--file-only", path)
	if code != 0 {
		t.Fatalf("validate = %d\n%s%s", code, stdout, stderr)
	}
	if strings.Count(stdout, "\n") != 1 || !strings.HasSuffix(stdout, ": valid (1 policies)\n") {
		t.Errorf("validate printed %q; want one line ending in its verdict", stdout)
	}
}
