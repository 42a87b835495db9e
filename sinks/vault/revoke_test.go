package vault

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// fakeAuth is a Vault that logs in with AppRole and Kubernetes, revokes
// tokens (auth/token/revoke-self) and refuses revoked ones; the rest goes
// to a fakeKV. hold, when set, holds every KV request until it is closed.
type fakeAuth struct {
	kv *fakeKV

	mu      sync.Mutex
	n       int
	valid   map[string]bool
	issued  []string
	revoked []string
	hold    chan struct{}
	held    chan struct{} // receives a value when a request is held
}

func newFakeAuth() *fakeAuth {
	return &fakeAuth{kv: newFakeKV(false, 0), valid: map[string]bool{}}
}

func (f *fakeAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	tok := r.Header.Get("X-Vault-Token")
	reply := func(status int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
	f.mu.Lock()
	switch {
	case r.Method == http.MethodPut && (path == "auth/approle/login" || path == "auth/kubernetes/login"):
		f.n++
		t := fmt.Sprintf("hvs.fake-login-%d", f.n)
		f.valid[t] = true
		f.issued = append(f.issued, t)
		f.mu.Unlock()
		reply(http.StatusOK, `{"auth":{"client_token":"`+t+`","lease_duration":3600,"renewable":true}}`)
		return
	case !f.valid[tok] && !strings.HasPrefix(tok, "hvs.operator-"):
		f.mu.Unlock()
		reply(http.StatusForbidden, `{"errors":["permission denied"]}`)
		return
	case path == "auth/token/revoke-self":
		delete(f.valid, tok)
		f.revoked = append(f.revoked, tok)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	hold, held := f.hold, f.held
	f.mu.Unlock()
	if hold != nil && strings.HasPrefix(path, "secret/") {
		held <- struct{}{}
		<-hold
	}
	f.kv.ServeHTTP(w, r)
}

func (f *fakeAuth) state() (issued, revoked []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.issued), slices.Clone(f.revoked)
}

func loginOptions(e *env, method string) func(*Options) {
	return func(o *Options) {
		switch method {
		case AuthAppRole:
			o.Auth = AuthOptions{Method: AuthAppRole, RoleID: "role", SecretIDFile: e.file("secret-id", "secret-id-value")}
		case AuthKubernetes:
			o.Auth = AuthOptions{Method: AuthKubernetes, Role: "rotatord", ServiceAccountTokenFile: e.file("sa-token", "sa-jwt")}
		}
	}
}

// TestRevokeLoginTokenOnClose: the token of an AppRole or Kubernetes login
// is revoked when the sink is closed (at a reload or a stop); a token the
// operator gave (token_file, VAULT_TOKEN) is not.
func TestRevokeLoginTokenOnClose(t *testing.T) {
	for _, method := range []string{AuthAppRole, AuthKubernetes} {
		t.Run(method, func(t *testing.T) {
			f := newFakeAuth()
			srv := httptest.NewServer(f)
			defer srv.Close()
			e := newEnv(t, nil)
			s := e.sink("", func(o *Options) {
				o.Address = srv.URL
				loginOptions(e, method)(o)
			})
			c := e.cred("ci-runner")
			if err := s.Write(t.Context(), c); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if err := s.Verify(t.Context(), c); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			issued, revoked := f.state()
			if len(issued) != 1 || len(revoked) != 0 {
				t.Fatalf("before Close: issued %v, revoked %v; want one login, no revocation", issued, revoked)
			}
			s.Close()
			if _, revoked = f.state(); !slices.Equal(revoked, issued) {
				t.Errorf("after Close: revoked %v, want %v", revoked, issued)
			}
			if currentToken(s) != "" {
				t.Error("the sink still holds the revoked token")
			}
			if e.countLogs("revoked the vault token rotatord logged in with") != 1 {
				t.Error("the revocation is not logged")
			}
			s.Close() // twice: nothing more
			if _, again := f.state(); len(again) != 1 {
				t.Errorf("a second Close revoked again: %v", again)
			}
		})
	}
	for name, change := range map[string]func(*env, *Options){
		"token_file": func(e *env, o *Options) {
			o.Auth = AuthOptions{TokenFile: e.file("token", "hvs.operator-file")}
		},
		"VAULT_TOKEN": func(e *env, o *Options) {
			o.Getenv = func(k string) string { return map[string]string{"VAULT_TOKEN": "hvs.operator-env"}[k] }
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeAuth()
			srv := httptest.NewServer(f)
			defer srv.Close()
			e := newEnv(t, nil)
			s := e.sink("", func(o *Options) {
				o.Address = srv.URL
				change(e, o)
			})
			if err := s.Write(t.Context(), e.cred("ci-runner")); err != nil {
				t.Fatalf("Write: %v", err)
			}
			s.Close()
			if _, revoked := f.state(); len(revoked) != 0 {
				t.Errorf("the operator's token was revoked: %v", revoked)
			}
		})
	}
}

