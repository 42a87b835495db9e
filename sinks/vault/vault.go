// Package vault owns the Vault sink: it writes each new credential to a
// HashiCorp Vault KV version 2 secret, through the official client
// (github.com/hashicorp/vault/api).
//
// The secret at <mount>/data/<path> holds api_key, api_secret, name,
// role_id and created_at. Its custom metadata carries managed-by: rotatord,
// which is how the sink tells a secret it owns from one someone else keeps
// at the same path: it refuses to overwrite the latter unless TakeOver.
//
// A write reads the secret's metadata, writes the ownership marker first
// when the secret is not marked yet (so a crash between the two writes
// leaves a marked path rotatord will write again, never an unmarked one
// holding rotatord's data), then writes the data with check-and-set on the
// version it read: a concurrent writer makes the write fail with
// ErrConflict instead of being overwritten blindly.
//
// Authentication is a token (a file, re-read when the token is refused, so
// Vault Agent may rotate it; or VAULT_TOKEN), AppRole or Kubernetes. A
// renewable token is renewed once two thirds of its TTL have passed, by a
// background goroutine (Close stops it) and before each operation; a token
// of AppRole or Kubernetes that is expired, cannot be renewed any more or
// is refused is replaced by a new login, once per operation.
//
// The token's policies must grant create, read and update on
// <mount>/data/<path> and <mount>/metadata/<path>. Probe also asks
// sys/capabilities-self and sys/internal/ui/mounts/<mount>, and the token is
// looked up and renewed through auth/token/lookup-self and renew-self:
// Vault's default policy grants those.
package vault

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/rotatord/rotatord/internal/fence"
	"github.com/rotatord/rotatord/internal/keylock"
	"github.com/rotatord/rotatord/internal/nametmpl"
	"github.com/rotatord/rotatord/internal/plainhttp"
	"github.com/rotatord/rotatord/internal/redact"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// Auth methods.
const (
	AuthToken      = "token"
	AuthAppRole    = "approle"
	AuthKubernetes = "kubernetes"
)

// Defaults.
const (
	DefaultMount                   = "secret"
	DefaultAppRoleMountPath        = "approle"
	DefaultKubernetesMountPath     = "kubernetes"
	DefaultServiceAccountTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	// DefaultRequestTimeout bounds one request to Vault.
	DefaultRequestTimeout = 30 * time.Second
)

// The custom metadata entry that marks a secret as written by rotatord.
//
// PolicyKey names the policy whose sink wrote the secret: when two
// policies' sink paths meet for some key name, neither overwrites the
// other's secret.
const (
	ManagedByKey   = "managed-by"
	ManagedByValue = "rotatord"
	PolicyKey      = "rotatord-policy"
)

// Fields of the secret data.
const (
	FieldAPIKey    = "api_key"
	FieldAPISecret = "api_secret"
	FieldName      = "name"
	FieldRoleID    = "role_id"
	FieldCreatedAt = "created_at"
)

var (
	// ErrNotManaged means a secret exists at the path and its custom
	// metadata does not mark it as rotatord's: rotatord does not overwrite
	// it unless the sink has take_over.
	ErrNotManaged = errors.New("secret exists and is not managed by rotatord")
	// ErrConflict means the secret changed between rotatord's read and its
	// check-and-set write: someone else wrote it. Nothing was overwritten.
	ErrConflict = errors.New("secret changed concurrently (check-and-set conflict)")
	// ErrMount means the mount is missing or is not a KV version 2 engine.
	ErrMount = errors.New("not a KV version 2 mount")
	// ErrProtected means the secret holds the key rotatord signs with
	// (Options.OwnKeys).
	ErrProtected = errors.New("a sink never overwrites the secret holding rotatord's own credential")
)

// Options configures a Vault sink.
type Options struct {
	// Address of Vault; empty: Getenv("VAULT_ADDR").
	Address string
	// Namespace (Vault Enterprise), sent as X-Vault-Namespace; empty:
	// Getenv("VAULT_NAMESPACE"), which may be empty too.
	Namespace string
	// Mount is the KV v2 mount path, DefaultMount when empty.
	Mount string
	// Path renders the secret path under Mount from .Name, the key name.
	Path *template.Template
	// Policy names the policy the sink belongs to, written in the secret's
	// custom metadata (PolicyKey) so another policy's sink never
	// overwrites it.
	Policy string
	// TakeOver lets Write overwrite a secret rotatord did not write, which
	// it then marks as its own.
	TakeOver bool
	// InsecureHTTP allows a plain http:// address on a host other than
	// loopback (the token and the secrets cross the network in clear);
	// without it such an address is refused, wherever it comes from
	// (VAULT_ADDR included). Logged as a loud warning.
	InsecureHTTP bool
	Auth         AuthOptions
	TLS          TLSOptions
	// Protected are the Vault secrets that hold rotatord's own credential
	// (every account's credential_vault): the sink never writes one,
	// take_over or not, whatever a key's name renders.
	Protected []Protected
	// OwnKeys returns the key ids rotatord signs with (every account's):
	// with take_over, a secret this policy did not write whose data holds
	// one is refused, whatever spelling of the address reached it (before
	// the credential store first marks its secret, the marker cannot).
	OwnKeys func() []string
	// Fence, when set, is asked right before each write to Vault leaves
	// (logins and reads excepted), and cuts it off at the end of the
	// claim (internal/fence): a replica that lost its Lease writes no
	// secret, however long a request waited or was retried.
	Fence fence.Func
	// Logger receives the sink's logs; nil: none.
	Logger *zap.Logger
	// Getenv reads VAULT_ADDR, VAULT_TOKEN and VAULT_NAMESPACE; default os.Getenv.
	Getenv func(string) string
}

