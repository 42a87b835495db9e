package vault

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/vault/vaulttest"
)

// These tests run against a real Vault dev server (see TestMain).

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// roundTrip probes, writes, verifies and reads back a credential.
func roundTrip(t *testing.T, e *env, s *Sink, name string) sinks.Credential {
	t.Helper()
	ctx := ctxT(t)
	c := e.cred(name)
	if err := s.Probe(ctx, name); err != nil {
		e.check(err)
		t.Fatalf("Probe: %v", err)
	}
	if err := s.Write(ctx, c); err != nil {
		e.check(err)
		t.Fatalf("Write: %v", err)
	}
	if err := s.Verify(ctx, c); err != nil {
		e.check(err)
		t.Fatalf("Verify: %v", err)
	}
	h, err := s.Read(ctx, name)
	if err != nil {
		e.check(err)
		t.Fatalf("Read: %v", err)
	}
	if h.KeyID != c.KeyID || h.Secret != c.Secret {
		t.Fatalf("Read = %s, want %s and its secret", h.KeyID, c.KeyID)
	}
	return c
}

// secretData reads the latest version as root.
func (e *env) secretData(name string) (data map[string]any, version int) {
	e.t.Helper()
	out := e.srv.root(e.t, "GET", "secret/data/"+e.prefix+"/"+name, nil)
	d := out["data"].(map[string]any)
	md := d["metadata"].(map[string]any)
	data, _ = d["data"].(map[string]any)
	return data, int(md["version"].(float64))
}

func (e *env) customMetadata(name string) map[string]any {
	e.t.Helper()
	out := e.srv.root(e.t, "GET", "secret/metadata/"+e.prefix+"/"+name, nil)
	cm, _ := out["data"].(map[string]any)["custom_metadata"].(map[string]any)
	return cm
}

// writeAsOther writes data at name as someone else (root), with no marker.
func (e *env) writeAsOther(name string, data map[string]any) {
	e.t.Helper()
	e.srv.root(e.t, "POST", "secret/data/"+e.prefix+"/"+name, map[string]any{"data": data})
}

func TestVaultTokenRoundTrip(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	s := e.sink(srv.token(t, nil), nil)
	ctx := ctxT(t)

	c := roundTrip(t, e, s, "ci-runner")
	data, version := e.secretData("ci-runner")
	if version != 1 {
		t.Errorf("version %d, want 1", version)
	}
	want := map[string]any{
		FieldAPIKey: c.KeyID, FieldAPISecret: c.Secret.Reveal(), FieldName: "ci-runner",
		FieldRoleID: c.RoleID, FieldCreatedAt: c.CreatedAt.UTC().Format(time.RFC3339),
	}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("data[%s] = %v, want %v", k, data[k], v)
		}
	}
	if len(data) != len(want) {
		t.Errorf("data has %d fields, want %d", len(data), len(want))
	}
	if got := e.customMetadata("ci-runner")[ManagedByKey]; got != ManagedByValue {
		t.Errorf("custom metadata %s = %v, want %s", ManagedByKey, got, ManagedByValue)
	}

	// The next rotation writes version 2; the old credential no longer verifies.
	c2 := roundTrip(t, e, s, "ci-runner")
	if _, v := e.secretData("ci-runner"); v != 2 {
		t.Errorf("version %d after the second write, want 2", v)
	}
	err := s.Verify(ctx, c)
	e.check(err)
	if !errors.Is(err, sinks.ErrMismatch) {
		t.Errorf("Verify(old) = %v, want ErrMismatch", err)
	}

	// A later version with the same content is not the version written.
	e.writeAsOther("ci-runner", data2(c2))
	err = s.Verify(ctx, c2)
	e.check(err)
	if !errors.Is(err, sinks.ErrMismatch) || !strings.Contains(err.Error(), "rotatord wrote version 2") {
		t.Errorf("Verify after another writer copied the content = %v, want ErrMismatch naming version 2", err)
	}

	// Nothing at another name.
	if _, err := s.Read(ctx, "absent"); !errors.Is(err, sinks.ErrNotHeld) {
		t.Errorf("Read(absent) = %v, want ErrNotHeld", err)
	}
	if err := s.Verify(ctx, e.cred("absent")); !errors.Is(err, sinks.ErrNotHeld) {
		t.Errorf("Verify(absent) = %v, want ErrNotHeld", err)
	}
}

