// Package kubetest runs a real Kubernetes API server backed by a real etcd
// for the tests of the Kubernetes Secret sink, the Lease leader election
// and the API-server state backend. It owns both processes (their ports,
// data, logs and lifetime), the static users the server authenticates, and
// the helpers that give those users clients, kubeconfigs and RBAC rights.
//
// The binaries come from $ROTATORD_ETCD_BIN and $ROTATORD_KUBE_APISERVER_BIN
// (scripts/test sets them from scripts/tools/etcd and
// scripts/tools/kube-apiserver). Without them the tests skip, unless
// $ROTATORD_REQUIRE_KUBE=1 (set in CI), which makes the absence a failure.
// They also skip under -short.
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Environment variables.
const (
	EnvEtcdBin      = "ROTATORD_ETCD_BIN"
	EnvAPIServerBin = "ROTATORD_KUBE_APISERVER_BIN"
	EnvRequire      = "ROTATORD_REQUIRE_KUBE"
)

// Admin is the static user in group system:masters: every right.
const Admin = "admin"

// Users are the static plain users: authenticated, with no right at all
// until Grant gives them some.
var Users = []string{"rotatord", "rotatord-2", "rotatord-3", "outsider"}

// How long a process gets to become ready. A start takes a few seconds;
// the margin is for parallel clusters under -race on a small machine.
const readyTimeout = 90 * time.Second

// Cluster is a running etcd plus kube-apiserver, stopped by t.Cleanup
// (Start) or Stop (Launch).
type Cluster struct {
	// URL is the API server's address, https://127.0.0.1:<port>.
	URL string
	// CAData is the PEM CA that signed the API server's certificate.
	CAData []byte
	// EtcdLog and APIServerLog hold the processes' output.
	EtcdLog, APIServerLog string

	dir, apiBin string
	apiArgs     []string
	opts        Options

	mu   sync.Mutex // guards etcd, api: RestartAPIServer vs cleanup
	etcd *proc
	api  *proc
}

// Start starts etcd and kube-apiserver on free loopback ports, with their
// data in t.TempDir(), and waits until the API server is ready.
func Start(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("kubetest: runs etcd and kube-apiserver; skipped with -short")
	}
	etcdBin, apiBin, err := Binaries()
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	began := time.Now()
	dir := t.TempDir() // before the Cleanup below: removed after the kill
	c := newCluster(dir, apiBin, Options{})
	t.Cleanup(c.kill)
	if err := c.start(etcdBin); err != nil {
		t.Fatal(err)
	}
	t.Logf("kubetest: cluster at %s ready in %v (logs in %s)", c.URL, time.Since(began).Round(time.Millisecond), dir)
	return c
}

// Binaries returns the etcd and kube-apiserver binaries the environment
// names, or an error saying which variables to set.
func Binaries() (etcd, apiServer string, err error) {
	etcd, apiServer = os.Getenv(EnvEtcdBin), os.Getenv(EnvAPIServerBin)
	if etcd == "" || apiServer == "" {
		return "", "", fmt.Errorf("kubetest: no Kubernetes binaries: set %s (scripts/tools/etcd) and %s (scripts/tools/kube-apiserver)",
			EnvEtcdBin, EnvAPIServerBin)
	}
	return etcd, apiServer, nil
}

// Options of Launch.
type Options struct {
	// Logf, when set, is told when the cluster is ready and of each
	// restart of the API server.
	Logf func(format string, args ...any)
	// Users are more static plain users, beside Users.
	Users []string
	// AuditLog, when set, is where the API server writes its audit log
	// (JSON lines, one event per request at ResponseComplete, written
	// before the response: --audit-log-mode=blocking), with AuditPolicy
	// (a YAML audit.k8s.io/v1 Policy) or, when that is empty,
	// DefaultAuditPolicy.
	AuditLog    string
	AuditPolicy string
}

// DefaultAuditPolicy logs the writes of Leases with their request body
// (who holds the Lease, since when), and the writes of ConfigMaps and
// Secrets without any body (a Secret's data must not reach the log).
const DefaultAuditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Request
    verbs: ["create", "update", "patch", "delete"]
    resources: [{group: "coordination.k8s.io", resources: ["leases"]}]
  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
    resources: [{group: "", resources: ["configmaps", "secrets"]}]
  - level: None
