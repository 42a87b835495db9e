package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A file sink whose target (one key name, so validate judges it) is a
// symlink: validate said "directory DIR: target is not a regular file
// (symlink)", naming the directory, which is fine, and not the target,
// which is the problem. It names the target now.
func TestValidateNamesABadSinkTarget(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(out, "ci-runner.json")
	if err := os.Symlink("/etc/passwd", target); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "p.yml")
	if err := os.WriteFile(path, []byte(`exoscale:
  api_key: EXOabc
  api_secret: s
state_dir: `+filepath.Join(dir, "state")+`
policies:
  - name: ci
    match: {name: ci-runner}
    sinks:
      - type: file
        path: `+filepath.Join(out, "{{.Name}}.json")+`
`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Validate(path, ValidateOptions{Host: true, Getenv: func(string) string { return "" }})
	want := "p.yml:10: policies[0].sinks[0].path: " + target + ": target is not a regular file (symlink)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Validate() = %v, want a problem %q", err, want)
	}
}