func data2(c sinks.Credential) map[string]any {
	return map[string]any{FieldAPIKey: c.KeyID, FieldAPISecret: c.Secret.Reveal()}
}

func TestVaultReadDeletedAndDamaged(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	s := e.sink(srv.token(t, nil), nil)
	ctx := ctxT(t)

	roundTrip(t, e, s, "deleted")
	srv.root(t, "DELETE", "secret/data/"+e.prefix+"/deleted", nil)
	if _, err := s.Read(ctx, "deleted"); !errors.Is(err, sinks.ErrNotHeld) {
		t.Errorf("Read after delete = %v, want ErrNotHeld", err)
	}
	// Writing again works (check-and-set on the deleted version).
	roundTrip(t, e, s, "deleted")

	roundTrip(t, e, s, "destroyed")
	srv.root(t, "POST", "secret/destroy/"+e.prefix+"/destroyed", map[string]any{"versions": []int{1}})
	if _, err := s.Read(ctx, "destroyed"); !errors.Is(err, sinks.ErrNotHeld) {
		t.Errorf("Read after destroy = %v, want ErrNotHeld", err)
	}

	// Fields missing: unreadable, and no match.
	c := roundTrip(t, e, s, "damaged")
	e.writeAsOther("damaged", map[string]any{FieldAPIKey: c.KeyID})
	_, err := s.Read(ctx, "damaged")
	e.check(err)
	if !errors.Is(err, sinks.ErrUnreadable) {
		t.Errorf("Read of a secret without api_secret = %v, want ErrUnreadable", err)
	}
	err = s.Verify(ctx, c)
	e.check(err)
	if !errors.Is(err, sinks.ErrMismatch) {
		t.Errorf("Verify of a secret without api_secret = %v, want ErrMismatch", err)
	}
}

func TestVaultAppRole(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	roleID, secretID := srv.appRole(t, "roundtrip", nil)
	e.forbid(secretID)
	s := e.sink("", func(o *Options) {
		o.Auth = AuthOptions{Method: AuthAppRole, RoleID: roleID, SecretIDFile: e.file("secret-id", secretID)}
	})
	roundTrip(t, e, s, "app")
	if n := e.countLogs("logged in to vault"); n != 1 {
		t.Errorf("%d logins, want 1", n)
	}

	// A wrong secret_id: a clear error, no leak.
	bad := e.sink("", func(o *Options) {
		o.Auth = AuthOptions{Method: AuthAppRole, RoleID: roleID, SecretIDFile: e.file("bad-secret-id", "not-the-"+secretID)}
	})
	e.forbid("not-the-" + secretID)
	err := bad.Probe(ctxT(t), "app")
	e.check(err)
	if err == nil || !strings.Contains(err.Error(), "login (approle at auth/approle)") {
		t.Errorf("Probe with a wrong secret_id = %v, want a login error", err)
	}
}

