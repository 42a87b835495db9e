//go:build unix

package vault

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A named pipe planted at secret_id_file after the first login (after
// `validate` checked the file) is refused at the next login, with an error
// naming the file, instead of a blocking open that holds the re-login, the
// sink and its rotation until someone writes to the pipe.
func TestVaultAppRoleReloginRefusesANamedPipeAtSecretIDFile(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	roleID, secretID := srv.appRole(t, "pipe", nil)
	e.forbid(secretID)
	path := e.file("secret-id", secretID)
	s := e.sink("", func(o *Options) {
		o.Auth = AuthOptions{Method: AuthAppRole, RoleID: roleID, SecretIDFile: path}
	})
	c := roundTrip(t, e, s, "app")

	// The token revoked behind the sink's back: its next operation logs
	// in again, and finds a pipe where the secret id was.
	srv.root(t, "POST", "auth/token/revoke", map[string]any{"token": currentToken(s)})
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Verify(ctxT(t), c) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		// Blocked on the pipe: let the open and the read end, then report.
		if w, werr := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); werr == nil {
			w.Close()
		}
		<-done
		t.Fatal("the re-login still waits on a named pipe at secret_id_file after a minute")
	}
	e.check(err)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), "secret_id_file") {
		t.Errorf("Verify with a named pipe at secret_id_file: %v, want an error naming secret_id_file %s as not a regular file", err, path)
	}
}

// The secret id file is read at each login: one rewritten with a new
// secret id (the old one destroyed) is what the next login uses.
func TestVaultAppRoleReloginReadsARewrittenSecretIDFile(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	roleID, first := srv.appRole(t, "rewritten", nil)
	e.forbid(first)
	path := e.file("secret-id", first)
	s := e.sink("", func(o *Options) {
		o.Auth = AuthOptions{Method: AuthAppRole, RoleID: roleID, SecretIDFile: path}
	})
	c := roundTrip(t, e, s, "app")

	out := srv.root(t, "POST", "auth/approle/role/rewritten/secret-id", map[string]any{})
	second := out["data"].(map[string]any)["secret_id"].(string)
	e.forbid(second)
	srv.root(t, "POST", "auth/approle/role/rewritten/secret-id/destroy", map[string]any{"secret_id": first})
	if err := os.WriteFile(path, []byte(second+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := currentToken(s)
	srv.root(t, "POST", "auth/token/revoke", map[string]any{"token": tok})

	err := s.Verify(ctxT(t), c)
	e.check(err)
	if err != nil {
		t.Fatalf("Verify after the secret id file was rewritten: %v, want a login with the new secret id", err)
	}
	if currentToken(s) == tok {
		t.Error("still the revoked token")
	}
	if n := e.countLogs("logged in to vault"); n != 2 {
		t.Errorf("%d logins, want 2", n)
	}
}
