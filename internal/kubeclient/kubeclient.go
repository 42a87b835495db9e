// Package kubeclient owns how rotatord reaches a Kubernetes API server: the
// in-cluster configuration, or a kubeconfig file and context, turned into
// a client-go clientset with rotatord's user agent and timeouts.
package kubeclient

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/transport"

	"go.yaml.in/yaml/v3"

	"github.com/rotatord/rotatord/internal/fence"
	"github.com/rotatord/rotatord/internal/plainhttp"
	"github.com/rotatord/rotatord/internal/redact"
	"github.com/rotatord/rotatord/internal/version"
	"github.com/rotatord/rotatord/secret"
)

// RequestTimeout bounds one request to the API server.
const RequestTimeout = 30 * time.Second

// The files the in-cluster configuration (rest.InClusterConfig) reads:
// the pod's service account token and the cluster's CA certificate.
const (
	InClusterTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	InClusterCAFile    = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
)

// CheckInCluster reports, without connecting, why Config("", "") would
// fail on this host: outside a pod (KUBERNETES_SERVICE_HOST or
// KUBERNETES_SERVICE_PORT unset in getenv), or without the service
// account token, or with either in-cluster file not a regular file.
func CheckInCluster(getenv func(string) string) error {
	if getenv("KUBERNETES_SERVICE_HOST") == "" || getenv("KUBERNETES_SERVICE_PORT") == "" {
		return errors.New("no kubeconfig, so the in-cluster configuration, but this host is not in a Kubernetes cluster " +
			"(KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set): outside a cluster, set kubeconfig")
	}
	for _, f := range []NamedFile{{InClusterTokenFile, "the in-cluster service account token"}, {InClusterCAFile, "the in-cluster CA certificate"}} {
		err := secret.CheckRegular(f.Path)
		var nr *secret.NotRegularError
		switch {
		case errors.As(err, &nr):
			return fmt.Errorf("in-cluster Kubernetes configuration: %s %s: %w", f.Field, f.Path, nr)
		case err != nil && f.Path == InClusterTokenFile:
			// client-go cannot do without the token (it does without
			// the CA file, logging an error).
			return fmt.Errorf("in-cluster Kubernetes configuration: %s %s: %v (outside a cluster, set kubeconfig)", f.Field, f.Path, secret.Cause(err))
		}
	}
	return nil
}

// Config returns the REST configuration: from the kubeconfig file (and
// context, empty for its current one) when kubeconfig is set, else the
// pod's service account (in-cluster).
//
// rotatord reads the kubeconfig itself (secret.ReadFile: without blocking,
// a regular file, bounded) and hands client-go the bytes, its relative
// paths resolved against its directory as client-go's loader does. The
// files the configuration then names (certificate-authority,
// client-certificate, client-key, tokenFile; the in-cluster token and
// CA) are opened the same way first, and refused unless regular files:
// client-go opens them with blocking reads, and a named pipe planted at
// one held the start (or a reload) until someone wrote to it.
func Config(kubeconfig, context string) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if kubeconfig == "" {
		for _, f := range []NamedFile{{InClusterTokenFile, "the in-cluster service account token"}, {InClusterCAFile, "the in-cluster CA certificate"}} {
			var nr *secret.NotRegularError
			if err := secret.CheckRegular(f.Path); errors.As(err, &nr) {
				return nil, fmt.Errorf("in-cluster Kubernetes configuration: %s %s: %w", f.Field, f.Path, nr)
			}
		}
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster Kubernetes configuration: %w (outside a cluster, set kubeconfig)", err)
		}
	} else {
		cfg, err = FromKubeconfig(kubeconfig, context)
		if err != nil {
			return nil, err
		}
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "rotatord/" + version.String()
	cfg.Timeout = RequestTimeout
	// client-go's default client-side limit (5/s) queues requests for
	// seconds: a write checked against the Lease would then leave long
	// after the check.
	cfg.QPS, cfg.Burst = 100, 200
	// Warnings are logged with the data a request carried hidden (sent.go).
	cfg.WarningHandler = nil
	cfg.WarningHandlerWithContext = warnings{}
	// A redirect to plain http on the network is refused as such a
	// server is (checkPlainHTTP): client-go follows redirects, a write's
	// included, and a Secret's carries the new API secret.
	proxy := cfg.Proxy
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return plainGuard{next: rt, proxy: proxy} }
	return cfg, nil
}