// TestVaultAppRoleTokenExpires: AppRole tokens live 2s, at most 3s, so
// renewal stops helping and the sink must log in again.
func TestVaultAppRoleTokenExpires(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	roleID, secretID := srv.appRole(t, "shortlived", map[string]any{"token_ttl": "2s", "token_max_ttl": "3s"})
	e.forbid(secretID)
	s := e.sink("", func(o *Options) {
		o.Auth = AuthOptions{Method: AuthAppRole, RoleID: roleID, SecretIDFile: e.file("secret-id", secretID)}
	})
	ctx := ctxT(t)
	if err := s.Probe(ctx, "app"); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	first := currentToken(s)
	time.Sleep(4500 * time.Millisecond) // past the max TTL
	if err := lookupToken(srv, first); !vaulttest.IsStatus(err, 403) {
		t.Fatalf("the first token still works after its max TTL (%v): the test proves nothing", err)
	}
	roundTrip(t, e, s, "app")
	if currentToken(s) == first {
		t.Error("still the first token")
	}
	if n := e.countLogs("logged in to vault"); n < 2 {
		t.Errorf("%d logins, want at least 2", n)
	}
	// The sink knew the token was past its TTL: Vault never had to refuse it.
	if n := e.countLogs("vault refused the token; getting a new one"); n != 0 {
		t.Errorf("%d refusals: the expiry was not noticed before the request", n)
	}

	// A token revoked behind the sink's back (it believes it valid): Vault
	// refuses it, the sink logs in again once and the operation succeeds.
	s2 := e.sink("", func(o *Options) {
		o.Auth = AuthOptions{Method: AuthAppRole, RoleID: roleID, SecretIDFile: e.file("secret-id-2", secretID)}
	})
	c := roundTrip(t, e, s2, "revoked")
	tok := currentToken(s2)
	srv.root(t, "POST", "auth/token/revoke", map[string]any{"token": tok})
	if err := s2.Verify(ctx, c); err != nil {
		t.Fatalf("Verify after the token was revoked: %v", err)
	}
	if currentToken(s2) == tok {
		t.Error("still the revoked token")
	}
	if n := e.countLogs("vault refused the token; getting a new one"); n < 1 {
		t.Error("no log of the refused token")
	}
}

// TestVaultTokenRenewed: a renewable token with a 4s TTL outlives it
// because the sink renews it in the background.
func TestVaultTokenRenewed(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	tok := srv.token(t, map[string]any{"ttl": "4s", "explicit_max_ttl": "1m", "renewable": true})
	s := e.sink(tok, nil)
	ctx := ctxT(t)
	if err := s.Probe(ctx, "renewed"); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	time.Sleep(6 * time.Second) // nothing but the background renewal in between
	if err := lookupToken(srv, tok); err != nil {
		t.Fatalf("token not kept alive: %v", err)
	}
	roundTrip(t, e, s, "renewed")
	if currentToken(s) != tok {
		t.Error("the token was replaced; it should have been renewed")
	}

	// After Close there is no renewal: the token expires.
	tok2 := srv.token(t, map[string]any{"ttl": "2s", "explicit_max_ttl": "1m", "renewable": true})
	s2 := e.sink(tok2, nil)
	if err := s2.Probe(ctx, "renewed"); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	s2.Close()
	time.Sleep(3 * time.Second)
	if err := lookupToken(srv, tok2); !vaulttest.IsStatus(err, 403) {
		t.Errorf("token renewed after Close (lookup: %v)", err)
	}
}

// TestVaultTokenFileReread: Vault Agent replaced the token in the file and
// the old one no longer works.
func TestVaultTokenFileReread(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	tokA := srv.token(t, nil)
	e.forbid(tokA)
	file := e.file("agent-token", tokA)
	s := e.sink("", func(o *Options) { o.Auth = AuthOptions{TokenFile: file} })
	ctx := ctxT(t)
	roundTrip(t, e, s, "agent")

	srv.root(t, "POST", "auth/token/revoke", map[string]any{"token": tokA})
	// Same token in the file: a clear error naming the file.
	err := s.Write(ctx, e.cred("agent"))
	e.check(err)
	if err == nil || !strings.Contains(err.Error(), "holds the same token") || !strings.Contains(err.Error(), "HTTP 403") {
		t.Fatalf("Write with a revoked token = %v, want a 403 naming the token file", err)
	}

	tokB := srv.token(t, nil)
	e.forbid(tokB)
	e.file("agent-token", tokB)
	roundTrip(t, e, s, "agent")
	if currentToken(s) != tokB {
		t.Error("not using the token from the file")
	}
}