// Protected names a secret the sink never writes: Address and Namespace
// empty take VAULT_ADDR and VAULT_NAMESPACE, Mount empty DefaultMount.
// What says what it is, for the error.
type Protected struct {
	Address, Namespace, Mount, Path string
	What                            string
}

// AuthOptions says how the sink logs in.
type AuthOptions struct {
	// Method is AuthToken (the default when empty), AuthAppRole or AuthKubernetes.
	Method string
	// TokenFile (token) holds the token; empty: Getenv("VAULT_TOKEN").
	TokenFile string
	// RoleID and SecretIDFile (approle), both required.
	RoleID       string
	SecretIDFile string
	// Role (kubernetes) is required; ServiceAccountTokenFile defaults to
	// DefaultServiceAccountTokenFile.
	Role                    string
	ServiceAccountTokenFile string
	// MountPath of the auth method (approle, kubernetes); default its name.
	MountPath string
}

// TLSOptions configures the TLS client.
type TLSOptions struct {
	// CACert is a PEM file of the CAs that sign Vault's certificate; empty:
	// the system pool.
	CACert string
	// ServerName is the name checked in Vault's certificate (and sent as SNI).
	ServerName string
	// InsecureSkipVerify turns certificate verification off. Tests only.
	InsecureSkipVerify bool
}

// Sink writes credentials to Vault KV v2 secrets. It is safe for concurrent
// use; operations on one path are serialized.
type Sink struct {
	client     *api.Client
	httpClient *http.Client // the client's and its login clone's
	auth       *authenticator
	log        *zap.Logger
	endpoint   string // the address, canonical (Endpoint)
	namespace  string
	mount      string
	path       *template.Template
	render     *nametmpl.Renderer // path
	takeOver   bool
	ownKeys    func() []string   // Options.OwnKeys
	protected  map[string]string // path under the mount: what it is (Options.Protected on this Vault, namespace and mount)
	policy     string
	timeout    time.Duration

	locks   keylock.Set // per secret path: one write, verify or read at a time
	mu      sync.Mutex
	written map[string]written // per secret path: what this process wrote last
	// probed is, per secret path, the metadata its last Probe read, kept
	// for the Write that follows when that Write will write no marker.
	probed map[string]probed
	// unfenced is, per secret path, the check-and-set version of a data
	// write whose answer was lost and whose fence could not be written:
	// that write may still land, so a read tries the fence again and,
	// until it is written, answers that the path may hold anything.
	unfenced map[string]unfencedWrite
	// leads is Options.Fence: a replica that does not lead writes no
	// fence, and keeps no unfenced write (it acts on nothing it reads; the
	// leader reads Vault itself).
	leads fence.Func
	// mountSeen is when the mount was last seen to be KV v2 (zero: never,
	// or an answer since was not KV v2's).
	mountSeen time.Time
	// namespaceChecked: checkNamespaceOnce has asked sys/health.
	namespaceChecked bool

	// inject, when set by a test, runs before each named step of a write
	// ("read-metadata", "metadata", "data") and fails it with its error.
	inject func(step string) error
}

// reuseFor is how long what a Probe found stays good for the requests
// that follow it: the mount's type (for every path of the sink), and a
// path's metadata (for the Write of the rotation that probed it, when the
// secret is rotatord's already). A rotation probes, creates its key, then
// writes, within a second or so: reading both again there cost two of the
// seven requests a rotation made to Vault. What either can miss is safe:
// a version written meanwhile fails the write's check-and-set, which is
// read again and, when the content is not rotatord's, fails the rotation;
// a mount that stopped being KV v2 answers a write or a read without a
// version, which fails them (ErrMount). What check-and-set cannot see is
// a change of the custom metadata alone (rotatord's marker removed by
// hand) between the Probe and the Write: the secret is still written.
const reuseFor = 10 * time.Second