// TestRevokeWaitsForOperationsInFlight: Close while an operation runs (a
// pass that began before a reload) leaves it its token, and the token is
// revoked when it ends; an operation that starts after Close logs in
// again, and its token is revoked when it ends.
func TestRevokeWaitsForOperationsInFlight(t *testing.T) {
	f := newFakeAuth()
	srv := httptest.NewServer(f)
	defer srv.Close()
	e := newEnv(t, nil)
	s := e.sink("", func(o *Options) {
		o.Address = srv.URL
		loginOptions(e, AuthAppRole)(o)
	})
	c := e.cred("ci-runner")
	if err := s.Write(t.Context(), c); err != nil {
		t.Fatalf("Write: %v", err)
	}

	hold := make(chan struct{})
	f.mu.Lock()
	f.hold, f.held = hold, make(chan struct{}, 16)
	held := f.held
	f.mu.Unlock()
	verified := make(chan error, 1)
	go func() { verified <- s.Verify(context.Background(), c) }()
	<-held // Verify is in flight

	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waits for the operation in flight")
	}
	if _, revoked := f.state(); len(revoked) != 0 {
		t.Fatalf("revoked %v while an operation still uses the token", revoked)
	}
	f.mu.Lock()
	f.hold = nil
	f.mu.Unlock()
	close(hold)
	if err := <-verified; err != nil {
		t.Fatalf("Verify during Close: %v", err)
	}
	issued, revoked := f.state()
	if len(issued) != 1 || !slices.Equal(revoked, issued) {
		t.Fatalf("after the operation: issued %v, revoked %v; want the one token revoked", issued, revoked)
	}

	// After Close: a new login, revoked at the end of the operation.
	if _, err := s.Read(t.Context(), "ci-runner"); err != nil {
		t.Fatalf("Read after Close: %v", err)
	}
	issued, revoked = f.state()
	if len(issued) != 2 || !slices.Equal(revoked, issued) {
		t.Errorf("after a Read after Close: issued %v, revoked %v; want both revoked", issued, revoked)
	}
}

// TestRevokeVaultDown: Vault gone at Close: a warning, and Close returns.
func TestRevokeVaultDown(t *testing.T) {
	f := newFakeAuth()
	srv := httptest.NewServer(f)
	e := newEnv(t, nil)
	s := e.sink("", func(o *Options) {
		o.Address = srv.URL
		loginOptions(e, AuthAppRole)(o)
	})
	if err := s.Write(t.Context(), e.cred("ci-runner")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	srv.Close()
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > revokeTimeout+2*time.Second {
		t.Errorf("Close took %v with Vault down", d)
	}
	if e.logs.FilterLevelExact(zap.WarnLevel).FilterMessageSnippet("could not revoke the vault token").Len() != 1 {
		t.Error("the failed revocation is not logged")
	}
}

// TestVaultRevokedOnClose: against a real Vault, the AppRole token is
// revoked at Close and the operator's token still works.
func TestVaultRevokedOnClose(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	roleID, secretID := srv.appRole(t, "revoke", nil)
	e.forbid(secretID)
	s := e.sink("", func(o *Options) {
		o.Auth = AuthOptions{Method: AuthAppRole, RoleID: roleID, SecretIDFile: e.file("secret-id", secretID)}
	})
	roundTrip(t, e, s, "app")
	tok := currentToken(s)
	e.forbid(tok)
	if err := lookupToken(srv, tok); err != nil {
		t.Fatalf("the login token does not work before Close: %v", err)
	}
	s.Close()
	if err := lookupToken(srv, tok); err == nil {
		t.Error("the AppRole token still works after Close")
	}

	operator := srv.token(t, nil)
	s2 := e.sink(operator, nil)
	roundTrip(t, e, s2, "operator")
	s2.Close()
	if err := lookupToken(srv, operator); err != nil {
		t.Errorf("the operator's token no longer works after Close: %v", err)
	}
}