// TestVaultConflict: someone writes the secret between rotatord's read of
// the version and its check-and-set write.
func TestVaultConflict(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	s := e.sink(srv.token(t, nil), nil)
	ctx := ctxT(t)

	t.Run("existing secret", func(t *testing.T) {
		roundTrip(t, e, s, "busy")
		other := e.cred("busy")
		s.inject = func(step string) error {
			if step == "data" {
				e.writeAsOther("busy", data2(other))
			}
			return nil
		}
		defer func() { s.inject = nil }()
		c := e.cred("busy")
		err := s.Write(ctx, c)
		e.check(err)
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("Write = %v, want ErrConflict", err)
		}
		if !strings.Contains(err.Error(), e.prefix+"/busy") {
			t.Errorf("error %q does not name the path", err)
		}
		data, _ := e.secretData("busy")
		if data[FieldAPIKey] != other.KeyID {
			t.Errorf("the other writer's version was overwritten")
		}
		if got := e.customMetadata("busy")[ManagedByKey]; got != ManagedByValue {
			t.Errorf("marker of a path rotatord owned removed")
		}
	})

	t.Run("new secret", func(t *testing.T) {
		other := e.cred("fresh")
		s.inject = func(step string) error {
			if step == "data" {
				e.writeAsOther("fresh", data2(other))
			}
			return nil
		}
		defer func() { s.inject = nil }()
		err := s.Write(ctx, e.cred("fresh"))
		e.check(err)
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("Write = %v, want ErrConflict", err)
		}
		// The marker this Write set is gone: the secret is the other
		// writer's, and the next rotation is refused up front.
		if _, ok := e.customMetadata("fresh")[ManagedByKey]; ok {
			t.Error("marker left on a secret someone else wrote")
		}
		if err := s.Probe(ctx, "fresh"); !errors.Is(err, ErrNotManaged) {
			t.Errorf("Probe = %v, want ErrNotManaged", err)
		}
	})

	t.Run("retried write of our own content", func(t *testing.T) {
		// A write that went through but whose answer was lost: the retry
		// conflicts with content that is ours, which counts as written.
		c := e.cred("retried")
		if err := s.Write(ctx, c); err != nil {
			t.Fatal(err)
		}
		s.inject = func(step string) error {
			if step == "data" {
				e.srv.root(t, "POST", "secret/data/"+e.prefix+"/retried", map[string]any{"data": map[string]any{
					FieldAPIKey: c.KeyID, FieldAPISecret: c.Secret.Reveal(),
				}})
			}
			return nil
		}
		defer func() { s.inject = nil }()
		if err := s.Write(ctx, c); err != nil {
			t.Fatalf("Write = %v, want success", err)
		}
		if err := s.Verify(ctx, c); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	})
}

// TestVaultNotManaged: a secret rotatord did not write.
func TestVaultNotManaged(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	tok := srv.token(t, nil)
	s := e.sink(tok, nil)
	ctx := ctxT(t)
	theirs := map[string]any{"password": "their-own-" + randHex(8)}
	e.forbid(theirs["password"].(string))
	e.writeAsOther("shared", theirs)
	srv.root(t, "POST", "secret/metadata/"+e.prefix+"/shared", map[string]any{"custom_metadata": map[string]any{"owner": "team-b"}})

	for _, op := range []struct {
		name string
		run  func() error
	}{
		{"Probe", func() error { return s.Probe(ctx, "shared") }},
		{"Write", func() error { return s.Write(ctx, e.cred("shared")) }},
	} {
		err := op.run()
		e.check(err)
		if !errors.Is(err, ErrNotManaged) {
			t.Fatalf("%s = %v, want ErrNotManaged", op.name, err)
		}
		for _, want := range []string{e.prefix + "/shared", "take_over"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s error %q does not mention %q", op.name, err, want)
			}
		}
	}
	if data, v := e.secretData("shared"); v != 1 || data["password"] != theirs["password"] {
		t.Fatalf("their secret changed: version %d", v)
	}

	// take_over: allowed, and marked as rotatord's from then on; their
	// other custom metadata stays.
	over := e.sink(tok, func(o *Options) { o.TakeOver = true })
	roundTrip(t, e, over, "shared")
	cm := e.customMetadata("shared")
	if cm[ManagedByKey] != ManagedByValue || cm["owner"] != "team-b" {
		t.Errorf("custom metadata after take over = %v", cm)
	}
	if e.logs.FilterMessage("taking over a Vault secret rotatord did not write (take_over)").Len() != 1 {
		t.Error("no warning about the take over")
	}
	// Now the sink without take_over writes it too.
	roundTrip(t, e, s, "shared")
}