// probed is the metadata a Probe read, and when.
type probed struct {
	md *metadata
	at time.Time
}

// unfencedWrite is a data write whose answer was lost and whose fence was
// not written: its check-and-set version, and when its fence was given
// up.
type unfencedWrite struct {
	cas int
	at  time.Time
}

// unfencedFor is how long an unfenced lost write is taken to be able to
// land still. Vault ends a request after its max_request_duration (90 s
// by default); past this, the secret reads as what it holds again, and
// the engine may roll back a new key no sink gives back.
var unfencedFor = 10 * time.Minute

// written is the version a Write produced, so Verify can tell it from a
// later version with the same content.
type written struct {
	keyID   string
	version int
}

var _ sinks.Sink = (*Sink)(nil)

// New validates opts and returns a sink. It reads the CA file but makes no
// request: the token is read or obtained at the first operation.
func New(opts Options) (*Sink, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if opts.Path == nil {
		return nil, errors.New("vault sink: path template missing")
	}
	mount := opts.Mount
	if mount == "" {
		mount = DefaultMount
	}
	if err := checkPath(mount); err != nil {
		return nil, fmt.Errorf("vault sink: mount %q: %w", mount, err)
	}
	addr, from := opts.Address, "address"
	if addr == "" {
		addr, from = getenv(api.EnvVaultAddress), api.EnvVaultAddress
	}
	if addr == "" {
		return nil, errors.New("vault sink: no address: set address or VAULT_ADDR")
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("vault sink: address %q: not a URL", redact.URL(addr))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "unix":
		return nil, fmt.Errorf("vault sink: address %q: want an http, https or unix URL", redact.URL(addr))
	case u.Scheme != "unix" && u.Host == "":
		return nil, fmt.Errorf("vault sink: address %q has no host", redact.URL(addr))
	case u.User != nil:
		return nil, fmt.Errorf("vault sink: address %q must not hold credentials", redact.URL(addr))
	}
	// The policy file's address is checked when it is loaded
	// (config.CheckTransport, the same rule); VAULT_ADDR only here.
	plain := plainToNetwork(u)
	if plain && !opts.InsecureHTTP {
		return nil, fmt.Errorf("vault sink: %s %s is plain http to a host that is not loopback: "+
			"the token and the secrets would cross the network in clear (use https, or set insecure_http: true on the sink for a test setup)",
			from, redact.URL(addr))
	}
	namespace := opts.Namespace
	if namespace == "" {
		namespace = getenv(api.EnvVaultNamespace)
	}
	namespace = strings.Trim(namespace, "/")

	s := &Sink{
		log:       log,
		endpoint:  CanonicalAddress(addr),
		namespace: namespace,
		mount:     mount,
		path:      opts.Path,
		render:    nametmpl.New(opts.Path),
		takeOver:  opts.TakeOver,
		policy:    opts.Policy,
		ownKeys:   opts.OwnKeys,
		timeout:   DefaultRequestTimeout,
		written:   make(map[string]written),
		probed:    make(map[string]probed),
		unfenced:  make(map[string]unfencedWrite),
		leads:     opts.Fence,
	}
	if _, err := s.secretPath("example"); err != nil {
		return nil, fmt.Errorf("vault sink: %w", err)
	}
	for _, pr := range opts.Protected {
		a, ns, m := pr.Address, pr.Namespace, pr.Mount
		if a == "" {
			a = getenv(api.EnvVaultAddress)
		}
		if ns == "" {
			ns = getenv(api.EnvVaultNamespace)
		}
		if m == "" {
			m = DefaultMount
		}
		if sameAddress(a, addr) &&
			strings.Trim(ns, "/") == namespace && strings.Trim(m, "/") == strings.Trim(mount, "/") {
			if s.protected == nil {
				s.protected = map[string]string{}
			}
			s.protected[strings.Trim(pr.Path, "/")] = pr.What
		}
	}

	s.client, s.httpClient, err = newClient(addr, namespace, opts.TLS, opts.Fence)
	if err == nil && u.Scheme != "unix" && !opts.InsecureHTTP {
		// The client follows redirects itself (a standby sends it to the
		// active node's api_addr): the address's check does not hold
		// for where a redirect leads. Over a unix socket every request
		// goes to the socket, wherever its URL points.
		s.httpClient.Transport = plainGuard{next: s.httpClient.Transport}
	}
	if err != nil {
		return nil, fmt.Errorf("vault sink: %w", err)
	}
	login, err := s.client.CloneWithHeaders() // same transport and namespace
	if err != nil {
		return nil, fmt.Errorf("vault sink: %w", err)
	}
	login.ClearToken()
	s.auth, err = newAuthenticator(opts.Auth, getenv, s.client, login, log)
	if err != nil {
		return nil, fmt.Errorf("vault sink: auth: %w", err)
	}
	if plain {
		log.Warn("PLAIN HTTP TO VAULT for this Vault sink (insecure_http): the Vault token and every credential "+
			"rotatord writes cross the network in clear; use it only in tests",
			zap.String("address", redact.URL(addr)), zap.String("mount", mount))
	}
	if opts.TLS.InsecureSkipVerify {
		log.Warn("TLS CERTIFICATE VERIFICATION IS OFF for this Vault sink (tls.insecure_skip_verify): "+
			"anyone on the network path can read or change the credentials rotatord writes; use it only in tests",
			zap.String("address", addr), zap.String("mount", mount))
	}
	return s, nil
}

