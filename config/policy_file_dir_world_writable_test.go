package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A policy file of mode 0644 in a directory every user may write (without
// the sticky bit) is no safer than one of mode 0666: anyone may rename it
// away and put their own in its place, which the next reload or start
// reads (sinks aimed at files everyone reads, hooks run as rotatord). The
// directory of the file, and of the file a symlink leads to, is refused
// as hook programs' are, naming it and its mode; a sticky one (/tmp) is
// not (others may not rename a file they do not own there).
func TestAPolicyFileInADirectoryEveryUserMayWriteIsRefused(t *testing.T) {
	policy := []byte(`exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret: secret
state_dir: /var/lib/rotatord
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks: [{type: file, path: "/tmp/{{.Name}}.json"}]
`)
	// A short directory name: error messages hide a long path component
	// (it could be a secret), as t.TempDir's is.
	root, err := os.MkdirTemp("", "pf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	open := filepath.Join(root, "open")
	safe := filepath.Join(root, "safe")
	for _, d := range []string{open, safe} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	inOpen := filepath.Join(open, "rotatord.yml")
	if err := os.WriteFile(inOpen, policy, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(safe, "rotatord.yml")
	if err := os.Symlink(inOpen, link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{inOpen, link} {
		for name, read := range map[string]func() error{
			"load":     func() error { _, err := Load(path); return err },
			"validate": func() error { _, _, err := Validate(path, ValidateOptions{Getenv: env(nil)}); return err },
		} {
			err := read()
			if err == nil || !strings.Contains(err.Error(), open) || !strings.Contains(err.Error(), "0777") {
				t.Errorf("%s of %s: %v, want an error naming %s and its mode", name, path, err, open)
			}
		}
	}
	// Sticky, as /tmp: others may not replace the file.
	if err := os.Chmod(open, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(inOpen); err != nil {
		t.Errorf("load of a policy file in a sticky directory: %v", err)
	}
}