// TestVaultCrashAfterMarker: a Write that stops between its two writes (a
// crash), whichever comes first, leaves a path rotatord writes again.
func TestVaultCrashAfterMarker(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	tok := srv.token(t, nil)
	s := e.sink(tok, nil)
	ctx := ctxT(t)
	crash := errors.New("crash")
	var steps []string
	s.inject = func(step string) error {
		if step == "metadata" || step == "data" {
			steps = append(steps, step)
			if len(steps) == 2 {
				return crash
			}
		}
		return nil
	}
	if err := s.Write(ctx, e.cred("crashed")); !errors.Is(err, crash) {
		t.Fatalf("Write = %v (steps %v), want the crash at the second write", err, steps)
	}
	s.inject = nil
	fresh := e.sink(tok, nil) // a new process
	if _, err := fresh.Read(ctx, "crashed"); !errors.Is(err, sinks.ErrNotHeld) {
		t.Errorf("Read = %v, want ErrNotHeld", err)
	}
	roundTrip(t, e, fresh, "crashed")
}

func TestVaultMounts(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	tok := srv.token(t, nil)
	ctx := ctxT(t)
	tests := []struct {
		name  string
		mount string
		want  []string
	}{
		{"KV v1", "kv1", []string{`mount "kv1"`, "KV version 1"}},
		{"missing", "nosuch", []string{`mount "nosuch"`, "no such mount"}},
		{"not a mount", "secret/rotatord", []string{`mount "secret/rotatord"`, `inside mount "secret"`}},
		{"not KV", "cubbyhole", []string{`mount "cubbyhole"`, `"cubbyhole" secrets engine`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := e.sink(tok, func(o *Options) { o.Mount = tt.mount })
			for _, op := range []struct {
				name string
				run  func() error
			}{
				{"Probe", func() error { return s.Probe(ctx, "x") }},
				{"Write", func() error { return s.Write(ctx, e.cred("x")) }},
			} {
				err := op.run()
				e.check(err)
				if !errors.Is(err, ErrMount) {
					t.Fatalf("%s = %v, want ErrMount", op.name, err)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s error %q does not mention %q", op.name, err, w)
					}
				}
			}
		})
	}
	// Nothing was written to the KV v1 mount.
	var out map[string]any
	err := srv.Do(ctx, vaulttest.RootToken, "GET", "kv1/"+e.prefix+"/x", nil, &out)
	if !vaulttest.IsStatus(err, 404) {
		t.Errorf("kv1 holds something at the path: %v %v", out, err)
	}
}

// TestVaultPolicyTooNarrow: Probe reports a token that may read but not
// write, before any key is created.
func TestVaultPolicyTooNarrow(t *testing.T) {
	srv := needVault(t)
	srv.root(t, "POST", "sys/policies/acl/readonly", map[string]any{"policy": `
path "secret/data/rotatord/*" { capabilities = ["read"] }
path "secret/metadata/rotatord/*" { capabilities = ["read"] }
`})
	e := newEnv(t, srv)
	s := e.sink(srv.token(t, map[string]any{"policies": []string{"readonly"}}), nil)
	err := s.Probe(ctxT(t), "ro")
	e.check(err)
	if err == nil || !strings.Contains(err.Error(), `do not grant "create" on secret/data/`+e.prefix+"/ro") {
		t.Fatalf("Probe = %v, want a missing create capability", err)
	}
}

// TestVaultStopped: Vault goes away between Probe and Write.
func TestVaultStopped(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	proxy := newTCPProxy(t, srv.Addr)
	s := e.sink(srv.token(t, nil), func(o *Options) { o.Address = proxy.addr() })
	ctx := ctxT(t)
	if err := s.Probe(ctx, "gone"); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	proxy.stop()
	start := time.Now()
	c := e.cred("gone")
	err := s.Write(ctx, c)
	e.check(err)
	if err == nil {
		t.Fatal("Write succeeded with Vault gone")
	}
	for _, want := range []string{"write secret/" + e.prefix + "/gone", "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Write error %q does not mention %q", err, want)
		}
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Write took %v to fail", d)
	}
	if err := s.Probe(ctx, "gone"); err == nil {
		t.Error("Probe succeeded with Vault gone")
	}
	if _, err := s.Read(ctx, "gone"); err == nil || errors.Is(err, sinks.ErrNotHeld) {
		t.Errorf("Read = %v, want a plain error (not ErrNotHeld: the sink cannot tell)", err)
	}
}