// plainGuard refuses a request in plain http to a host that is not
// loopback, or through proxy (the cluster's proxy-url) to a proxy that is
// not (one a redirect leads to: the server itself is checked when the
// configuration is read), before anything is sent.
type plainGuard struct {
	next  http.RoundTripper
	proxy func(*http.Request) (*url.URL, error)
}

func (g plainGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if p := plainProxy(g.proxy, req.URL); p != "" {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("refused: plain http to %s through proxy-url %s, a proxy that is not loopback (a redirect?): the Secrets rotatord writes and the credentials would cross the network in clear",
			redact.URL(req.URL.Scheme+"://"+req.URL.Host), p)
	}
	if plainToNetwork(req.URL) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("refused: plain http to %s, a host that is not loopback (a redirect?): the Secrets rotatord writes and the credentials would cross the network in clear",
			redact.URL(req.URL.Scheme+"://"+req.URL.Host))
	}
	return g.next.RoundTrip(req)
}

// WrappedRoundTripper lets client-go's debugging wrappers see through.
func (g plainGuard) WrappedRoundTripper() http.RoundTripper { return g.next }

// plainToNetwork reports whether u is plain http to a host that is not
// loopback.
func plainToNetwork(u *url.URL) bool { return plainhttp.ToNetwork(u) }

// plainProxy names (without its credentials) the proxy a request to u in
// plain http goes through across the network, or is "": client-go sends
// every request to an explicit proxy-url, loopback's included (the
// environment's proxies skip loopback), and a plain http request reaches
// the proxy as it is (an http proxy reads it, a socks5 one carries its
// bytes). An https proxy is reached over TLS.
func plainProxy(proxy func(*http.Request) (*url.URL, error), u *url.URL) string {
	if proxy == nil || u.Scheme != "http" {
		return ""
	}
	pu, err := proxy(&http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}})
	if err != nil || pu == nil || pu.Scheme == "https" || plainhttp.Loopback(pu.Hostname()) {
		return "" // client-go reports a proxy it cannot use itself
	}
	return redact.URL(pu.Scheme + "://" + pu.Host)
}

// Cache shares one clientset per kubeconfig and context, so a hundred
// Secret sinks use one connection pool.
type Cache struct {
	// Gate, when set before the first Client, is asked right before each
	// write leaves, which is cut off at the end of the claim (see
	// internal/fence): a replica that lost the Lease sends no journal or
	// Secret write, however long the request waited in the client. The
	// election's own Lease requests must not go through a gated Cache.
	Gate fence.Func

	mu      sync.Mutex
	clients map[[2]string]cached
}

type cached struct {
	client kubernetes.Interface
	host   string
	// files are those client-go reads again later (a CA file it reloads,
	// a client certificate it rotates, a token file it re-reads every
	// minute): each later Client call (a reload) checks them again.
	files      []NamedFile
	kubeconfig string
}

// Client returns the clientset for kubeconfig and context, creating it on
// first use.
func (c *Cache) Client(kubeconfig, context string) (kubernetes.Interface, error) {
	e, err := c.get(kubeconfig, context)
	return e.client, err
}

// Server returns the API server's URL for kubeconfig and context: what
// tells two clusters apart.
func (c *Cache) Server(kubeconfig, context string) (string, error) {
	e, err := c.get(kubeconfig, context)
	return e.host, err
}