// plainToNetwork reports whether u is plain http to a host that is not
// loopback: what crosses it can be read on the way.
func plainToNetwork(u *url.URL) bool { return plainhttp.ToNetwork(u) }

// plainGuard refuses a request in plain http to a host that is not
// loopback, as New refuses such an address: one a redirect leads to would
// carry the token and the secrets in clear.
type plainGuard struct{ next http.RoundTripper }

func (g plainGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if plainToNetwork(req.URL) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("refused: plain http to %s, a host that is not loopback (a redirect?): the token and the secrets would cross the network in clear (use https, or set insecure_http: true on the sink for a test setup)",
			redact.URL(req.URL.Scheme+"://"+req.URL.Host))
	}
	return g.next.RoundTrip(req)
}

// CloseIdleConnections closes the idle connections of what it wraps.
func (g plainGuard) CloseIdleConnections() {
	if c, ok := g.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// newClient builds a client from the options alone: unlike
// api.DefaultConfig it reads no VAULT_* variable, so that what the
// policy file says is what the sink does.
func newClient(addr, namespace string, t TLSOptions, f fence.Func) (*api.Client, *http.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	transport.TLSHandshakeTimeout = 10 * time.Second
	cfg := &api.Config{
		Address: addr,
		HttpClient: &http.Client{
			Transport: transport,
			// The client follows Vault's redirects itself.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		// Requests are bounded by the sink's own per-request context.
		Timeout: 0,
		// A couple of quick retries of connection errors and 5xx; the
		// engine retries whole rotations. A retried write that had in fact
		// succeeded shows up as a CAS conflict on content we wrote, which
		// Write recognizes.
		MaxRetries:   2,
		MinRetryWait: 250 * time.Millisecond,
		MaxRetryWait: time.Second,
		// Read-after-write consistency. A performance standby of Vault
		// Enterprise answers reads from its own copy, which may lag the
		// active node: the read back of a write that landed could find
		// the old version or nothing. With this set, the client keeps the
		// X-Vault-Index state every answer carries and sends it with every
		// request (the login clone shares it), so a node that has not
		// caught up with our last write waits, or answers 412, which the
		// client retries. Vault's community edition sends no such state:
		// then no header is sent either. This shared, locked state is used
		// rather than per-request api.RecordState/RequireState callbacks:
		// WithRequestCallbacks copies the client unlocked, which races
		// with the token renewal's SetToken.
		ReadYourWrites: true,
	}
	// The CA file is read here (secret.ReadFile: without blocking, a
	// regular file, bounded) and handed to the library as bytes: its own
	// blocking read held the start, or a reload, on a named pipe planted
	// at the path. Read at each build of the sink (start, reload).
	var caPEM []byte
	if t.CACert != "" {
		b, err := secret.ReadFile(t.CACert, secret.FileOptions{})
		if err != nil {
			return nil, nil, fmt.Errorf("tls.ca_cert %s: %w", secret.ShownPath(t.CACert), unwrapPathError(err))
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			// The library would fall back to the system's CAs for an
			// empty file.
			return nil, nil, fmt.Errorf("tls.ca_cert %s: no PEM certificate in it", secret.ShownPath(t.CACert))
		}
		caPEM = b
	}
	if err := cfg.ConfigureTLS(&api.TLSConfig{
		CACertBytes:   caPEM,
		TLSServerName: t.ServerName,
		Insecure:      t.InsecureSkipVerify,
	}); err != nil {
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, nil, err
	}
	if f != nil {
		// Set once the TLS and HTTP/2 setup, which need the
		// *http.Transport itself, is done; the client and its login clone
		// share this http.Client. Writes go on connections of their own,
		// fenced at the socket as well: a replica paused after the checks
		// (SIGSTOP, a frozen VM) and woken once another one leads would
		// otherwise still send its write, and a secret of a key the new
		// leader has rolled back would replace the one consumers use.
		cfg.HttpClient.Transport = fence.Split(transport, f, spareReadsAndLogins(c.Address()))
	}
	// NewClient takes VAULT_TOKEN and VAULT_NAMESPACE from the process
	// environment; the sink sets both itself.
	c.ClearToken()
	c.ClearNamespace()
	if namespace != "" {
		c.SetNamespace(namespace)
	}
	return c, cfg.HttpClient, nil
}

// Close stops the background token renewal, revokes a token the sink
// obtained by logging in (AppRole, Kubernetes; never a token it was given)
// and drops idle connections. It does not stop the sink: an operation still
// in flight (or started later, by a pass that began before a reload) works,
// renewing the token itself or logging in again, and the token is revoked
// when the last such operation ends.
func (s *Sink) Close() error {
	s.auth.close()
	// Through the http.Client: under a fence the writes have a transport
	// of their own (fence.Split), which closes with it.
	s.httpClient.CloseIdleConnections()
	return nil
}

// Kind implements sinks.Sink.
func (s *Sink) Kind() string { return "vault" }

// Target implements sinks.Sink: "vault:<mount>/<path>", with the namespace
// when there is one.
func (s *Sink) Target(name string) string {
	p, err := s.secretPath(name)
	if err != nil {
		return fmt.Sprintf("vault:<invalid path from template %q>", s.path.Name())
	}
	return "vault:" + s.label(p)
}

// Endpoint implements sinks.Endpointer: the Vault server's address, which
// Target leaves out.
func (s *Sink) Endpoint() string { return s.endpoint }

// label names a secret in errors and logs: mount/path, and the namespace.
func (s *Sink) label(p string) string {
	l := s.mount + "/" + p
	if s.namespace != "" {
		l += " (namespace " + s.namespace + ")"
	}
	return l
}

// secretPath renders the path under the mount for name.
func (s *Sink) secretPath(name string) (string, error) {
	p, err := s.render.Render(name)
	if err != nil {
		return "", fmt.Errorf("render path template %q for %q: %w", s.path.Name(), name, err)
	}
	if err := checkPath(p); err != nil {
		return "", fmt.Errorf("path template %q renders path %q for %q: %w", s.path.Name(), p, name, err)
	}
	return p, nil
}

// sameAddress reports whether two Vault addresses name the same server.
func sameAddress(a, b string) bool { return CanonicalAddress(a) == CanonicalAddress(b) }

// CanonicalAddress writes a Vault address so that two spellings of one
// server compare equal: the scheme and host without regard to case (a
// final dot of the host dropped), the port with the scheme's default
// filled in (and leading zeros dropped), an IP address in its shortest
// form (an IPv4 address mapped into IPv6 as IPv4), the path without its
// slashes at either end. An address that
// does not parse as a URL is only lowered and stripped of trailing
// slashes.
func CanonicalAddress(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" {
		return strings.ToLower(strings.TrimRight(s, "/"))
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	if n, err := strconv.ParseUint(port, 10, 16); err == nil {
		port = strconv.FormatUint(n, 10) // "08200" is 8200
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String() // "0:0:0:0:0:0:0:1" is "::1"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/" + strings.Trim(u.EscapedPath(), "/")
}

// writablePath is secretPath for a Probe or a Write: a path that holds
// rotatord's own credential is refused, whatever take_over says.
func (s *Sink) writablePath(name string) (string, error) {
	p, err := s.secretPath(name)
	if err != nil {
		return "", err
	}
	if what, ok := s.protected[p]; ok {
		return "", fmt.Errorf("%s is %s: a sink never writes rotatord's own credential (the key named %q renders its path)", s.label(p), what, name)
	}
	return p, nil
}

// checkPath accepts a relative Vault path of clean segments, so a key name
// such as "../x" cannot move the secret elsewhere.
func checkPath(p string) error {
	if p == "" {
		return errors.New("empty")
	}
	if strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return errors.New("must not start or end with /")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("has an empty, . or .. element")
		}
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return errors.New("has a control character")
		}
	}
	return nil
}

