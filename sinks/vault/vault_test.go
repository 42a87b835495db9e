package vault

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/sinks"
)

func pathTmpl(t *testing.T, s string) *template.Template {
	t.Helper()
	return template.Must(template.New("path").Parse(s))
}

func TestNewValidates(t *testing.T) {
	dir := t.TempDir()
	getenv := func(k string) string {
		return map[string]string{"VAULT_ADDR": "http://127.0.0.1:8200", "VAULT_TOKEN": "hvs.env"}[k]
	}
	noenv := func(string) string { return "" }
	base := func() Options {
		return Options{Path: pathTmpl(t, "exoscale/{{.Name}}"), Getenv: getenv}
	}
	tests := []struct {
		name   string
		change func(*Options)
		want   string // "" for success
	}{
		{"defaults from the environment", func(*Options) {}, ""},
		{"no path", func(o *Options) { o.Path = nil }, "path template missing"},
		{"absolute path", func(o *Options) { o.Path = pathTmpl(t, "/x/{{.Name}}") }, "must not start or end with /"},
		{"dot-dot path", func(o *Options) { o.Path = pathTmpl(t, "x/../{{.Name}}") }, "empty, . or .. element"},
		{"bad template field", func(o *Options) { o.Path = pathTmpl(t, "{{.Nope}}") }, "render path template"},
		{"bad mount", func(o *Options) { o.Mount = "secret/" }, `mount "secret/"`},
		{"no address", func(o *Options) { o.Getenv = noenv; o.Auth.TokenFile = "/t" }, "no address: set address or VAULT_ADDR"},
		{"address scheme", func(o *Options) { o.Address = "ftp://vault" }, "want an http, https or unix URL"},
		{"address without host", func(o *Options) { o.Address = "https://" }, "has no host"},
		{"address with credentials", func(o *Options) { o.Address = "https://u:hunter2@vault" }, "must not hold credentials"},
		{"token without source", func(o *Options) { o.Getenv = noenv; o.Address = "https://v" }, "needs token_file or VAULT_TOKEN"},
		{"token with role_id", func(o *Options) { o.Auth.RoleID = "r" }, "role_id is not used by method token"},
		{"approle", func(o *Options) {
			o.Auth = AuthOptions{Method: AuthAppRole, RoleID: "r", SecretIDFile: "/s"}
		}, ""},
		{"approle without secret_id_file", func(o *Options) {
			o.Auth = AuthOptions{Method: AuthAppRole, RoleID: "r"}
		}, "needs role_id and secret_id_file"},
		{"approle with token_file", func(o *Options) {
			o.Auth = AuthOptions{Method: AuthAppRole, RoleID: "r", SecretIDFile: "/s", TokenFile: "/t"}
		}, "token_file is not used by method approle"},
		{"approle bad mount path", func(o *Options) {
			o.Auth = AuthOptions{Method: AuthAppRole, RoleID: "r", SecretIDFile: "/s", MountPath: "a//b"}
		}, `mount_path "a//b"`},
		{"kubernetes", func(o *Options) { o.Auth = AuthOptions{Method: AuthKubernetes, Role: "rotatord"} }, ""},
		{"kubernetes without role", func(o *Options) { o.Auth = AuthOptions{Method: AuthKubernetes} }, "method kubernetes needs role"},
		{"kubernetes with secret_id_file", func(o *Options) {
			o.Auth = AuthOptions{Method: AuthKubernetes, Role: "r", SecretIDFile: "/s"}
		}, "secret_id_file is not used by method kubernetes"},
		{"unknown method", func(o *Options) { o.Auth.Method = "userpass" }, `unknown method "userpass"`},
		{"missing CA file", func(o *Options) { o.TLS.CACert = filepath.Join(dir, "nope.pem") }, "tls.ca_cert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base()
			tt.change(&o)
			s, err := New(o)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("New succeeded, want error with %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v\nwant it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "hvs.env") {
				t.Fatalf("error leaks a credential: %v", err)
			}
		})
	}
}

func TestTarget(t *testing.T) {
	tests := []struct {
		name      string
		mount, ns string
		path      string
		give      string
		want      string
	}{
		{"default mount", "", "", "exoscale/{{.Name}}", "ci-runner", "vault:secret/exoscale/ci-runner"},
		{"mount and namespace", "kv", "team-a", "exoscale/{{.Name}}", "ci-runner", "vault:kv/exoscale/ci-runner (namespace team-a)"},
		{"name escaping the path", "", "", "exoscale/{{.Name}}", "../x", `vault:<invalid path from template "path">`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Options{
				Address: "http://127.0.0.1:1", Mount: tt.mount, Namespace: tt.ns, Path: pathTmpl(t, tt.path),
				Getenv: func(k string) string { return map[string]string{"VAULT_TOKEN": "hvs.secret-token"}[k] },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.Target(tt.give); got != tt.want {
				t.Errorf("Target(%q) = %q, want %q", tt.give, got, tt.want)
			}
			if s.Kind() != "vault" {
				t.Errorf("Kind = %q", s.Kind())
			}
		})
	}
}