func currentToken(s *Sink) string {
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	return s.auth.token.Reveal()
}

// lookupToken asks Vault (as root) whether tok is valid.
func lookupToken(srv *vaultServer, tok string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Looking a token up with itself fails with 403 once it is expired or revoked.
	return srv.Do(ctx, tok, "GET", "auth/token/lookup-self", nil, nil)
}

// fakeKubernetes answers the TokenReview requests Vault's Kubernetes auth
// makes, accepting every token, and records the tokens it saw.
type fakeKubernetes struct {
	mu     sync.Mutex
	tokens []string
}

func (f *fakeKubernetes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var review struct {
		Spec struct {
			Token string `json:"token"`
		} `json:"spec"`
	}
	if r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" || json.NewDecoder(r.Body).Decode(&review) != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	f.mu.Lock()
	f.tokens = append(f.tokens, review.Spec.Token)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
		"status": map[string]any{
			"authenticated": true,
			"user":          map[string]any{"username": "system:serviceaccount:default:rotatord", "uid": "sa-uid-1"},
		},
	})
}

func (f *fakeKubernetes) seen(tok string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.tokens, tok)
}

// serviceAccountJWT is a token of the shape Kubernetes issues (Vault does
// not check its signature without configured public keys).
func serviceAccountJWT(jti string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]any{"alg": "RS256", "typ": "JWT"}) + "." + enc(map[string]any{
		"iss":                                    "kubernetes/serviceaccount",
		"sub":                                    "system:serviceaccount:default:rotatord",
		"jti":                                    jti,
		"kubernetes.io/serviceaccount/namespace": "default",
		"kubernetes.io/serviceaccount/service-account.name": "rotatord",
		"kubernetes.io/serviceaccount/service-account.uid":  "sa-uid-1",
	}) + "." + base64.RawURLEncoding.EncodeToString([]byte("not-checked-"+jti))
}

// TestVaultKubernetes logs in with a service account token, and reads the
// token file again at the next login (Kubernetes rotates projected tokens).
func TestVaultKubernetes(t *testing.T) {
	srv := needVault(t)
	kube := &fakeKubernetes{}
	api := httptest.NewServer(kube)
	defer api.Close()
	mount := "kubernetes-" + randHex(3)
	srv.root(t, "POST", "sys/auth/"+mount, map[string]any{"type": "kubernetes"})
	srv.root(t, "POST", "auth/"+mount+"/config", map[string]any{"kubernetes_host": api.URL, "disable_local_ca_jwt": true})
	srv.root(t, "POST", "auth/"+mount+"/role/rotatord", map[string]any{
		"bound_service_account_names": []string{"rotatord"}, "bound_service_account_namespaces": []string{"default"},
		"token_policies": []string{"rotatord"}, "token_ttl": "1h",
	})

	e := newEnv(t, srv)
	jwt1, jwt2 := serviceAccountJWT(randHex(8)), serviceAccountJWT(randHex(8))
	e.forbid(jwt1, jwt2)
	saFile := e.file("sa-token", jwt1)
	s := e.sink("", func(o *Options) {
		o.Auth = AuthOptions{Method: AuthKubernetes, Role: "rotatord", ServiceAccountTokenFile: saFile, MountPath: mount}
	})
	c := roundTrip(t, e, s, "kube")
	if !kube.seen(jwt1) {
		t.Fatal("Vault did not review the service account token")
	}

	// The service account token rotates; the Vault token is revoked.
	e.file("sa-token", jwt2)
	srv.root(t, "POST", "auth/token/revoke", map[string]any{"token": currentToken(s)})
	if err := s.Verify(ctxT(t), c); err != nil {
		t.Fatalf("Verify after the Vault token was revoked: %v", err)
	}
	if !kube.seen(jwt2) {
		t.Error("the new login did not use the rotated service account token")
	}
}