func (s *Sink) step(name string) error {
	if s.inject == nil {
		return nil
	}
	return s.inject(name)
}

// Probe implements sinks.Sink. It obtains a working token, checks that the
// mount is KV version 2, that the secret is rotatord's (or absent, or
// take_over is set) and that the token's policies allow the write and the
// read back. It writes nothing.
func (s *Sink) Probe(ctx context.Context, name string) error {
	defer s.auth.begin()()
	p, err := s.writablePath(name)
	if err != nil {
		return err
	}
	defer s.locks.Lock(p)()
	// What an earlier Probe of p kept goes whatever this one finds: only
	// this Probe's view may serve the Write that follows it.
	s.mu.Lock()
	delete(s.probed, p)
	s.mu.Unlock()
	label := s.label(p)
	// First a request any valid token may make: it proves the token works
	// (or replaces it), so that a refusal below is about the path.
	caps, err := s.capabilities(ctx, p)
	if err != nil {
		return fmt.Errorf("probe %s: %w", label, err)
	}
	if seen := s.mountSeenAt(); seen.IsZero() || time.Since(seen) >= reuseFor {
		if err := s.checkMount(ctx); err != nil {
			return fmt.Errorf("probe %s: %w", label, err)
		}
	}
	md, err := s.readMetadata(ctx, p)
	if err != nil {
		return fmt.Errorf("probe %s: read metadata: %w", label, err)
	}
	if md.ownCredentialOfAnother(s.policy) {
		return s.ownCredential(label, md)
	}
	if !md.managedFor(s.policy) && md.exists() && !s.takeOver {
		return s.notManagedBy(label, md)
	}
	if err := s.ownKeyIn(ctx, label, p, md); err != nil {
		return fmt.Errorf("probe %w", err)
	}
	if err := s.checkCapabilities(caps, p, md); err != nil {
		return fmt.Errorf("probe %s: %w", label, err)
	}
	s.keepProbed(p, md)
	return nil
}

