package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/vault/vaulttest"
)

// One Vault dev server for the whole package, started by TestMain.
var (
	server     *vaultServer
	serverErr  error  // the server should run but does not
	skipReason string // no binary
)

type vaultServer struct {
	*vaulttest.Server
}

// policy is what the tests' tokens and AppRole roles may do: rotatord's
// paths of the KV v2 mount, and the KV v1 mount.
const policy = `
path "secret/data/rotatord/*" { capabilities = ["create", "read", "update"] }
path "secret/metadata/rotatord/*" { capabilities = ["create", "read", "update"] }
path "kv1/*" { capabilities = ["create", "read", "update"] }
`

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if !testing.Short() {
		bin, reason := vaulttest.Find()
		if bin == "" {
			skipReason = reason
		} else {
			dir, err := os.MkdirTemp("", "rotatord-vault-test-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			srv, err := vaulttest.Start(bin, dir)
			if err != nil {
				serverErr = err
			} else {
				defer srv.Stop()
				server = &vaultServer{srv}
				if err := server.configure(); err != nil {
					serverErr = err
				}
			}
		}
	}
	code := m.Run()
	if server != nil {
		server.Stop()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "vault: leaked goroutines:", err)
			code = 1
		}
	}
	return code
}

// configure sets up what the tests share: the policy, AppRole, a KV v1 mount.
func (s *vaultServer) configure() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	steps := []struct {
		path string
		body any
	}{
		{"sys/policies/acl/rotatord", map[string]any{"policy": policy}},
		{"sys/auth/approle", map[string]any{"type": "approle"}},
		{"sys/mounts/kv1", map[string]any{"type": "kv", "options": map[string]any{"version": "1"}}},
	}
	for _, st := range steps {
		if err := s.Do(ctx, vaulttest.RootToken, "POST", st.path, st.body, nil); err != nil {
			return fmt.Errorf("POST %s: %w", st.path, err)
		}
	}
	return nil
}

// needVault returns the server, or skips (fails when Vault is required).
func needVault(t *testing.T) *vaultServer {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Vault server: not with -short")
	}
	if serverErr != nil {
		t.Fatalf("vault server: %v", serverErr)
	}
	if server == nil {
		if vaulttest.Required() {
			t.Fatalf("%s=1 but %s", vaulttest.EnvRequire, skipReason)
		}
		t.Skip(skipReason)
	}
	return server
}

// root is a request with the root token that must succeed.
func (s *vaultServer) root(t *testing.T, method, path string, body any) map[string]any {
	t.Helper()
	var out map[string]any
	s.Root(t, method, path, body, &out)
	return out
}

// token creates a token with the rotatord policy; extra overrides fields of
// the creation request (ttl, renewable, ...).
func (s *vaultServer) token(t *testing.T, extra map[string]any) string {
	t.Helper()
	body := map[string]any{"policies": []string{"rotatord"}, "ttl": "1h", "no_default_policy": false}
	for k, v := range extra {
		body[k] = v
	}
	out := s.root(t, "POST", "auth/token/create", body)
	return out["auth"].(map[string]any)["client_token"].(string)
}

// appRole creates an AppRole role and returns its role_id and a secret_id.
func (s *vaultServer) appRole(t *testing.T, name string, extra map[string]any) (roleID, secretID string) {
	t.Helper()
	body := map[string]any{"token_policies": []string{"rotatord"}, "token_ttl": "1h", "token_max_ttl": "2h"}
	for k, v := range extra {
		body[k] = v
	}
	s.root(t, "POST", "auth/approle/role/"+name, body)
	out := s.root(t, "GET", "auth/approle/role/"+name+"/role-id", nil)
	roleID = out["data"].(map[string]any)["role_id"].(string)
	out = s.root(t, "POST", "auth/approle/role/"+name+"/secret-id", map[string]any{})
	secretID = out["data"].(map[string]any)["secret_id"].(string)
	return roleID, secretID
}