func (c *Cache) get(kubeconfig, context string) (cached, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := [2]string{kubeconfig, context}
	if e, ok := c.clients[k]; ok {
		// A file planted since the client was made (a reload): refused as
		// at the start, though client-go may read it before then.
		if err := checkFiles(e.kubeconfig, e.files); err != nil {
			return cached{}, err
		}
		return e, nil
	}
	cfg, err := Config(kubeconfig, context)
	if err != nil {
		return cached{}, err
	}
	if gate := c.Gate; gate != nil {
		// Writes go on connections of their own, fenced at the socket
		// too, so that a replica paused after the checks (SIGSTOP, a
		// frozen VM) sends nothing once it wakes; reads keep client-go's
		// transport, which a standby needs. Below client-go's
		// authentication, which wraps both.
		fenced, err := writeTransport(cfg, gate)
		if err != nil {
			return cached{}, err
		}
		guard := cfg.WrapTransport
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			rt = fence.Route(rt, fenced, gate, fence.SpareReads)
			if guard != nil {
				rt = guard(rt)
			}
			return rt
		}
	}
	cl, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return cached{}, fmt.Errorf("kubernetes client: %w", err)
	}
	if c.clients == nil {
		c.clients = map[[2]string]cached{}
	}
	e := cached{client: cl, host: cfg.Host, files: Files(cfg), kubeconfig: kubeconfig}
	if kubeconfig == "" {
		e.kubeconfig = "(in-cluster)"
	}
	c.clients[k] = e
	return e, nil
}

// writeTransport is a transport for the writes of a gated client, built
// by client-go from cfg as its own is (the CA and client certificate
// files it reloads, an exec plugin's certificates and connection
// tracking, the proxy), but without authentication, impersonation or user
// agent (applied around the route, to reads and writes alike), over
// HTTP/1.1, each connection a fence.Conn.
func writeTransport(cfg *rest.Config, gate fence.Func) (http.RoundTripper, error) {
	tc, err := cfg.TransportConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	tc.Username, tc.Password, tc.BearerToken, tc.BearerTokenFile = "", "", "", ""
	tc.Impersonate = transport.ImpersonationConfig{}
	tc.WrapTransport = nil // an exec plugin's or auth provider's credentials
	tc.UserAgent = ""
	tc.TLS.NextProtos = []string{"http/1.1"}
	dial := (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	if tc.DialHolder != nil {
		dial = tc.DialHolder.Dial
	}
	tc.DialHolder = &transport.DialHolder{Dial: fence.ConnDial(dial, gate)}
	rt, err := transport.New(tc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return rt, nil
}

// MaxKubeconfig is the largest kubeconfig rotatord reads: client-go reads
// any size, and one merged from a few hundred clusters with their
// certificates embedded passes the 1 MiB of a credential file.
const MaxKubeconfig = 64 << 20

// NamedFile is a file a kubeconfig names, with the field naming it.
type NamedFile struct{ Path, Field string }

// Load reads the kubeconfig at path (secret.ReadFile: a regular file,
// opened without blocking, bounded), parses it, and resolves its relative
// paths against its directory, as client-go's loader does. Errors name the
// file.
func Load(path string) (*clientcmdapi.Config, error) {
	kc, _, err := load(path)
	return kc, err
}

// load is Load, also returning the file's bytes.
func load(path string) (*clientcmdapi.Config, []byte, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig %s: %w", secret.ShownPath(path), err)
	}
	b, err := secret.ReadFile(abs, secret.FileOptions{Max: MaxKubeconfig})
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig %s: %w", secret.ShownPath(path), secret.Cause(err))
	}
	if binaryTagged(b) {
		return nil, nil, fmt.Errorf("kubeconfig %s: a value tagged !!binary: no field of a kubeconfig is binary (its *-data fields are base64 text)", secret.ShownPath(path))
	}
	kc, err := clientcmd.Load(b)
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig %s: %w", secret.ShownPath(path), cutFileWords(err, b))
	}
	if field := secretElsewhere(kc); field != "" {
		return nil, nil, fmt.Errorf("kubeconfig %s: a user's %s is written elsewhere in the file too (or part of it): a secret is written in its own field only, where it is never shown", secret.ShownPath(path), field)
	}
	for _, c := range kc.Clusters {
		c.LocationOfOrigin = abs
	}
	for _, u := range kc.AuthInfos {
		u.LocationOfOrigin = abs
	}
	for _, c := range kc.Contexts {
		c.LocationOfOrigin = abs
	}
	if err := clientcmd.ResolveLocalPaths(kc); err != nil {
		return nil, nil, fmt.Errorf("kubeconfig %s: %w", secret.ShownPath(path), cutFileWords(err, b))
	}
	return kc, b, nil
}

