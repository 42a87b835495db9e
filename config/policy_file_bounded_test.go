package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyFileReadBounded: the policy file was read whole, whatever its
// size: `rotatord validate /dev/zero` (or a --config.file pointing at a
// device or a runaway log) grew until the kernel killed it. A file larger
// than MaxPolicyFile is refused, naming the file and the bound, by
// validate and by run (Load) alike.
func TestPolicyFileReadBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.yml")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, MaxPolicyFile+1); err != nil {
		t.Fatal(err)
	}
	_, _, err := Validate(path, ValidateOptions{})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("validate of a file of %d bytes: %v; want it refused as too large", MaxPolicyFile+1, err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("load of a file of %d bytes: %v; want it refused as too large", MaxPolicyFile+1, err)
	}
	if _, _, err := Validate("/dev/zero", ValidateOptions{}); err == nil || !strings.Contains(err.Error(), "/dev/zero") {
		t.Errorf("validate /dev/zero: %v; want it refused, naming it", err)
	}
}