`

// Launch is Start for programs that are not tests (the chaos campaign):
// the binaries come from the same variables (an error without them), the
// data and logs go to dir, which is kept, and Stop ends both processes.
func Launch(dir string, o Options) (*Cluster, error) {
	etcdBin, apiBin, err := Binaries()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	began := time.Now()
	c := newCluster(dir, apiBin, o)
	if err := c.start(etcdBin); err != nil {
		c.kill()
		return nil, err
	}
	c.logf("kubetest: cluster at %s ready in %v (logs in %s)", c.URL, time.Since(began).Round(time.Millisecond), dir)
	return c, nil
}

// Stop ends the API server, then etcd (SIGKILL: the data is not kept).
func (c *Cluster) Stop() { c.kill() }

func newCluster(dir, apiBin string, o Options) *Cluster {
	return &Cluster{
		dir:          dir,
		apiBin:       apiBin,
		opts:         o,
		EtcdLog:      filepath.Join(dir, "etcd.log"),
		APIServerLog: filepath.Join(dir, "kube-apiserver.log"),
	}
}

func (c *Cluster) logf(format string, args ...any) {
	if c.opts.Logf != nil {
		c.opts.Logf(format, args...)
	}
}

// start starts etcd, then the API server.
func (c *Cluster) start(etcdBin string) error {
	etcdURL, err := c.startEtcd(etcdBin)
	if err != nil {
		return fmt.Errorf("kubetest: etcd: %v\n--- %s (tail)\n%s", err, c.EtcdLog, tail(c.EtcdLog))
	}
	if err := c.startAPIServer(etcdURL); err != nil {
		return fmt.Errorf("kubetest: kube-apiserver: %v\n--- %s (tail)\n%s\n--- %s (tail)\n%s",
			err, c.APIServerLog, tail(c.APIServerLog), c.EtcdLog, tail(c.EtcdLog))
	}
	return nil
}

// startEtcd runs a one-member etcd and returns its client URL. The member
// gets a unique name, and readiness is its member list showing that name:
// a port lost to another test's etcd between picking and binding cannot
// pass for ours.
func (c *Cluster) startEtcd(bin string) (string, error) {
	name := "kubetest-" + randomHex(6)
	err := errExited
	// The free ports may be taken before etcd binds them: then it exits,
	// and another try gets other ports and a fresh data dir.
	for try := 0; try < 3 && errors.Is(err, errExited); try++ {
		client, peer := "http://"+freeAddr(), "http://"+freeAddr()
		var p *proc
		p, err = startProc(bin, c.dir, c.EtcdLog,
			"--name="+name,
			"--data-dir="+filepath.Join(c.dir, "etcd-"+strconv.Itoa(try)),
			"--listen-client-urls="+client,
			"--advertise-client-urls="+client,
			"--listen-peer-urls="+peer,
			"--initial-advertise-peer-urls="+peer,
			"--initial-cluster="+name+"="+peer,
			"--initial-cluster-token="+name,
			// The data lives as long as the test: durability only costs time.
			"--unsafe-no-fsync",
		)
		if err != nil {
			return "", err
		}
		c.mu.Lock()
		c.etcd = p
		c.mu.Unlock()
		if err = p.waitReady(func() bool { return etcdHasMember(client, name) }); err == nil {
			return client, nil
		}
		p.stop(syscall.SIGKILL)
	}
	return "", err
}

func etcdHasMember(url, name string) bool {
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Post(url+"/v3/cluster/member/list", "application/json", strings.NewReader("{}"))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var list struct{ Members []struct{ Name string } }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&list) != nil {
		return false
	}
	for _, m := range list.Members {
		if m.Name == name {
			return true
		}
	}
	return false
}

// startAPIServer writes the token file and service-account keys, then runs
// kube-apiserver on a free port.
func (c *Cluster) startAPIServer(etcdURL string) error {
	tokens := filepath.Join(c.dir, "tokens.csv")
	if err := writeTokenFile(tokens, c.opts.Users); err != nil {
		return err
	}
	saKey, saPub := filepath.Join(c.dir, "sa.key"), filepath.Join(c.dir, "sa.pub")
	if err := writeServiceAccountKeys(saKey, saPub); err != nil {
		return err
	}
	policy := filepath.Join(c.dir, "audit-policy.yaml")
	if c.opts.AuditLog != "" {
		p := c.opts.AuditPolicy
		if p == "" {
			p = DefaultAuditPolicy
		}
		if err := os.WriteFile(policy, []byte(p), 0o600); err != nil {
			return err
		}
	}
	err := errExited
	// The free port may be taken before the server binds it: then it
	// exits, and another try gets another port.
	for try := 0; try < 3 && errors.Is(err, errExited); try++ {
		addr := freeAddr()
		_, port, _ := net.SplitHostPort(addr)
		c.URL = "https://" + addr
		c.apiArgs = []string{
			"--etcd-servers=" + etcdURL,
			"--bind-address=127.0.0.1",
			"--secure-port=" + port,
			// Without it the server advertises the host's first interface,
			// which a sandbox may lack. With a loopback address the default
			// endpoint reconciler refuses to start ("may not be in the
			// loopback range"); nothing here needs the "kubernetes" Service
			// endpoints it maintains.
			"--advertise-address=127.0.0.1",
			"--endpoint-reconciler-type=none",
			// The server generates a CA and a certificate for 127.0.0.1
			// here on first start and reuses them on a restart.
			"--cert-dir=" + filepath.Join(c.dir, "certs"),
			"--service-cluster-ip-range=10.0.0.0/24",
			"--service-account-issuer=https://kubernetes.default.svc",
			"--service-account-key-file=" + saPub,
			"--service-account-signing-key-file=" + saKey,
			"--authorization-mode=RBAC",
			"--token-auth-file=" + tokens,
		}
		if c.opts.AuditLog != "" {
			c.apiArgs = append(c.apiArgs,
				"--audit-policy-file="+policy,
				"--audit-log-path="+c.opts.AuditLog,
				"--audit-log-format=json",
				"--audit-log-mode=blocking",
				// No rotation: readers follow one file, restarts append.
				"--audit-log-maxsize=100000",
			)
		}
		if c.CAData, err = c.runAPIServer(); err == nil {
			return nil
		}
	}
	return err
}

// runAPIServer starts kube-apiserver with c.apiArgs, waits for /readyz and
// returns the CA of the server's certificate. That certificate must verify
// against the CA in its own cert dir, so another test's server on a lost
// port cannot pass for ours.
func (c *Cluster) runAPIServer() ([]byte, error) {
	p, err := startProc(c.apiBin, c.dir, c.APIServerLog, c.apiArgs...)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.api = p
	c.mu.Unlock()
	var ca []byte
	err = p.waitReady(func() bool {
		ca, err = readCA(filepath.Join(c.dir, "certs", "apiserver.crt"))
		return err == nil && c.ready(ca)
	})
	if err != nil {
		p.stop(syscall.SIGKILL)
		return nil, err
	}
	return ca, nil
}

func (c *Cluster) ready(ca []byte) bool {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return false
	}
	hc := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true},
	}
	req, _ := http.NewRequest(http.MethodGet, c.URL+"/readyz", nil)
	req.Header.Set("Authorization", "Bearer "+token(Admin))
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// readCA returns the CA certificates of the server's generated chain:
// apiserver.crt holds the serving certificate followed by the CA that
// signed it, and only the CA belongs in a client's trust.
func readCA(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []byte
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		if cert.IsCA {
			out = append(out, pem.EncodeToMemory(blk)...)
		}
	}
	if out == nil {
		return nil, errors.New(path + ": no CA certificate (yet)")
	}
	return out, nil
}

// RestartAPIServer stops the API server (SIGTERM, then waits) and starts
// it again on the same port with the same etcd, certificates and users,
// waiting until it is ready. Clients made before keep working after it.
func (c *Cluster) RestartAPIServer(t testing.TB) {
	t.Helper()
	stopped, ready, err := c.restartAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kubetest: kube-apiserver stopped in %v, ready again in %v", stopped.Round(time.Millisecond), ready.Round(time.Millisecond))
}

// Restart is RestartAPIServer for programs that are not tests: it returns
// how long the server took to stop, and to be ready again from the
// SIGTERM.
func (c *Cluster) Restart() (stopped, ready time.Duration, err error) {
	stopped, ready, err = c.restartAPIServer()
	if err == nil {
		c.logf("kubetest: kube-apiserver stopped in %v, ready again in %v", stopped.Round(time.Millisecond), ready.Round(time.Millisecond))
	}
	return stopped, ready, err
}

func (c *Cluster) restartAPIServer() (stopped, ready time.Duration, err error) {
	c.mu.Lock()
	old := c.api
	c.mu.Unlock()
	began := time.Now()
	old.stop(syscall.SIGTERM)
	stopped = time.Since(began)
	ca, err := c.runAPIServer()
	if err != nil {
		return stopped, 0, fmt.Errorf("kubetest: restarting kube-apiserver: %v\n--- %s (tail)\n%s", err, c.APIServerLog, tail(c.APIServerLog))
	}
	if !bytes.Equal(ca, c.CAData) { // clients made before trust only the first
		return stopped, 0, errors.New("kubetest: kube-apiserver has a new CA after a restart")
	}
	return stopped, time.Since(began), nil
}

// SignalAPIServer sends sig to the API server: SIGSTOP freezes it (its
// clients' connections stay open, their requests unanswered), SIGCONT
// lets it go on.
func (c *Cluster) SignalAPIServer(sig syscall.Signal) error {
	c.mu.Lock()
	api := c.api
	c.mu.Unlock()
	if api == nil {
		return errors.New("kubetest: no API server")
	}
	return api.cmd.Process.Signal(sig)
}

// kill ends both processes, the API server first so that it does not log
// a storm of etcd connection errors.
func (c *Cluster) kill() {
	c.mu.Lock()
	api, etcd := c.api, c.etcd
	c.mu.Unlock()
	if api != nil {
		api.stop(syscall.SIGKILL)
	}
	if etcd != nil {
		etcd.stop(syscall.SIGKILL)
	}
}

// token is user's bearer token in the static token file.
func token(user string) string { return user + "-token" }

// writeTokenFile lists Admin, Users and extra: token,user,uid[,"groups"].
func writeTokenFile(path string, extra []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s,%s,%s,\"system:masters\"\n", token(Admin), Admin, Admin)
	for _, u := range append(slices.Clone(Users), extra...) {
		fmt.Fprintf(&b, "%s,%s,%s\n", token(u), u, u)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// writeServiceAccountKeys writes the RSA key pair that signs and verifies
// service-account tokens, which the server requires even when no test
// uses them.
func writeServiceAccountKeys(keyPath, pubPath string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
}

func (c *Cluster) known(user string) bool {
	return user == Admin || slices.Contains(Users, user) || slices.Contains(c.opts.Users, user)
}

// RestConfig is a client configuration authenticating as user, one of
// Admin and Users; any other name panics, as it is a bug in the test.
func (c *Cluster) RestConfig(user string) *rest.Config {
	if !c.known(user) {
		panic("kubetest: unknown user " + strconv.Quote(user))
	}
	return &rest.Config{
		Host:            c.URL,
		BearerToken:     token(user),
		TLSClientConfig: rest.TLSClientConfig{CAData: bytes.Clone(c.CAData)},
	}
}

// Client is a clientset authenticating as user.
func (c *Cluster) Client(t testing.TB, user string) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.RestConfig(user))
	if err != nil {
		t.Fatalf("kubetest: client for %s: %v", user, err)
	}
	return cs
}

// Kubeconfig writes a kubeconfig file (mode 0600, in t.TempDir()) that
// authenticates as user and trusts the server's CA, and returns its path.
func (c *Cluster) Kubeconfig(t testing.TB, user string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), user+".kubeconfig")
	if err := c.WriteKubeconfig(path, user); err != nil {
		t.Fatal(err)
	}
	return path
}

// WriteKubeconfig writes a kubeconfig file (mode 0600) at path that
// authenticates as user and trusts the server's CA.
func (c *Cluster) WriteKubeconfig(path, user string) error {
	if !c.known(user) {
		return fmt.Errorf("kubetest: unknown user %q", user)
	}
	rc := c.RestConfig(user)
	return WriteKubeconfigFile(path, rc.Host, rc.CAData, user, rc.BearerToken)
}

// WriteKubeconfigFile writes a kubeconfig file (mode 0600) at path that
// reaches server (trusting the PEM certificates caPEM) as user, with its
// bearer token: for a proxy in front of a Cluster.
func WriteKubeconfigFile(path, server string, caPEM []byte, user, token string) error {
	cfg := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"kubetest": {Server: server, CertificateAuthorityData: caPEM}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{user: {Token: token}},
		Contexts:       map[string]*clientcmdapi.Context{"kubetest": {Cluster: "kubetest", AuthInfo: user}},
		CurrentContext: "kubetest",
	}
	if err := clientcmd.WriteToFile(cfg, path); err != nil {
		return fmt.Errorf("kubetest: kubeconfig for %s: %v", user, err)
	}
	return nil
}

func (c *Cluster) admin(t testing.TB) (kubernetes.Interface, context.Context) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c.Client(t, Admin), ctx
}

// CreateNamespace creates namespace name as Admin.
func (c *Cluster) CreateNamespace(t testing.TB, name string) {
	t.Helper()
	_, ctx := c.admin(t)
	if err := c.NewNamespace(ctx, name); err != nil {
		t.Fatal(err)
	}
}

// NewNamespace is CreateNamespace for programs that are not tests.
func (c *Cluster) NewNamespace(ctx context.Context, name string) error {
	cs, err := kubernetes.NewForConfig(c.RestConfig(Admin))
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("kubetest: namespace %s: %v", name, err)
	}
	return nil
}

// Grant gives user rules in namespace through a Role and a RoleBinding
// named "kubetest-<user>"; a second Grant for the same user and namespace
// replaces the rules. It returns once the authorizer applies them: RBAC
// reads roles through an informer, so a request right after the create
// could still be refused.
func (c *Cluster) Grant(t testing.TB, user, namespace string, rules []rbacv1.PolicyRule) {
	t.Helper()
	_, ctx := c.admin(t)
	if err := c.GrantRules(ctx, user, namespace, rules); err != nil {
		t.Fatal(err)
	}
}

// GrantRules is Grant for programs that are not tests.
func (c *Cluster) GrantRules(ctx context.Context, user, namespace string, rules []rbacv1.PolicyRule) error {
	if !c.known(user) {
		return fmt.Errorf("kubetest: unknown user %q", user)
	}
	cs, err := kubernetes.NewForConfig(c.RestConfig(Admin))
	if err != nil {
		return err
	}
	name := "kubetest-" + user
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Rules: rules}
	_, err = cs.RbacV1().Roles(namespace).Create(ctx, role, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = cs.RbacV1().Roles(namespace).Update(ctx, role, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("kubetest: role %s/%s: %v", namespace, name, err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	_, err = cs.RbacV1().RoleBindings(namespace).Create(ctx, binding, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kubetest: rolebinding %s/%s: %v", namespace, name, err)
	}
	for _, r := range rules {
		if len(r.Verbs) == 0 || len(r.Resources) == 0 {
			continue
		}
		attrs := &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: r.Verbs[0]}
		attrs.Resource, attrs.Subresource, _ = strings.Cut(r.Resources[0], "/")
		if len(r.APIGroups) > 0 {
			attrs.Group = r.APIGroups[0]
		}
		if len(r.ResourceNames) > 0 {
			attrs.Name = r.ResourceNames[0]
		}
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: attrs}}
		for {
			res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
			if err == nil && res.Status.Allowed {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("kubetest: grant to %s in %s not effective: %+v (%v)", user, namespace, attrs, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// proc is a server process whose output goes to a log file.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed once the process has exited and been reaped
}

// startProc runs bin with args, appending its output to log (a restart or
// a retry adds to the same file, after a header line).
func startProc(bin, dir, log string, args ...string) (*proc, error) {
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fmt.Fprintf(f, "=== %s %s %s\n", time.Now().Format(time.RFC3339Nano), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Nothing from the test's environment: etcd reads ETCD_* variables and
	// client code KUBECONFIG and the like.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	cmd.Dir = dir
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, log: log, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// errExited is a server exiting before it was ready, as it does when its
// port was taken.
var errExited = errors.New("exited during start")

// waitReady polls ready until it holds, the process exits or readyTimeout
// passes.
func (p *proc) waitReady(ready func() bool) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("%s %w: %v", filepath.Base(p.cmd.Path), errExited, p.cmd.ProcessState)
		default:
		}
		if ready() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v", filepath.Base(p.cmd.Path), readyTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends sig, then SIGKILL after a minute, and waits for the exit. It
// may be called more than once.
func (p *proc) stop(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// freeAddr is a loopback address whose port was free a moment ago; the
// callers retry with another when the server cannot bind it.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("kubetest: no free loopback port: " + err.Error())
	}
	defer l.Close()
	return l.Addr().String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tail is the end of a log file, for failure messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}
