package vault

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A token file larger than a token can be is refused, naming the file,
// not cut at the bound and sent to Vault as a token: its first 64 KiB are
// no token, and the whole of some other file may be a secret of its own.
func TestTokenFileLargerThanATokenIsRefusedNotCut(t *testing.T) {
	dir, err := os.MkdirTemp("", "token")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "token")
	if err := os.WriteFile(path, []byte(strings.Repeat("a", maxTokenFileSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := readSecretFile(path)
	if err == nil || !strings.Contains(err.Error(), "larger than") || !strings.Contains(err.Error(), path) {
		t.Errorf("readSecretFile of %d bytes: %d bytes read, error %v; want refused as too large, naming %s", maxTokenFileSize+1, len(tok), err, path)
	}
}
