package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/secret"
)

// A web configuration file's name that looks like a secret is shown as
// secret.ShownPath shows it in every error about the file: the toolkit's
// refusal too, not only the mode and type checks.
func TestWebConfigErrorsShowTheFileNameAsEveryOtherError(t *testing.T) {
	const name = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("basic_auth_users: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(secret.ShownPath(path), "not shown") {
		t.Fatalf("test premise: ShownPath(%s) = %s hides the name", path, secret.ShownPath(path))
	}
	err := ValidateWebConfig(path)
	if err == nil || strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), secret.ShownPath(path)) {
		t.Errorf("ValidateWebConfig = %v; want the name as ShownPath shows it", err)
	}
}