// FromKubeconfig is the REST configuration of the kubeconfig at path
// (Load) and context (empty: its current one), after checking that each
// file it names for the connection is a regular file.
func FromKubeconfig(path, context string) (*rest.Config, error) {
	kc, b, err := load(path)
	if err != nil {
		return nil, err
	}
	if err := checkContext(kc, context); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", secret.ShownPath(path), cutFileWords(err, b))
	}
	// Before client-go makes the configuration: its validation opens the
	// CA and client certificate files, and it reads a tokenFile.
	if err := checkFiles(path, referenced(kc, context)); err != nil {
		return nil, err
	}
	cc := clientcmd.NewNonInteractiveClientConfig(*kc, context, &clientcmd.ConfigOverrides{CurrentContext: context}, nil)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", secret.ShownPath(path), cutFileWords(err, b))
	}
	if err := checkFiles(path, Files(cfg)); err != nil {
		return nil, err
	}
	if err := checkPlainHTTP(cfg); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", secret.ShownPath(path), err)
	}
	return cfg, nil
}

// checkPlainHTTP refuses a server reached in plain http on a host that is
// not loopback: every Secret a Kubernetes sink writes (the new API
// secrets) and the user's credentials would cross the network in clear,
// as the Exoscale endpoint and a Vault address may not without
// insecure_http. The API server has served no plain http port since
// Kubernetes 1.20; a loopback one (kubectl proxy) is kept.
func checkPlainHTTP(cfg *rest.Config) error {
	u, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil // client-go reports a bad server itself
	}
	if p := plainProxy(cfg.Proxy, u); p != "" && !plainToNetwork(u) {
		return fmt.Errorf("server %s is plain http through proxy-url %s, a proxy that is not loopback: the Secrets rotatord writes and the credentials would cross the network in clear (use https, or a proxy on loopback)",
			redact.URL(u.Scheme+"://"+u.Host), p)
	}
	if !plainToNetwork(u) {
		return nil
	}
	return fmt.Errorf("server %s is plain http to a host that is not loopback: the Secrets rotatord writes and the credentials would cross the network in clear (use https)",
		redact.URL(u.Scheme+"://"+u.Host))
}

// checkContext says what is missing when the context (empty: the file's
// current-context) is not defined in kc, or names a cluster or a user kc
// does not define. client-go answers a context whose cluster is missing,
// and a file without a current-context, with "no configuration has been
// provided, try setting KUBERNETES_MASTER environment variable", which
// sends the operator to a variable rotatord never reads.
func checkContext(kc *clientcmdapi.Config, context string) error {
	name := context
	if name == "" {
		name = kc.CurrentContext
	}
	if name == "" {
		return errors.New("the file sets no current-context: name one of its contexts with context" + defined(kc.Contexts))
	}
	c, ok := kc.Contexts[name]
	if !ok {
		return fmt.Errorf("context %q is not defined in the file%s", name, defined(kc.Contexts))
	}
	if _, ok := kc.Clusters[c.Cluster]; !ok {
		return fmt.Errorf("context %q names cluster %q, which the file does not define%s", name, c.Cluster, defined(kc.Clusters))
	}
	if _, ok := kc.AuthInfos[c.AuthInfo]; c.AuthInfo != "" && !ok {
		return fmt.Errorf("context %q names user %q, which the file does not define%s", name, c.AuthInfo, defined(kc.AuthInfos))
	}
	return nil
}

// defined lists the names of m for a message (the first ten, sorted).
func defined[V any](m map[string]V) string {
	if len(m) == 0 {
		return " (it defines none)"
	}
	names := slices.Sorted(maps.Keys(m))
	more := ""
	if len(names) > 10 {
		names, more = names[:10], fmt.Sprintf(" and %d more", len(names)-10)
	}
	return fmt.Sprintf(" (it defines %q%s)", names, more)
}

