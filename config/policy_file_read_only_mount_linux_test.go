package config

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A Kubernetes ConfigMap volume is mounted read-only, its files with the
// volume's defaultMode (0777 is common for scripts): nobody may write such
// a policy file whatever its mode says, yet the check of a file every user
// may write refused it, and rotatord would not start (nor reload) with its
// policy file there. A read-only mount is not refused for its write bits.
func TestAPolicyFileOnAReadOnlyMountIsReadWhateverItsWriteBits(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs (root needed): %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	// The ConfigMap volume's layout: the file is a symlink through ..data.
	data := filepath.Join(dir, "..2026_12_06_15_00_00.000000001")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "rotatord.yml"), []byte(`exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret: secret
state_dir: /var/lib/rotatord
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks: [{type: file, path: "/tmp/{{.Name}}.json"}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(data, "rotatord.yml"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(data), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "rotatord.yml")
	if err := os.Symlink("..data/rotatord.yml", path); err != nil {
		t.Fatal(err)
	}
	// Writable still: refused.
	if _, err := Load(path); err == nil {
		t.Fatalf("load of a policy file of mode 0777 on a writable mount: no error")
	}
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount read-only: %v", err)
	}
	if _, err := Load(path); err != nil {
		t.Errorf("load of a policy file of mode 0777 on a read-only mount: %v", err)
	}
	if _, _, err := Validate(path, ValidateOptions{Getenv: env(nil)}); err != nil {
		t.Errorf("validate of a policy file of mode 0777 on a read-only mount: %v", err)
	}
}
