package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFileSinkPathProblemFileOnly: `validate --file-only` left the file
// sink's own checks of its rendered path (a '..' or '//' in it) to a
// second stage in the CLI, after every other problem was fixed, and printed
// it without a line ("f.yml: policies[0].sinks[0]: file sink: ..."). It is
// one of the file's problems, with its line, reported beside the others.
func TestFileSinkPathProblemFileOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.yml")
	doc := `exoscale: {api_key: EXO0123456789abcdef01234567, api_secret: s3cr3t}
policies:
  - name: ci
    match: {name: ci-*}
    max_age: 1x
    sinks:
      - type: file
        path: /srv/out/{{.Name}}/../x.json
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Validate(path, ValidateOptions{Getenv: noEnv})
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	if !strings.Contains(msg, ":5: policies[0].max_age") || !strings.Contains(msg, ":7: policies[0].sinks[0]: file sink: path template") {
		t.Errorf("want the max_age and the path problem, each with its line, got:\n%s", msg)
	}
}
