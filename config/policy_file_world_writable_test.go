package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The policy file decides where secrets go and which programs hooks run
// (as rotatord's user, root under the shipped unit). A policy file every
// user may write passed validate, the start and each reload: any local user
// could point a sink at a world-readable file or a hook at /bin/sh. The
// state directory is refused when others can write it for the same reason
// (they could aim rotatord at keys); the policy file is refused too,
// naming the file and its mode.
func TestAPolicyFileEveryUserMayWriteIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rotatord.yml")
	if err := os.WriteFile(path, []byte(`exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret: secret
state_dir: state
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks: [{type: file, path: "/tmp/{{.Name}}.json"}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	for name, read := range map[string]func() error{
		"load":     func() error { _, err := Load(path); return err },
		"validate": func() error { _, _, err := Validate(path, ValidateOptions{Getenv: env(nil)}); return err },
	} {
		err := read()
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "0666") {
			t.Errorf("%s of a policy file with mode 0666: %v, want an error naming %s and its mode", name, err, path)
		}
	}
	// Group-writable stays allowed (an operators' group), as does 0644.
	for _, mode := range []os.FileMode{0o664, 0o644} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err != nil {
			t.Errorf("load of a policy file with mode %04o: %v", mode, err)
		}
	}
}