// EffectiveContext is the context a client of kubeconfig and context
// uses: context when set (or without a kubeconfig: in-cluster), else the
// file's current-context as it is now. A Secret sink names its cluster by
// it, so that `kubectl config use-context` on the file, which moves the
// sink to another cluster, changes the sink's identity in the journal as
// changing its context would.
func EffectiveContext(kubeconfig, context string) (string, error) {
	if kubeconfig == "" || context != "" {
		return context, nil
	}
	kc, err := Load(kubeconfig)
	if err != nil {
		return "", err
	}
	return kc.CurrentContext, nil
}

// Files are the files client-go opens for cfg: the CA certificate, the
// client certificate and key, the bearer token file, each with the
// kubeconfig field that names it.
func Files(cfg *rest.Config) []NamedFile {
	var out []NamedFile
	for _, f := range []NamedFile{
		{cfg.TLSClientConfig.CAFile, "certificate-authority"},
		{cfg.TLSClientConfig.CertFile, "client-certificate"},
		{cfg.TLSClientConfig.KeyFile, "client-key"},
		{cfg.BearerTokenFile, "tokenFile"},
	} {
		if f.Path != "" {
			out = append(out, f)
		}
	}
	return out
}

// referenced are the files the context's cluster and user name (the
// current context when context is empty).
func referenced(kc *clientcmdapi.Config, context string) []NamedFile {
	if context == "" {
		context = kc.CurrentContext
	}
	ctx, ok := kc.Contexts[context]
	if !ok {
		return nil
	}
	var out []NamedFile
	if c, ok := kc.Clusters[ctx.Cluster]; ok && c.CertificateAuthority != "" {
		out = append(out, NamedFile{c.CertificateAuthority, "certificate-authority"})
	}
	if u, ok := kc.AuthInfos[ctx.AuthInfo]; ok {
		for _, f := range []NamedFile{{u.ClientCertificate, "client-certificate"}, {u.ClientKey, "client-key"}, {u.TokenFile, "tokenFile"}} {
			if f.Path != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

// checkFiles refuses a file that is not a regular file; one that cannot
// be opened is left to client-go, which says why in its own words.
func checkFiles(kubeconfig string, files []NamedFile) error {
	for _, f := range files {
		if err := secret.CheckRegular(f.Path); err != nil {
			var nr *secret.NotRegularError
			if errors.As(err, &nr) {
				return fmt.Errorf("kubeconfig %s: %s %s: %w", secret.ShownPath(kubeconfig), f.Field, secret.ShownPath(f.Path), nr)
			}
		}
	}
	return nil
}

// secretElsewhere names the kind of secret of kc (token, password, client
// key, an auth provider's token or client secret) that some other field of kc also
// holds, 25 characters of it in a row or more: a YAML alias (token: &t
// ..., then current-context: *t, server: *t, proxy-url: *t) would have
// client-go's errors (context not found, invalid proxy-url, unable to read
// certificate-authority) quote it whole, and a field client-go accepts
// (server, tokenFile, a namespace) takes it into the log of each request.
func secretElsewhere(kc *clientcmdapi.Config) string {
	type found struct{ field, value string }
	var secrets []found
	add := func(field, v string) {
		if len(v) > minElsewhere {
			secrets = append(secrets, found{field, v})
		}
	}
	rest := kc.DeepCopy()
	// The certificates are left out: a client certificate holds the
	// public half of its key (an EC key's point, an RSA key's modulus),
	// and base64 of the two PEMs share long runs whenever the layouts
	// align (the subject's length decides): every such kubeconfig, as
	// kubeadm, kind or k3s write them, was refused. client-go never
	// quotes these bytes, nor logs them.
	for _, c := range rest.Clusters {
		c.CertificateAuthorityData = nil
	}
	for _, u := range rest.AuthInfos {
		u.ClientCertificateData = nil
		add("token", u.Token)
		add("password", u.Password)
		add("client key", string(u.ClientKeyData))
		add("client key", base64.StdEncoding.EncodeToString(u.ClientKeyData))
		u.Token, u.Password, u.ClientKeyData = "", "", nil
		if u.AuthProvider != nil {
			// Its tokens and client secret; not its issuer URL, which
			// may share a host name with the cluster's server.
			for _, k := range []string{"id-token", "refresh-token", "access-token", "client-secret"} {
				add("auth provider "+k, u.AuthProvider.Config[k])
				delete(u.AuthProvider.Config, k)
			}
		}
	}
	if len(secrets) == 0 {
		return ""
	}
	b, err := clientcmd.Write(*rest)
	if err != nil {
		return ""
	}
	others := string(b)
	for _, s := range secrets {
		v := distinctive(s.value)
		for i := 0; i+minElsewhere < len(v); i++ {
			if w := v[i : i+minElsewhere+1]; strings.Contains(others, w) {
				return s.field
			}
		}
	}
	return ""
}

// distinctive is the part of secret v that no other secret of its kind
// shares, which secretElsewhere looks for: a JWT's signature (every RS256
// JWT's header starts with the same 28 characters, and Kubernetes service
// account tokens share long runs of their claims too: a user's token and
// another JWT in an exec plugin's env refused the kubeconfig), a PEM
// key's middle half, raw or in base64 (its BEGIN line, and the algorithm
// identifier every PKCS #8 RSA key starts with, are not its own). A copy
// of the secret holds that part too.
func distinctive(v string) string {
	if strings.HasPrefix(v, "eyJ") && strings.Count(v, ".") == 2 {
		return v[strings.LastIndexByte(v, '.')+1:]
	}
	if strings.Contains(v, "-----BEGIN") || strings.HasPrefix(v, "LS0tLS1CRUdJT") {
		return v[len(v)/4 : 3*len(v)/4]
	}
	return v
}

// minElsewhere: more than this many characters of a secret in a row is
// what secretElsewhere looks for, as the policy file's checks do.
const minElsewhere = 24

// longWordRE: a run of base64 characters longer than minElsewhere.
var longWordRE = regexp.MustCompile(`[A-Za-z0-9_+=-]{25,}`)

// cutFileWords cuts, in err's message, each long run of base64 characters
// that comes from the kubeconfig b (more than minElsewhere of them in a
// row are in it) to minElsewhere characters, as the policy file's
// problems are cut: a token or a client key's line moved into a field
// client-go quotes (current-context, proxy-url, a file's path) must not
// reach validate's output or a log whole. A name after a '/' that does
// not look like a secret (a CA file's), and a name of words
// (secret.WordsName: gke_my-project-123456_europe-west1_prod) stay whole. err is returned as it
// is when nothing was cut.
func cutFileWords(err error, b []byte) error {
	msg := err.Error()
	var out strings.Builder
	last := 0
	for _, m := range longWordRE.FindAllStringIndex(msg, -1) {
		w := msg[m[0]:m[1]]
		out.WriteString(msg[last:m[0]])
		last = m[1]
		from := false
		for i := 0; i+minElsewhere < len(w) && !from; i++ {
			from = bytes.Contains(b, []byte(w[i:i+minElsewhere+1]))
		}
		if !from || secret.WordsName(w) || m[0] > 0 && msg[m[0]-1] == '/' && secret.ShownPath("x/"+w) == "x/"+w {
			out.WriteString(w)
			continue
		}
		out.WriteString(w[:minElsewhere] + "…")
	}
	if last == 0 {
		return err
	}
	out.WriteString(msg[last:])
	if cut := out.String(); cut != msg {
		return errors.New(cut)
	}
	return err
}

// binaryTagged reports a value of b tagged !!binary (in any spelling of
// the tag): the YAML parser decodes it from base64, so a client key's
// data moved under such a tag into a field client-go quotes
// (current-context) reached a message as the PEM key itself, which no
// cut of the file's words sees.
func binaryTagged(b []byte) bool {
	if bytes.Contains(b, []byte("!binary")) || bytes.Contains(b, []byte("2002:binary")) {
		return true
	}
	var root yaml.Node
	if yaml.Unmarshal(b, &root) != nil {
		return false
	}
	var walk func(n *yaml.Node) bool
	walk = func(n *yaml.Node) bool {
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!binary" {
			return true
		}
		for _, c := range n.Content {
			if walk(c) {
				return true
			}
		}
		return false
	}
	return walk(&root)
}