// keepProbed keeps md, what the Probe of p read, for the Write that
// follows, when that Write will write no marker: a marker is written over
// the custom metadata the Write reads, which must be what is there then
// (a secret someone created or took meanwhile keeps theirs). It lets go
// of what older Probes kept and no Write took.
func (s *Sink) keepProbed(p string, md *metadata) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for q, pr := range s.probed {
		if now.Sub(pr.at) >= reuseFor {
			delete(s.probed, q)
		}
	}
	if md.managedFor(s.policy) {
		s.probed[p] = probed{md: md, at: now}
	}
}

// mountSeenAt is when the mount was last seen to be KV v2 (zero: never).
func (s *Sink) mountSeenAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mountSeen
}

// setMountSeen records that the mount was seen to be KV v2 now (ok), or
// that an answer was not KV v2's: the next Probe checks the mount again.
func (s *Sink) setMountSeen(ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mountSeen = time.Time{}
	if ok {
		s.mountSeen = time.Now()
	}
}

// notManagedBy is notManaged, or says which policy's sink wrote the secret.
func (s *Sink) notManagedBy(label string, md *metadata) error {
	if md.managed() {
		return fmt.Errorf("%s: %w for this sink: policy %q's sink wrote it; set take_over: true on the sink to let this one overwrite it",
			label, ErrNotManaged, md.CustomMetadata[PolicyKey])
	}
	return s.notManaged(label)
}

// ownCredential refuses a secret a credential store wrote.
func (s *Sink) ownCredential(label string, md *metadata) error {
	return fmt.Errorf("%s: %w for this sink: it is rotatord's own credential (policy %q's store wrote it); a sink never writes it, take_over or not (a key's name renders its path)",
		label, ErrNotManaged, md.CustomMetadata[PolicyKey])
}

// ownKeyIn refuses a secret this policy did not write (taken over) whose
// latest data holds a key id rotatord signs with (Options.OwnKeys): its own
// credential, known by what it holds, whatever spelling of the address
// reached it.
func (s *Sink) ownKeyIn(ctx context.Context, label, p string, md *metadata) error {
	if s.ownKeys == nil || md.managedFor(s.policy) || !md.exists() {
		return nil
	}
	ids := s.ownKeys()
	if !slices.ContainsFunc(ids, func(id string) bool { return id != "" }) {
		return nil
	}
	data, _, err := s.readLatestData(ctx, p)
	if errors.Is(err, sinks.ErrNotHeld) {
		// Its latest version deleted or destroyed: nothing is served
		// there, no key rotatord signs with either.
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: read before taking it over: %w", label, err)
	}
	for _, v := range data {
		str, ok := v.(string)
		if !ok {
			continue
		}
		for _, id := range ids {
			if id != "" && strings.Contains(str, id) {
				return fmt.Errorf("%s: its data holds the key rotatord signs with: %w, take_over or not", label, ErrProtected)
			}
		}
	}
	return nil
}

func (s *Sink) notManaged(label string) error {
	return fmt.Errorf("%s: %w (no custom metadata %s=%s); set take_over: true on the sink to let rotatord overwrite it",
		label, ErrNotManaged, ManagedByKey, ManagedByValue)
}

