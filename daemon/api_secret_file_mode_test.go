package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An account's api_secret_file every user may read: run logs a warning
// naming the account and the file, never the secret (run warned of a
// credential_file readable by others, but not of this).
func TestWorldReadableAPISecretFileIsLogged(t *testing.T) {
	e := newAccountsEnv(t)
	secretFile := filepath.Join(e.dir, "green-secret")
	if err := os.Chmod(secretFile, 0o644); err != nil {
		t.Fatal(err)
	}
	e.open()
	found := false
	for _, l := range e.logs.All() {
		fields := l.ContextMap()
		if strings.Contains(l.Message, "api_secret_file") && fields["account"] == "green" && fields["api_secret_file"] == secretFile {
			found = true
		}
		if strings.Contains(fmt.Sprint(l.Message, fields), e.green.Secret) {
			t.Errorf("a log line shows the secret: %s", l.Message)
		}
	}
	if !found {
		t.Error("no warning names account green's world-readable api_secret_file")
	}
}

// An account's api_secret_file another user owns: run logs that this user
// can replace the credential, naming the account and the file.
func TestReplaceableAPISecretFileIsLogged(t *testing.T) {
	e := newAccountsEnv(t)
	secretFile := filepath.Join(e.dir, "green-secret")
	if err := os.Lchown(secretFile, 4242, -1); err != nil {
		t.Skipf("cannot give a file to another user (needs root): %v", err)
	}
	e.open()
	found := false
	for _, l := range e.logs.All() {
		fields := l.ContextMap()
		if strings.Contains(l.Message, "uid 4242") && fields["account"] == "green" && fields["api_secret_file"] == secretFile {
			found = true
		}
	}
	if !found {
		t.Error("no warning says another user can replace account green's api_secret_file")
	}
}