// TestProcessEnvironmentIgnored: the client library reads VAULT_TOKEN and
// VAULT_NAMESPACE from the process; the sink must use only what it is given.
func TestProcessEnvironmentIgnored(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "hvs.from-process")
	t.Setenv("VAULT_NAMESPACE", "from-process")
	s, err := New(Options{
		Address: "http://127.0.0.1:1", Path: pathTmpl(t, "x/{{.Name}}"),
		Auth:   AuthOptions{TokenFile: "/nonexistent"},
		Getenv: func(string) string { return "" },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if tok := s.client.Token(); tok != "" {
		t.Errorf("client token taken from the process environment")
	}
	if ns := s.client.Namespace(); ns != "" {
		t.Errorf("client namespace = %q, want none", ns)
	}
}

// fakeVault answers every request with 403 and records the headers.
type fakeVault struct {
	mu      sync.Mutex
	headers []http.Header
}

func (f *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.headers = append(f.headers, r.Header.Clone())
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(`{"errors":["permission denied"]}`))
}

func TestNamespaceAndTokenHeaders(t *testing.T) {
	f := &fakeVault{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	const token = "hvs.namespace-test-token"
	e := newEnv(t, nil)
	e.forbid(token)
	s := e.sink("", func(o *Options) {
		o.Address = srv.URL
		o.Namespace = "team-a/sub"
		o.Getenv = func(k string) string { return map[string]string{"VAULT_TOKEN": token}[k] }
	})
	err := s.Probe(context.Background(), "ci-runner")
	e.check(err)
	if err == nil || !strings.Contains(err.Error(), "HTTP 403: permission denied") {
		t.Fatalf("Probe: %v, want a 403", err)
	}
	if !strings.Contains(err.Error(), "VAULT_TOKEN") {
		t.Errorf("Probe error %q does not say the token comes from VAULT_TOKEN", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.headers) == 0 {
		t.Fatal("no request")
	}
	for _, h := range f.headers {
		if got := h.Get("X-Vault-Namespace"); got != "team-a/sub" {
			t.Errorf("X-Vault-Namespace = %q", got)
		}
		if got := h.Get("X-Vault-Token"); got != token {
			t.Errorf("X-Vault-Token is not the token from VAULT_TOKEN")
		}
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(&fakeVault{})
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		tls      TLSOptions
		want     string
		warnings int
	}{
		{"system pool refuses the test CA", TLSOptions{}, "certificate", 0},
		{"ca_cert", TLSOptions{CACert: ca}, "HTTP 403", 0},
		{"ca_cert and a server name the certificate lacks", TLSOptions{CACert: ca, ServerName: "vault.internal"}, "certificate", 0},
		{"ca_cert and the certificate's name", TLSOptions{CACert: ca, ServerName: "example.com"}, "HTTP 403", 0},
		{"insecure_skip_verify", TLSOptions{InsecureSkipVerify: true}, "HTTP 403", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			s := e.sink("", func(o *Options) {
				o.Address = srv.URL
				o.TLS = tt.tls
				o.Getenv = func(k string) string { return map[string]string{"VAULT_TOKEN": "hvs.tls-test"}[k] }
			})
			e.forbid("hvs.tls-test")
			err := s.Probe(context.Background(), "x")
			e.check(err)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Probe: %v, want %q", err, tt.want)
			}
			warn := e.logs.FilterLevelExact(zap.WarnLevel).FilterMessageSnippet("TLS CERTIFICATE VERIFICATION IS OFF").Len()
			if warn != tt.warnings {
				t.Errorf("%d insecure warnings, want %d", warn, tt.warnings)
			}
		})
	}
}

func TestHeldFrom(t *testing.T) {
	tests := []struct {
		name string
		give map[string]any
		want error
	}{
		{"both", map[string]any{FieldAPIKey: "EXO1", FieldAPISecret: "s"}, nil},
		{"no secret", map[string]any{FieldAPIKey: "EXO1"}, sinks.ErrUnreadable},
		{"secret not a string", map[string]any{FieldAPIKey: "EXO1", FieldAPISecret: 3}, sinks.ErrUnreadable},
		{"empty key", map[string]any{FieldAPIKey: "", FieldAPISecret: "s"}, sinks.ErrUnreadable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := heldFrom(tt.give)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("heldFrom: %v, want %v", err, tt.want)
			}
			if err == nil && (h.KeyID != "EXO1" || h.Secret.Reveal() != "s") {
				t.Errorf("held = %+v", h)
			}
		})
	}
}