// Write implements sinks.Sink: metadata marker first when missing, then the
// data with check-and-set on the version read.
func (s *Sink) Write(ctx context.Context, c sinks.Credential) error {
	defer s.auth.begin()()
	p, err := s.writablePath(c.Name)
	if err != nil {
		return sinks.NothingSent(err)
	}
	if c.KeyID == "" || c.Secret.IsZero() {
		return sinks.NothingSent(fmt.Errorf("write %s: credential without key id or secret", s.label(p)))
	}
	defer s.locks.Lock(p)()
	ctx = withKnown(ctx, c.Secret.Reveal())
	label := s.label(p)
	log := s.log.With(zap.String("path", label), zap.String("key_id", c.KeyID))

	if s.mountSeenAt().IsZero() {
		// Written without a Probe first (which the engine never does): a
		// KV v1 mount would take the metadata path for a secret.
		if _, err := s.capabilities(ctx, p); err != nil {
			return sinks.NothingSent(fmt.Errorf("write %s: %w", label, err))
		}
		if err := s.checkMount(ctx); err != nil {
			return sinks.NothingSent(fmt.Errorf("write %s: %w", label, err))
		}
	}
	if err := s.step("read-metadata"); err != nil {
		return sinks.NothingSent(fmt.Errorf("write %s: read metadata: %w", label, err))
	}
	md, ok := s.takeProbed(p)
	if !ok {
		if md, err = s.readMetadata(ctx, p); err != nil {
			return sinks.NothingSent(fmt.Errorf("write %s: read metadata: %w", label, err))
		}
	}
	var marked bool // this Write set the marker
	if md.ownCredentialOfAnother(s.policy) {
		return sinks.NothingSent(s.ownCredential(label, md))
	}
	if !md.managedFor(s.policy) {
		if md.exists() {
			if !s.takeOver {
				return sinks.NothingSent(s.notManagedBy(label, md))
			}
			if err := s.ownKeyIn(ctx, label, p, md); err != nil {
				return sinks.NothingSent(fmt.Errorf("write %w", err))
			}
			log.Warn("taking over a Vault secret rotatord did not write (take_over)",
				zap.Int("current_version", md.CurrentVersion))
		}
		if err := s.step("metadata"); err != nil {
			return sinks.NothingSent(fmt.Errorf("write %s: mark as managed: %w", label, err))
		}
		if err := s.writeMarker(ctx, p, md.withMarker(s.policy)); err != nil {
			return sinks.NothingSent(fmt.Errorf("write %s: mark as managed: %w", label, err))
		}
		marked = true
	}

	cas := md.version()
	data := map[string]any{
		FieldAPIKey:    c.KeyID,
		FieldAPISecret: c.Secret.Reveal(),
		FieldName:      c.Name,
		FieldRoleID:    c.RoleID,
		FieldCreatedAt: c.CreatedAt.UTC().Format(time.RFC3339),
	}
	var (
		version      int
		deletionTime string
	)
	if err := s.step("data"); err != nil {
		return sinks.NothingSent(fmt.Errorf("write %s: %w", label, err))
	}
	version, deletionTime, err = s.writeDataAt(ctx, p, data, cas)
	if errors.Is(err, ErrConflict) {
		// Our own earlier attempt (a retried request whose first try went
		// through) leaves exactly our content: that is success. The read
		// is tried again when its answer is lost: on a first write, a
		// conflict not known to be ours removes the marker below.
		for range 2 {
			h, v, rerr := s.readLatest(ctx, p)
			if rerr == nil && equal(h, c) {
				log.Info("check-and-set conflict on content rotatord wrote: taking it as written", zap.Int("version", v))
				version, err = v, nil
			}
			if rerr == nil || !lostAnswer(rerr) || ctx.Err() != nil {
				break
			}
		}
	}
	if err != nil {
		if marked && errors.Is(err, ErrConflict) {
			s.unmark(ctx, p, md, log)
		}
		leads := s.leads == nil || s.leads.Check() == nil // a deposed replica's writes are refused
		if lostAnswer(err) && leads && !s.fenceLostWrite(ctx, p, cas, true) {
			s.mu.Lock()
			s.unfenced[p] = unfencedWrite{cas: cas, at: time.Now()}
			s.mu.Unlock()
			log.Warn("a Vault write whose answer was lost could not be fenced: it may still land; the secret reads as unknown until the fence is written")
		}
		return fmt.Errorf("write %s: %w", label, err)
	}
	s.mu.Lock()
	s.written[p] = written{keyID: c.KeyID, version: version}
	delete(s.unfenced, p) // a version past any lost write's check-and-set
	s.mu.Unlock()
	log.Debug("credential written to Vault", zap.Int("version", version), zap.Int("cas", cas))
	if deletionTime != "" {
		// delete_version_after on the secret or the mount: Vault deletes
		// the key consumers read on its own, and they find nothing from
		// then until the next rotation writes again (a grace period longer
		// than it leaves the old key alive with no key in Vault). Not
		// refused: the write keeps consumers fed until then, a refusal
		// would not.
		log.Warn("Vault deletes this version on its own (delete_version_after on the secret or the mount): consumers find nothing in Vault from then until rotatord writes a newer version; remove delete_version_after or make it longer than the time between rotations",
			zap.Int("version", version), zap.String("deletion_time", deletionTime))
	}
	return nil
}