// env is one test's surroundings: a log observer, and the strings (secrets,
// tokens) that must never show in a log line or an error.
type env struct {
	t      *testing.T
	srv    *vaultServer
	dir    string
	logs   *observer.ObservedLogs
	log    *zap.Logger
	prefix string // rotatord/<test>: the paths of this test

	mu        sync.Mutex
	forbidden []string
	sinks     []*Sink
}

func newEnv(t *testing.T, srv *vaultServer) *env {
	core, logs := observer.New(zapcore.DebugLevel)
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	// A random part keeps runs apart on the shared server (-count=N).
	e := &env{t: t, srv: srv, dir: t.TempDir(), logs: logs, log: zap.New(core), prefix: "rotatord/" + name + "-" + randHex(3)}
	t.Cleanup(e.finish)
	return e
}

// forbid adds strings that must not leak.
func (e *env) forbid(s ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.forbidden = append(e.forbidden, s...)
}

// file writes content to a file of the test's directory and returns its path.
func (e *env) file(name, content string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// sink returns a sink on the test server, with a token file holding token
// unless change sets other auth options. VAULT_* come from nowhere.
func (e *env) sink(token string, change func(*Options)) *Sink {
	e.t.Helper()
	opts := Options{
		Path:   template.Must(template.New("path").Parse(e.prefix + "/{{.Name}}")),
		Logger: e.log,
		Getenv: func(string) string { return "" },
	}
	if e.srv != nil {
		opts.Address = e.srv.Addr
	}
	if token != "" {
		e.forbid(token)
		opts.Auth = AuthOptions{Method: AuthToken, TokenFile: e.file("token-"+randHex(4), token)}
	}
	if change != nil {
		change(&opts)
	}
	s, err := New(opts)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.mu.Lock()
	e.sinks = append(e.sinks, s)
	e.mu.Unlock()
	return s
}

// cred returns a new credential for name, its secret forbidden in logs.
func (e *env) cred(name string) sinks.Credential {
	c := sinks.Credential{
		Name:      name,
		KeyID:     "EXO" + randHex(12),
		RoleID:    "7c3a1f0e-5b2d-4e8a-9f61-2d4b8c0a1e02",
		Secret:    secret.Value("sec-" + randHex(16)),
		CreatedAt: time.Now().Truncate(time.Second),
	}
	e.forbid(c.Secret.Reveal())
	return c
}

// check fails the test if err's text holds a forbidden string.
func (e *env) check(err error) {
	e.t.Helper()
	if err == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, f := range e.forbidden {
		if strings.Contains(err.Error(), f) {
			e.t.Errorf("error text leaks a secret or token: %v", err)
		}
	}
}

// finish closes the sinks and looks for forbidden strings in every log line.
func (e *env) finish() {
	for _, s := range e.sinks {
		s.auth.mu.Lock()
		tok := s.auth.token.Reveal()
		s.auth.mu.Unlock()
		if tok != "" {
			e.forbid(tok)
		}
		_ = s.Close()
	}
	enc := zapcore.NewJSONEncoder(zap.NewDevelopmentEncoderConfig())
	for _, entry := range e.logs.All() {
		buf, err := enc.EncodeEntry(entry.Entry, entry.Context)
		if err != nil {
			e.t.Errorf("encode log entry: %v", err)
			continue
		}
		line := buf.String()
		buf.Free()
		for _, f := range e.forbidden {
			if strings.Contains(line, f) {
				e.t.Errorf("log line leaks a secret or token: %s", line)
			}
		}
	}
}

// countLogs counts the log lines with this message.
func (e *env) countLogs(msg string) int {
	return e.logs.FilterMessage(msg).Len()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tcpProxy forwards connections to a Vault server until it is stopped, to
// cut Vault off from a sink while other tests keep using it.
type tcpProxy struct {
	l      net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{l: l, target: strings.TrimPrefix(target, "http://"), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) addr() string { return "http://" + p.l.Addr().String() }

func (p *tcpProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

// stop closes the listener and every connection: Vault is gone.
func (p *tcpProxy) stop() {
	p.l.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