// takeProbed returns the metadata of p that a Probe read within reuseFor
// (nil: the secret did not exist), once; ok is false when there is none.
func (s *Sink) takeProbed(p string) (md *metadata, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr, ok := s.probed[p]
	delete(s.probed, p)
	if !ok || time.Since(pr.at) >= reuseFor {
		return nil, false
	}
	return pr.md, true
}

// unmark gives back the custom metadata a conflicting Write replaced when it
// marked the path: someone else wrote the secret meanwhile, and it must not
// pass for rotatord's at the next rotation.
func (s *Sink) unmark(ctx context.Context, p string, before *metadata, log *zap.Logger) {
	now, err := s.readMetadata(ctx, p)
	if err == nil && now.managed() && !before.managed() {
		err = s.writeMarker(ctx, p, before.custom())
	}
	if err != nil {
		log.Warn("could not remove the managed-by marker after a check-and-set conflict", zap.Error(err))
	}
}

// Verify implements sinks.Sink: the latest version must hold c's key id and
// secret and, when this process wrote it, be the version Write produced.
func (s *Sink) Verify(ctx context.Context, c sinks.Credential) error {
	defer s.auth.begin()()
	p, err := s.secretPath(c.Name)
	if err != nil {
		return err
	}
	defer s.locks.Lock(p)()
	ctx = withKnown(ctx, c.Secret.Reveal())
	label := s.label(p)
	h, v, err := s.readLatest(ctx, p)
	switch {
	case errors.Is(err, sinks.ErrUnreadable):
		return fmt.Errorf("verify %s: %w: %v", label, sinks.ErrMismatch, err)
	case err != nil:
		return fmt.Errorf("verify %s: %w", label, err)
	case !equal(h, c):
		return fmt.Errorf("verify %s: version %d: %w", label, v, sinks.ErrMismatch)
	}
	s.mu.Lock()
	w, ok := s.written[p]
	s.mu.Unlock()
	if ok && w.keyID == c.KeyID && w.version != v {
		return fmt.Errorf("verify %s: latest version is %d, rotatord wrote version %d: %w", label, v, w.version, sinks.ErrMismatch)
	}
	return nil
}

// Read implements sinks.Sink.
func (s *Sink) Read(ctx context.Context, name string) (sinks.Held, error) {
	defer s.auth.begin()()
	p, err := s.secretPath(name)
	if err != nil {
		return sinks.Held{}, err
	}
	defer s.locks.Lock(p)()
	s.mu.Lock()
	uw, unfenced := s.unfenced[p]
	if unfenced && time.Since(uw.at) >= unfencedFor {
		delete(s.unfenced, p)
		unfenced = false
	}
	s.mu.Unlock()
	if unfenced {
		if !s.fenceLostWrite(ctx, p, uw.cas, false) {
			return sinks.Held{}, fmt.Errorf("read %s: a write whose answer was lost may still land (its fence could not be written yet)", s.label(p))
		}
		s.mu.Lock()
		if s.unfenced[p] == uw {
			delete(s.unfenced, p)
		}
		s.mu.Unlock()
	}
	h, _, err := s.readLatest(ctx, p)
	if err != nil {
		return sinks.Held{}, fmt.Errorf("read %s: %w", s.label(p), err)
	}
	return h, nil
}

// equal compares in constant time.
func equal(h sinks.Held, c sinks.Credential) bool {
	k := subtle.ConstantTimeCompare([]byte(h.KeyID), []byte(c.KeyID))
	v := subtle.ConstantTimeCompare([]byte(h.Secret.Reveal()), []byte(c.Secret.Reveal()))
	return k&v == 1
}

// heldFrom reads the credential fields of a version's data.
func heldFrom(data map[string]any) (sinks.Held, error) {
	key, _ := data[FieldAPIKey].(string)
	sec, _ := data[FieldAPISecret].(string)
	if key == "" || sec == "" {
		return sinks.Held{}, fmt.Errorf("%w: no %s or %s string in the secret", sinks.ErrUnreadable, FieldAPIKey, FieldAPISecret)
	}
	return sinks.Held{KeyID: key, Secret: secret.Value(sec)}, nil
}

// spareReadsAndLogins exempts from the fence what writes no secret: reads,
// and logins and token renewals (under auth/), which a standby needs as
// much as the leader. Vault may sit behind a path prefix (an address such
// as https://gateway/vault): the paths start with it.
func spareReadsAndLogins(addr string) func(*http.Request) bool {
	auth := "/v1/auth/"
	if u, err := url.Parse(addr); err == nil {
		// Cleaned, as the Vault client cleans the paths it sends.
		auth = path.Join("/", u.Path, "v1/auth") + "/"
	}
	return func(req *http.Request) bool {
		return fence.SpareReads(req) || strings.HasPrefix(req.URL.Path, auth)
	}
}

// unwrapPathError is the error an *fs.PathError wraps: the caller names
// the file itself.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
