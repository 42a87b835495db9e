package integration

// High availability end to end: several real `rotatord run` processes
// with leader_election against a real kube-apiserver and etcd
// (internal/kubetest) and the real exosim. Each replica reaches the API
// server through a recording proxy of its own (kubeProxy), so the tests
// see which replica wrote the Lease, the journal (ConfigMaps) and the
// sink (Secrets), and when; exosim's request log (GET /_sim/requests)
// shows which replica made each Exoscale call, by the "replica/IDENTITY"
// of its User-Agent.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rotatord/rotatord/internal/kubetest"
)

// Lease settings of the HA tests: a standby takes over haLeaseDuration
// after the last renewal it saw. The leader acts only while its last
// renewal is younger than renew_deadline minus its margin (a quarter of
// renew_deadline, at most leader.MaxMargin), so renew_deadline leaves room
// for renewals slowed by -race.
const (
	haLeaseDuration = 5 * time.Second
	haRenewDeadline = 4 * time.Second
	haRetryPeriod   = 500 * time.Millisecond
	haLeaseName     = "rotatord"
	haUser          = "rotatord" // every replica's user, as pods sharing a ServiceAccount
)

// Log messages of internal/leader.
const (
	logLeading     = "leading: this replica holds the Lease and acts"
	logNotLeading  = "no longer leading: this replica stops acting"
	logLeaderElect = "leader elected"
)

// haNames are the keys the HA policies rotate.
var haNames = []string{"ci-runner", "ci-deploy"}

// haEnv is one HA scenario: an env (exosim, directories), a namespace of
// a cluster for the Lease, the journal and the Secret sinks, and the
// replicas.
type haEnv struct {
	*env
	cluster  *kubetest.Cluster
	ns       string
	admin    kubernetes.Interface
	replicas []*replica
	// holdSecretWrites is set on each new replica's proxy before the
	// replica starts (see kubeProxy.holdSecrets).
	holdSecretWrites time.Duration
	// lease is the leader_election block's settings, haLease* by default.
	lease string
}

// replica is one `rotatord run` with its own proxy to the API server.
type replica struct {
	*daemonProc
	name   string // r1, r2, ...: the test's name for it
	proxy  *kubeProxy
	config string
}

// startCluster starts a cluster for the tests of one function.
func startCluster(t *testing.T) *kubetest.Cluster {
	t.Helper()
	if testing.Short() || rotatordBin == "" {
		t.Skip("integration test: runs the real binaries; skipped with -short")
	}
	return kubetest.Start(t)
}

// newHAEnv makes an env with the default keys and a namespace ns of c in
// which haUser may use Leases, ConfigMaps and Secrets.
func newHAEnv(t *testing.T, c *kubetest.Cluster, ns string) *haEnv {
	t.Helper()
	e := newEnv(t)
	c.CreateNamespace(t, ns)
	c.Grant(t, haUser, ns, haRules)
	return &haEnv{env: e, cluster: c, ns: ns, admin: c.Client(t, kubetest.Admin),
		lease: fmt.Sprintf("lease_duration: %s, renew_deadline: %s, retry_period: %s", haLeaseDuration, haRenewDeadline, haRetryPeriod)}
}

// haRules is what a replica may do in its namespace: hold the Lease,
// keep the journal, write the Secrets.
var haRules = []rbacv1.PolicyRule{
	{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
	{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list", "get", "create", "update", "delete"}},
	{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create", "update"}},
}

// haPolicy rotates both CI keys into Secrets named after them: at start
// (adopt rotate), then whenever they are older than maxAge, checking every
// second.
func haPolicy(maxAge, grace string) string {
	return fmt.Sprintf(`  - name: ci
    match: {name: "ci-*"}
    schedule: "@every 1s"
    max_age: %s
    grace_period: %s
    adopt: rotate
    sinks:
      - {type: kubernetes, namespace: $NS, name: "{{.Name}}", kubeconfig: $KUBECONFIG}
`, maxAge, grace)
}

// configFor writes the policy file of one process reaching the API server
// through proxy, and returns its path.
func (h *haEnv) configFor(name string, proxy *kubeProxy, policies string) string {
	h.t.Helper()
	kubeconfig := filepath.Join(h.dir, name+".kubeconfig")
	if err := kubetest.WriteKubeconfigFile(kubeconfig, proxy.URL, proxy.CAData, haUser, h.cluster.RestConfig(haUser).BearerToken); err != nil {
		h.t.Fatal(err)
	}
	return h.replicaConfig(name, kubeconfig, policies)
}

// replicaConfig writes the policy file of replica name, whose journal,
// Lease and Secrets are reached through kubeconfig, and returns its path.
func (h *haEnv) replicaConfig(name, kubeconfig, policies string) string {
	h.t.Helper()
	policies = strings.NewReplacer("$NS", h.ns, "$KUBECONFIG", kubeconfig).Replace(policies)
	cfg := h.policyFile(policies)
	// Timeout 5s: an intent left by a create in flight settles 10s later.
	cfg = strings.Replace(cfg, "  timeout: 10s\n", "  timeout: 5s\n", 1)
	cfg = strings.Replace(cfg, "listen: 127.0.0.1:0\n", fmt.Sprintf(`listen: 127.0.0.1:0
state: {backend: kubernetes, namespace: %s, kubeconfig: %s}
leader_election: {lease_name: %s, %s}
`, h.ns, kubeconfig, haLeaseName, h.lease), 1)
	path := filepath.Join(h.dir, name+".yml")
	writeFileAtomic(h.t, path, cfg)
	return path
}

// startReplicas starts n more replicas with policies, one at a time.
func (h *haEnv) startReplicas(n int, policies string) {
	h.t.Helper()
	for range n {
		name := fmt.Sprintf("r%d", len(h.replicas)+1)
		p := startKubeProxy(h.t, h.cluster, name)
		p.holdSecrets(h.holdSecretWrites)
		cfg := h.configFor(name, p, policies)
		d := h.startDaemonWith(cfg)
		h.replicas = append(h.replicas, &replica{daemonProc: d, name: name, proxy: p, config: cfg})
	}
}

// startDaemonWith is startDaemon with another policy file than e.config.
func (e *env) startDaemonWith(config string, args ...string) *daemonProc {
	e.t.Helper()
	full := append([]string{"run", "--config", config}, args...)
	stdoutPath, stderrPath := e.logPaths("run")
	stdout, stderr := createFile(e.t, stdoutPath), createFile(e.t, stderrPath)
	defer stdout.Close()
	defer stderr.Close()
	c := exec.Command(rotatordBin, full...)
	c.Stdout, c.Stderr = stdout, stderr
	if err := c.Start(); err != nil {
		e.t.Fatalf("start rotatord run: %v", err)
	}
	d := &daemonProc{t: e.t, e: e, cmd: c, stderrPath: stderrPath, done: make(chan struct{})}
	go func() {
		err := c.Wait()
		var exit *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit):
			d.exitCode = exit.ExitCode()
		default:
			d.exitCode = -2
		}
		close(d.done)
	}()
	e.t.Cleanup(func() {
		if d.running() {
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		checkNoRace(e.t, d.stderr())
	})
	l := d.waitLog(30*time.Second, "rotatord started")
	d.addr = l.str("listen")
	if d.addr == "" {
		e.t.Fatalf("rotatord started without a listen address: %v", l)
	}
	return d
}

// identity is the replica's name in the Lease, from its log; "" before
// it first led.
func (r *replica) identity() string {
	l, _ := findLog(r.logs(), logLeading)
	return l.str("identity")
}

// leaderGauge reads rotatord_leader.
func (r *replica) leaderGauge() float64 {
	r.t.Helper()
	v, ok := metricValue(r.metrics(), "rotatord_leader")
	if !ok {
		r.t.Fatalf("%s: no rotatord_leader on /metrics", r.name)
	}
	return v
}

// running returns the replicas still running (a stopped one counts).
func (h *haEnv) running() []*replica {
	var out []*replica
	for _, r := range h.replicas {
		if r.running() {
			out = append(out, r)
		}
	}
	return out
}

// oneLeader checks that, among the replicas in rs, rotatord_leader sums to
// 1 and returns the one reporting 1.
func oneLeader(rs []*replica) (*replica, string) {
	var leaders []string
	var leader *replica
	for _, r := range rs {
		if r.leaderGauge() == 1 {
			leaders = append(leaders, r.name)
			leader = r
		}
	}
	if len(leaders) != 1 {
		return nil, fmt.Sprintf("replicas with rotatord_leader 1: %v", leaders)
	}
	return leader, ""
}

// waitLeader waits until exactly one of rs reports rotatord_leader 1 and
// has logged its identity, and returns it.
func (h *haEnv) waitLeader(rs []*replica, within time.Duration) *replica {
	h.t.Helper()
	var leader *replica
	eventually(h.t, within, func() (bool, string) {
		l, why := oneLeader(rs)
		if l == nil {
			return false, why
		}
		if l.identity() == "" {
			return false, l.name + " reports rotatord_leader 1 but logged no identity"
		}
		leader = l
		return true, ""
	})
	return leader
}

// others is rs without r.
func others(rs []*replica, r *replica) []*replica {
	var out []*replica
	for _, o := range rs {
		if o != r {
			out = append(out, o)
		}
	}
	return out
}

// waitCreateInFlight waits until exosim holds a create-api-key of the
// replica with the Lease identity id, not answered yet.
func (h *haEnv) waitCreateInFlight(id string, within time.Duration) {
	h.t.Helper()
	eventually(h.t, within, func() (bool, string) {
		for _, r := range h.sim.requests("?op=create-api-key") {
			if r.Answered.IsZero() && r.replica() == id {
				return true, ""
			}
		}
		return false, "no create in flight by the leader"
	})
}

// stopLeaderMidCreate waits for the leader of two replicas, stops it
// (SIGSTOP) while a create of it is in flight at exosim, and waits for
// the other to take the Lease.
func (h *haEnv) stopLeaderMidCreate() (stale, standby *replica, stoppedAt time.Time) {
	h.t.Helper()
	stale = h.waitLeader(h.replicas, 30*time.Second)
	standby = others(h.replicas, stale)[0]
	h.waitCreateInFlight(stale.identity(), 20*time.Second)
	stoppedAt = time.Now()
	stale.signal(syscall.SIGSTOP)
	h.t.Logf("SIGSTOP %s (%s) at %s", stale.name, stale.identity(), stoppedAt.Format("15:04:05.000"))
	standby.waitLog(30*time.Second, logLeading)
	return stale, standby, stoppedAt
}

// waitFirstCall waits for the first Exoscale call since since by the
// replica with the Lease identity id, and returns when exosim received it.
func (h *haEnv) waitFirstCall(id string, since time.Time, within time.Duration) time.Time {
	h.t.Helper()
	var first time.Time
	eventually(h.t, within, func() (bool, string) {
		r, ok := firstRequestBy(h.sim.requests(""), id, since)
		first = r.Received
		return ok, "the new leader made no Exoscale call yet"
	})
	return first
}

// waitEveryLiveKeyHeld waits until every live key of the names is the one
// its Secret holds: what a deposed leader left is finished or rolled back.
func (h *haEnv) waitEveryLiveKeyHeld(within time.Duration) {
	h.t.Helper()
	eventually(h.t, within, func() (bool, string) {
		for _, n := range haNames {
			held, _, _ := h.secretHolds(n)
			for _, k := range h.sim.live(n) {
				if k.Key != held {
					return false, fmt.Sprintf("%s: live key %s not held by the Secret (%s)", n, k.Key, held)
				}
			}
		}
		return true, ""
	})
}

// leaseHolder is the Lease's holder, as the API server has it.
func (h *haEnv) leaseHolder() string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := h.admin.CoordinationV1().Leases(h.ns).Get(ctx, haLeaseName, metav1.GetOptions{})
	if err != nil {
		h.t.Fatalf("get Lease: %v", err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// secretHolds returns the key id and secret the Secret of name holds.
func (h *haEnv) secretHolds(name string) (key, secret string, ok bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := h.admin.CoreV1().Secrets(h.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", "", false
	}
	return string(s.Data["api_key"]), string(s.Data["api_secret"]), true
}

// journal reads every record of the journal in the namespace, by name.
func (h *haEnv) journal() map[string]record {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := h.admin.CoreV1().ConfigMaps(h.ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=rotatord"})
	if err != nil {
		h.t.Fatalf("list the journal: %v", err)
	}
	out := map[string]record{}
	for _, cm := range list.Items {
		var r record
		if err := json.Unmarshal([]byte(cm.Data["record.json"]), &r); err != nil {
			h.t.Fatalf("journal %s: %v", cm.Name, err)
		}
		out[r.Name] = r
	}
	return out
}

// settledWhy is "" once every name has exactly one live key, other than
// its key in old (when given), that its Secret holds with the right
// secret, with no rotation in flight in the journal; else why not.
func (h *haEnv) settledWhy(old map[string]string) string {
	_, why := h.settledKeys(old)
	return why
}

// settledKeys is settledWhy, also returning each name's live key when
// settled.
func (h *haEnv) settledKeys(old map[string]string) (map[string]simKey, string) {
	h.t.Helper()
	recs := h.journal()
	keys := map[string]simKey{}
	for _, n := range haNames {
		live := h.sim.live(n)
		if len(live) != 1 || (old != nil && live[0].Key == old[n]) {
			return nil, fmt.Sprintf("%s: live keys %v (old %s)", n, ids(live), old[n])
		}
		key, secret, ok := h.secretHolds(n)
		if !ok || key != live[0].Key || secret != live[0].Secret {
			return nil, fmt.Sprintf("%s: Secret holds %q (present %v, secret right %v), live key %s", n, key, ok, secret == live[0].Secret, live[0].Key)
		}
		if r := recs[n]; r.Rotation != nil || r.CurrentKeyID != live[0].Key {
			return nil, fmt.Sprintf("%s: journal current %s rotation %+v", n, r.CurrentKeyID, r.Rotation)
		}
		keys[n] = live[0]
	}
	return keys, ""
}

// waitSettled waits until settledWhy(old) is "", and checks that the
// live keys it saw authenticate. Those keys, not the live ones read
// again: with a short max_age the leader may start the next rotation (a
// second live key) at once, and even delete the key seen settled.
func (h *haEnv) waitSettled(old map[string]string, within time.Duration) {
	h.t.Helper()
	var settled map[string]simKey
	eventually(h.t, within, func() (bool, string) {
		keys, why := h.settledKeys(old)
		settled = keys
		return why == "", why
	})
	for _, n := range haNames {
		k := settled[n]
		if !h.sim.authenticates(k.Key, k.Secret) {
			if now, _ := h.sim.key(k.Key); !now.Alive {
				h.t.Logf("%s: the key %s seen settled was rotated away before its check", n, k.Key)
				continue
			}
			h.t.Errorf("%s: the live key %s does not authenticate", n, k.Key)
		}
	}
	h.sim.checkMaxLive(2, haNames...)
}

// checkNoUnheldKey requires every live key of the names to be held by its
// Secret, or be the seeded key (old) while no rotation finished.
func (h *haEnv) checkNoUnheldKey(old map[string]string) {
	h.t.Helper()
	for _, n := range haNames {
		held, _, _ := h.secretHolds(n)
		for _, k := range h.sim.live(n) {
			if k.Key != held && k.Key != old[n] {
				h.t.Errorf("%s: live key %s is held by no sink (the Secret holds %q)", n, k.Key, held)
			}
		}
	}
}

func (h *haEnv) oldKeys() map[string]string {
	old := map[string]string{}
	for _, n := range haNames {
		old[n] = h.sim.only(n).Key
	}
	return old
}

// ---- exosim's request log ----

// simRequest is an entry of GET /_sim/requests.
type simRequest struct {
	Seq       int       `json:"seq"`
	Op        string    `json:"op"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	UserAgent string    `json:"user_agent"`
	Received  time.Time `json:"received"`
	Answered  time.Time `json:"answered"`
	Status    int       `json:"status"`
}

func (r simRequest) write() bool { return r.Op == "create-api-key" || r.Op == "delete-api-key" }

var replicaUA = regexp.MustCompile(`\breplica/(\S+)`)

// replica is the identity in the request's User-Agent, "" without one.
func (r simRequest) replica() string {
	m := replicaUA.FindStringSubmatch(r.UserAgent)
	if m == nil {
		return ""
	}
	return m[1]
}

func (r simRequest) String() string {
	return fmt.Sprintf("#%d %s %s %s by %q received %s status %d", r.Seq, r.Op, r.Method, r.Path, r.replica(),
		r.Received.Format("15:04:05.000"), r.Status)
}

// requests returns the simulator's request log (query: "?writes=1", ...).
func (s *sim) requests(query string) []simRequest {
	s.t.Helper()
	var out struct {
		Requests []simRequest `json:"requests"`
		Dropped  int          `json:"dropped"`
	}
	s.do(http.MethodGet, "/_sim/requests"+query, nil, &out)
	if out.Dropped != 0 {
		s.t.Fatalf("exosim dropped %d requests from its log", out.Dropped)
	}
	return out.Requests
}

// firstRequestBy returns the first call by identity received at or after
// since.
func firstRequestBy(reqs []simRequest, identity string, since time.Time) (simRequest, bool) {
	for _, r := range reqs {
		if r.replica() == identity && !r.Received.Before(since) {
			return r, true
		}
	}
	return simRequest{}, false
}

// ---- the recording proxy to the API server ----

// kubeProxy forwards one process's requests to the API server (plain HTTP
// in, TLS out) and records each: method, path, resource, and when it
// arrived, was applied upstream and answered. It can hold the answers of
// Secret writes after the API server applied them (a slow sink).
type kubeProxy struct {
	t    *testing.T
	name string
	URL  string

	CAData []byte // PEM of the proxy's certificate

	srv *httptest.Server
	tr  *http.Transport

	mu                sync.Mutex
	reqs              []*kubeRequest
	holdSecretWrites  time.Duration
	secretWritesHeld  int // answers being held now
	secretWritesTotal int
}

// kubeRequest is one request through a kubeProxy.
type kubeRequest struct {
	Method, Path string
	Resource     string    // leases, configmaps, secrets, ... ("" when not namespaced)
	Start        time.Time // arrival
	Applied      time.Time // the API server's answer came (zero if none)
	End          time.Time // answered to the client (zero while pending)
	Upstream     int       // the API server's status
	Status       int       // the status the client got
}

// write reports whether the request changes a Lease, a ConfigMap or a
// Secret.
func (r kubeRequest) write() bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return r.Resource == "leases" || r.Resource == "configmaps" || r.Resource == "secrets"
	}
	return false
}

func (r kubeRequest) String() string {
	return fmt.Sprintf("%s %s at %s -> %d", r.Method, r.Path, r.Start.Format("15:04:05.000"), r.Upstream)
}

type proxyEntryKey struct{}

// apiServerTransport returns the API server's URL and a transport that
// trusts its CA, for a proxy in front of it.
func apiServerTransport(t *testing.T, c *kubetest.Cluster) (*url.URL, *http.Transport) {
	t.Helper()
	target, err := url.Parse(c.URL)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CAData) {
		t.Fatal("kubetest CA: no certificate")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.RootCAs = pool
	return target, tr
}

func startKubeProxy(t *testing.T, c *kubetest.Cluster, name string) *kubeProxy {
	t.Helper()
	target, tr := apiServerTransport(t, c)
	p := &kubeProxy{t: t, name: name, tr: tr}
	p.tr.ForceAttemptHTTP2 = false
	p.tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
		},
		Transport:      p.tr,
		ModifyResponse: p.modifyResponse,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	// TLS: client-go sends a kubeconfig's credentials only over TLS.
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := &kubeRequest{Method: r.Method, Path: r.URL.Path, Resource: resourceOf(r.URL.Path), Start: time.Now()}
		p.mu.Lock()
		p.reqs = append(p.reqs, e)
		p.mu.Unlock()
		sw := &statusWriter{ResponseWriter: w}
		rp.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), proxyEntryKey{}, e)))
		p.mu.Lock()
		e.End, e.Status = time.Now(), sw.status
		p.mu.Unlock()
	}))
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.StartTLS()
	p.URL = p.srv.URL
	p.CAData = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	// Cleanups run last-in first-out: the processes using the proxy are
	// gone by then, and Close waits for the requests in flight.
	t.Cleanup(func() {
		p.srv.Close()
		p.tr.CloseIdleConnections()
	})
	return p
}

func (p *kubeProxy) modifyResponse(resp *http.Response) error {
	ctx := resp.Request.Context()
	e, _ := ctx.Value(proxyEntryKey{}).(*kubeRequest)
	if e == nil {
		return nil
	}
	p.mu.Lock()
	e.Applied, e.Upstream = time.Now(), resp.StatusCode
	hold := time.Duration(0)
	// A dry run (the Secret sink's probe of a create) changes nothing:
	// not a write to hold or count.
	dryRun := resp.Request.URL.Query().Get("dryRun") != ""
	if e.Resource == "secrets" && (e.Method == http.MethodPost || e.Method == http.MethodPut) && !dryRun {
		hold = p.holdSecretWrites
		p.secretWritesTotal++
		if hold > 0 {
			p.secretWritesHeld++
		}
	}
	p.mu.Unlock()
	if hold <= 0 {
		return nil
	}
	defer func() {
		p.mu.Lock()
		p.secretWritesHeld--
		p.mu.Unlock()
	}()
	select {
	case <-time.After(hold):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// holdSecrets makes the proxy hold the answer of each later Secret write
// for d, after the API server applied it (0 stops).
func (p *kubeProxy) holdSecrets(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holdSecretWrites = d
}

// held is how many Secret writes' answers are held now.
func (p *kubeProxy) held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.secretWritesHeld
}

// requests returns a copy of every request so far.
func (p *kubeProxy) requests() []kubeRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]kubeRequest, len(p.reqs))
	for i, r := range p.reqs {
		out[i] = *r
	}
	return out
}

// writes returns the writes (see kubeRequest.write) that arrived at or
// after since.
func (p *kubeProxy) writes(since time.Time) []kubeRequest {
	var out []kubeRequest
	for _, r := range p.requests() {
		if r.write() && !r.Start.Before(since) {
			out = append(out, r)
		}
	}
	return out
}

// resourceOf is the resource of a namespaced API path
// (/api/v1/namespaces/NS/RESOURCE[/NAME], /apis/G/V/namespaces/NS/...).
func resourceOf(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i := 0; i+2 < len(segs); i++ {
		if segs[i] == "namespaces" {
			return segs[i+2]
		}
	}
	return ""
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ---- the tests ----

// TestHAOneLeader: with two and with three replicas, exactly one leads
// (rotatord_leader sums to 1, one "leading" log, the Lease names it), and
// it alone acts: every Exoscale call carries its identity, and only its
// proxy saw Lease, journal and Secret writes. Standbys answer /healthz and
// /readyz 200 and serve /metrics.
func TestHAOneLeader(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d-replicas", n), func(t *testing.T) {
			t.Parallel()
			h := newHAEnv(t, c, fmt.Sprintf("one-leader-%d", n))
			// Rotating every few seconds: the leader writes all along.
			h.startReplicas(n, haPolicy("4s", "1s"))
			leader := h.waitLeader(h.replicas, 30*time.Second)
			id := leader.identity()
			t.Logf("%d replicas: %s leads as %s", n, leader.name, id)

			// Let the leader rotate a few times, checking all along that
			// it alone leads.
			deadline := time.Now().Add(12 * time.Second)
			for time.Now().Before(deadline) {
				l, why := oneLeader(h.replicas)
				if l != leader {
					t.Fatalf("leadership moved or split: %s (leader was %s)", why, leader.name)
				}
				time.Sleep(300 * time.Millisecond)
			}
			if holder := h.leaseHolder(); holder != id {
				t.Errorf("the Lease holder is %q, the leader logged identity %q", holder, id)
			}
			for _, r := range h.replicas {
				want := 0
				if r == leader {
					want = 1
				}
				if got := countLogs(r.logs(), logLeading); got != want {
					t.Errorf("%s logged %q %d times, want %d", r.name, logLeading, got, want)
				}
				if r == leader {
					continue
				}
				for _, path := range []string{"/healthz", "/readyz"} {
					if code, body := r.http(http.MethodGet, path); code != http.StatusOK {
						t.Errorf("standby %s: GET %s: %d %s", r.name, path, code, body)
					}
				}
				m := r.metrics()
				if v, ok := metricValue(m, "rotatord_leader"); !ok || v != 0 {
					t.Errorf("standby %s: rotatord_leader %v (present %v), want 0", r.name, v, ok)
				}
				if v, ok := metricValue(m, "rotatord_leader_changes_total"); !ok || v < 1 {
					t.Errorf("standby %s: rotatord_leader_changes_total %v (present %v), want at least 1 (it saw the leader elected)", r.name, v, ok)
				}
				if _, ok := findLog(r.logs(), logLeaderElect, "leader", id); !ok {
					t.Errorf("standby %s did not log the leader %s elected", r.name, id)
				}
			}

			// Exoscale: rotations happened, all by the leader.
			reqs := h.sim.requests("")
			writes := 0
			for _, r := range reqs {
				if r.replica() != id {
					t.Errorf("Exoscale call not by the leader %s: %v (User-Agent %q)", id, r, r.UserAgent)
				}
				if r.write() {
					writes++
				}
			}
			if writes < 2*len(haNames) {
				t.Errorf("only %d Exoscale writes in 12s of rotating every 4s", writes)
			}
			// The API server: only the leader's proxy saw writes.
			for _, r := range h.replicas {
				w := r.proxy.writes(time.Time{})
				if r == leader {
					var journal, secrets int
					for _, x := range w {
						journal += b2i(x.Resource == "configmaps")
						secrets += b2i(x.Resource == "secrets")
					}
					if journal == 0 || secrets == 0 {
						t.Errorf("leader %s: %d journal and %d Secret writes, want some of each", r.name, journal, secrets)
					}
					continue
				}
				if len(w) != 0 {
					t.Errorf("standby %s wrote to the API server: %v", r.name, w)
				}
			}
			for _, n := range haNames {
				checkLive(h, n)
			}
			h.sim.checkMaxLive(2, haNames...)
		})
	}
}

// logsSince keeps the lines logged at or after since.
func logsSince(lines []logLine, since time.Time) []logLine {
	var out []logLine
	for _, l := range lines {
		ts, err := time.Parse("2006-01-02T15:04:05.000Z0700", l.str("ts"))
		if err != nil || !ts.Before(since) {
			out = append(out, l)
		}
	}
	return out
}

// recoveryLogs keeps the lines that tell how a rotation in flight ended.
func recoveryLogs(lines []logLine) []logLine {
	var out []logLine
	for _, l := range lines {
		m := l.msg()
		for _, w := range []string{"recover", "rolled back", "finishing", "resuming", "without a delivered secret", "rotation delivered", "old key deleted", "leading"} {
			if strings.Contains(m, w) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkLive: while rotations go on, a name has one or two live keys.
func checkLive(h *haEnv, name string) {
	h.t.Helper()
	if live := h.sim.live(name); len(live) == 0 || len(live) > 2 {
		h.t.Errorf("%s: %d live keys %v, want 1 or 2", name, len(live), ids(live))
	}
}

// TestHAKillLeaderMidRotation: SIGKILL the leader in the middle of a
// rotation; a standby takes the Lease once it expires and finishes or
// rolls back what the dead leader left: in the end one live key per name,
// the one its Secret holds, no key that no sink holds, never more than
// two live at once. Prints the failover time: kill to the new leader's
// first Exoscale call.
func TestHAKillLeaderMidRotation(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	tests := []struct {
		name     string
		replicas int
		// arm sets up the slow step before the replicas start.
		arm func(h *haEnv)
		// killWhen waits until a rotation is mid-way and returns the
		// replica to kill.
		killWhen func(h *haEnv) *replica
		// disarm undoes arm for the survivors.
		disarm func(h *haEnv)
	}{
		{
			// The Secret holds the new key (the API server applied the
			// write), but its answer is held: the leader dies delivering.
			name:     "delivery-in-flight",
			replicas: 3,
			arm:      func(h *haEnv) { h.holdSecretWrites = time.Minute },
			killWhen: func(h *haEnv) *replica {
				var victim *replica
				eventually(h.t, 40*time.Second, func() (bool, string) {
					for _, r := range h.replicas {
						if r.proxy.held() > 0 {
							victim = r
							return true, ""
						}
					}
					return false, "no Secret write in flight"
				})
				time.Sleep(300 * time.Millisecond) // the other name's, too
				return victim
			},
			disarm: func(h *haEnv) {
				for _, r := range h.replicas {
					r.proxy.holdSecrets(0)
				}
			},
		},
		{
			// The create is in flight (3s latency at exosim) when the
			// leader dies: exosim applies it or not; the new leader must
			// find and delete a key whose secret nobody has.
			name:     "create-in-flight",
			replicas: 2,
			arm: func(h *haEnv) {
				h.sim.setFaults(`{"create-api-key": {"latency": "3s"}}`)
			},
			killWhen: func(h *haEnv) *replica {
				var victim *replica
				eventually(h.t, 40*time.Second, func() (bool, string) {
					for _, r := range h.sim.requests("?op=create-api-key") {
						if r.Answered.IsZero() {
							for _, x := range h.replicas {
								if x.identity() == r.replica() {
									victim = x
									return true, ""
								}
							}
						}
					}
					return false, "no create in flight"
				})
				time.Sleep(300 * time.Millisecond)
				return victim
			},
			disarm: func(h *haEnv) { h.sim.clearFaults() },
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHAEnv(t, c, fmt.Sprintf("kill-%d", i))
			old := h.oldKeys()
			tt.arm(h)
			h.startReplicas(tt.replicas, haPolicy("1h", "2s"))
			victim := tt.killWhen(h)
			victimID := victim.identity()
			if victimID == "" {
				t.Fatalf("the replica to kill, %s, never led", victim.name)
			}
			killedAt := time.Now()
			victim.kill()
			tt.disarm(h)
			t.Logf("killed the leader %s (%s) at %s", victim.name, victimID, killedAt.Format("15:04:05.000"))

			survivors := h.running()
			next := h.waitLeader(survivors, 30*time.Second)
			nextID := next.identity()
			h.waitSettled(old, 90*time.Second)

			// Failover: kill -> the new leader's first Exoscale call.
			first, ok := firstRequestBy(h.sim.requests(""), nextID, killedAt)
			if !ok {
				t.Fatalf("the new leader %s made no Exoscale call", nextID)
			}
			var acquired time.Time
			for _, w := range next.proxy.writes(killedAt) {
				if w.Resource == "leases" && w.Upstream == http.StatusOK {
					acquired = w.Start
					break
				}
			}
			failover := first.Received.Sub(killedAt)
			t.Logf("FAILOVER %s: leader killed -> Lease taken by %s after %v -> first Exoscale call (%s) after %v (lease_duration %v)",
				tt.name, next.name, acquired.Sub(killedAt).Round(time.Millisecond), first.Op, failover.Round(time.Millisecond), haLeaseDuration)
			if failover > haLeaseDuration+10*time.Second {
				t.Errorf("failover took %v, want about lease_duration %v", failover, haLeaseDuration)
			}
			// The dead leader's Lease must have expired first: nobody acts
			// before lease_duration has passed since its last renewal.
			if failover < haLeaseDuration-2*haRetryPeriod {
				t.Errorf("the new leader acted %v after the kill, before the Lease could expire", failover)
			}
			for _, r := range survivors {
				if r != next && r.identity() != "" {
					t.Errorf("standby %s also led", r.name)
				}
			}
			// The recovery is the new leader's, from the journal.
			if _, ok := findLog(next.logs(), "recovering interrupted rotation"); !ok {
				t.Errorf("the new leader logged no recovery:\n%s", summary(next.logs()))
			}
			t.Logf("the new leader's recovery:\n%s", summary(recoveryLogs(next.logs())))
			// After the kill, every Exoscale call is the new leader's.
			for _, r := range h.sim.requests("") {
				if !r.Received.Before(killedAt) && r.replica() != nextID {
					t.Errorf("Exoscale call after the kill not by the new leader %s: %v", nextID, r)
				}
			}
			h.checkNoUnheldKey(old)
		})
	}
}

// TestHASigstopLeader: SIGSTOP the leader past lease_duration; a standby
// takes the Lease and acts; SIGCONT the old leader: from the standby's
// first action on, it makes no Exoscale call and no Lease, journal or
// Secret write, and it logs that it stopped leading.
func TestHASigstopLeader(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	h := newHAEnv(t, c, "sigstop")
	// Rotating all along, and a create held 1.5s by exosim: the leader is
	// likely mid-rotation when it is stopped.
	h.sim.setFaults(`{"create-api-key": {"latency": "1500ms"}}`)
	h.startReplicas(2, haPolicy("3s", "1s"))
	// Stopped while a create of it is in flight.
	stale, standby, stoppedAt := h.stopLeaderMidCreate()
	staleID, standbyID := stale.identity(), standby.identity()
	// The standby's first action: its first Exoscale call, or its first
	// journal or Secret write, whichever came first.
	firstAction := h.waitFirstCall(standbyID, stoppedAt, 30*time.Second)
	for _, w := range standby.proxy.writes(stoppedAt) {
		if w.Resource != "leases" && w.Start.Before(firstAction) {
			firstAction = w.Start
		}
	}
	var acquired time.Time
	for _, w := range standby.proxy.writes(stoppedAt) {
		if w.Resource == "leases" && w.Upstream == http.StatusOK {
			acquired = w.Start
			break
		}
	}
	t.Logf("FAILOVER sigstop: Lease taken after %v, first action after %v",
		acquired.Sub(stoppedAt).Round(time.Millisecond), firstAction.Sub(stoppedAt).Round(time.Millisecond))
	// Let the new leader work a while, then wake the old one up.
	time.Sleep(3 * time.Second)
	contAt := time.Now()
	stale.signal(syscall.SIGCONT)
	// From its first look at the Lease (within retry_period), the old
	// leader knows another replica holds it: rotatord_leader must not
	// say two replicas lead for longer than that, plus a scrape.
	var twoLeaders time.Duration
	for time.Since(contAt) < 3*time.Second {
		at := time.Since(contAt)
		if stale.leaderGauge()+standby.leaderGauge() > 1 {
			twoLeaders = at
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopped := stale.waitLog(20*time.Second, logNotLeading)
	if twoLeaders > 2*haRetryPeriod {
		t.Errorf("after SIGCONT both replicas reported rotatord_leader 1 for at least %v (SIGCONT at %s, the old leader logged %q at %s): "+
			"a deposed leader keeps claiming the lead for up to renew_deadline (%v) after it saw another holder",
			twoLeaders.Round(time.Millisecond), contAt.Format("15:04:05.000"), logNotLeading, stopped.str("ts"), haRenewDeadline)
	}
	// Give it time to do whatever it would still do.
	time.Sleep(5 * time.Second)

	for _, r := range h.sim.requests("") {
		if r.replica() == staleID && !r.Received.Before(firstAction) {
			kind := "call"
			if r.write() {
				kind = "WRITE"
			}
			t.Errorf("the deposed leader made an Exoscale %s after the new leader's first action (%s): %v",
				kind, firstAction.Format("15:04:05.000"), r)
		}
	}
	for _, w := range stale.proxy.writes(acquired) {
		if w.Resource == "leases" && w.Upstream != http.StatusOK {
			t.Logf("the deposed leader tried a Lease write that failed (harmless): %v", w)
			continue
		}
		t.Errorf("the deposed leader wrote to the API server after the Lease was taken over: %v", w)
	}
	if v := stale.leaderGauge(); v != 0 {
		t.Errorf("the deposed leader reports rotatord_leader %v", v)
	}
	if l, _ := oneLeader(h.replicas); l != standby {
		t.Errorf("after SIGCONT the leader is not the standby that took over")
	}
	if holder := h.leaseHolder(); holder != standbyID {
		t.Errorf("the Lease holder is %q, want %q", holder, standbyID)
	}
	t.Logf("SIGCONT at +%v; the deposed leader then logged:\n%s", contAt.Sub(stoppedAt).Round(time.Millisecond), summary(logsSince(stale.logs(), contAt)))
	var after []string
	for _, r := range stale.proxy.requests() {
		if !r.Start.Before(contAt) {
			after = append(after, r.String())
		}
	}
	t.Logf("and sent the API server:\n%s", strings.Join(after, "\n"))
	h.sim.clearFaults()
	// Everything the stopped leader left is finished or rolled back.
	h.waitEveryLiveKeyHeld(60 * time.Second)
	h.sim.checkMaxLive(2, haNames...)
}

// TestHAAPIServerRestart: restart the API server while replicas run:
// afterwards exactly one leads again, and a due key gets rotated.
func TestHAAPIServerRestart(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	h := newHAEnv(t, c, "restart")
	h.startReplicas(2, haPolicy("1h", "1s"))
	first := h.waitLeader(h.replicas, 30*time.Second)
	h.waitSettled(nil, 40*time.Second)
	before := map[string]string{}
	for _, n := range haNames {
		before[n] = h.sim.only(n).Key
	}

	restartAt := time.Now()
	c.RestartAPIServer(t)
	readyAt := time.Now()
	leader := h.waitLeader(h.replicas, 30*time.Second)
	t.Logf("API server down for %v; leader before %s, after %s", readyAt.Sub(restartAt).Round(time.Millisecond), first.name, leader.name)
	// Stable: one leader for a few seconds.
	for range 10 {
		if l, why := oneLeader(h.replicas); l != leader {
			t.Fatalf("after the restart: %s (leader %s)", why, leader.name)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if holder := h.leaseHolder(); holder != leader.identity() {
		t.Errorf("Lease holder %q, leader %s logged %q", holder, leader.name, leader.identity())
	}
	// While the API server was away, the leader stopped acting once its
	// last renewal was older than renew_deadline minus its margin:
	// its passes (every second) made no Exoscale call after that until it
	// renewed again (or another replica took over).
	var renewals []time.Time
	for _, w := range first.proxy.writes(restartAt.Add(-time.Second)) {
		if w.Resource == "leases" && w.Upstream == http.StatusOK {
			renewals = append(renewals, w.Start)
		}
	}
	var gapFrom, gapTo time.Time
	for i, r := range renewals {
		next := readyAt
		if i+1 < len(renewals) {
			next = renewals[i+1]
		}
		if r.Before(readyAt) && next.Sub(r) > gapTo.Sub(gapFrom) {
			gapFrom, gapTo = r, next
		}
	}
	fenceAt := gapFrom.Add(haRenewDeadline - min(2*time.Second, haRenewDeadline/4) + 500*time.Millisecond)
	var during []string
	for _, r := range h.sim.requests("") {
		if r.replica() == first.identity() && r.Received.After(fenceAt) && r.Received.Before(gapTo) {
			during = append(during, r.String())
		}
	}
	t.Logf("the leader %s renewed nothing from %s to %s (%v); Exoscale calls after its fence in that time: %d",
		first.name, gapFrom.Format("15:04:05.000"), gapTo.Format("15:04:05.000"), gapTo.Sub(gapFrom).Round(time.Millisecond), len(during))
	if len(during) > 0 {
		var lease []string
		for _, r := range first.proxy.requests() {
			if r.Resource == "leases" && !r.Start.Before(restartAt.Add(-time.Second)) && r.Start.Before(readyAt.Add(time.Second)) {
				lease = append(lease, fmt.Sprintf("%s answered %s (%d)", r, r.End.Format("15:04:05.000"), r.Status))
			}
		}
		t.Errorf("Exoscale calls while the leader could not renew the Lease, after %s:\n%s\nits Lease requests:\n%s",
			fenceAt.Format("15:04:05.000"), strings.Join(during, "\n"), strings.Join(lease, "\n"))
	}

	// A due key: a new key of a managed name, adopted (adopt: rotate)
	// and rotated at once by the leader.
	// The key as exosim answers its creation: the leader may rotate it
	// before a listing made after.
	var extra simKey
	h.sim.do(http.MethodPost, "/_sim/keys", map[string]string{"name": "ci-extra", "role": "ci"}, &extra)
	if extra.Key == "" {
		t.Fatalf("exosim answered the creation of ci-extra without a key id")
	}
	eventually(t, 40*time.Second, func() (bool, string) {
		live := h.sim.live("ci-extra")
		if len(live) != 1 || live[0].Key == extra.Key {
			return false, fmt.Sprintf("ci-extra: live keys %v (old %s)", ids(live), extra.Key)
		}
		key, _, ok := h.secretHolds("ci-extra")
		return ok && key == live[0].Key, fmt.Sprintf("ci-extra: Secret holds %q, live %s", key, live[0].Key)
	})
	for _, r := range h.sim.requests("?writes=1") {
		if r.Received.After(readyAt) && r.replica() != leader.identity() {
			t.Errorf("write after the restart not by the leader: %v", r)
		}
	}
	if why := h.settledWhy(nil); why != "" {
		t.Errorf("after the restart: %s", why)
	}
	for _, n := range haNames {
		if got := h.sim.only(n).Key; got != before[n] {
			t.Errorf("%s rotated again after the restart (%s -> %s) with max_age 1h", n, before[n], got)
		}
	}
}

// TestHAOnceRefusesWhileDaemonLeads: `rotatord once` with the HA config
// while a daemon holds the Lease refuses, naming the leader, and changes
// nothing: no Exoscale write, no Lease, journal or Secret write.
func TestHAOnceRefusesWhileDaemonLeads(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	h := newHAEnv(t, c, "once")
	policy := haPolicy("1h", "1s")
	h.startReplicas(1, policy)
	leader := h.waitLeader(h.replicas, 30*time.Second)
	h.waitSettled(nil, 40*time.Second)
	id := leader.identity()

	p := startKubeProxy(t, c, "once")
	cfg := h.configFor("once", p, policy)
	secrets := map[string]string{}
	for _, n := range haNames {
		secrets[n], _, _ = h.secretHolds(n)
	}
	journal := h.journal()
	startedAt := time.Now()
	res := h.rotatordWith(cfg, "once", "--force")
	took := time.Since(startedAt)
	t.Logf("once: exit %d after %v\n%s", res.code, took.Round(time.Millisecond), res.stderr)
	if res.code == 0 {
		t.Errorf("once succeeded while %s leads:\n%s", id, res)
	}
	if !strings.Contains(res.stderr, id) {
		t.Errorf("once's refusal does not name the leader %s:\n%s", id, res.stderr)
	}
	if took > haLeaseDuration+2*haRetryPeriod+15*time.Second {
		t.Errorf("once took %v to refuse", took)
	}
	for _, r := range h.sim.requests("") {
		if !r.Received.Before(startedAt) && r.replica() != id {
			t.Errorf("Exoscale call by another than the leader while once ran: %v", r)
		}
	}
	if w := p.writes(time.Time{}); len(w) != 0 {
		t.Errorf("once wrote to the API server: %v", w)
	}
	for _, n := range haNames {
		if got, _, _ := h.secretHolds(n); got != secrets[n] {
			t.Errorf("%s: the Secret changed from %s to %s", n, secrets[n], got)
		}
	}
	after := h.journal()
	for n, r := range journal {
		if a := after[n]; a.CurrentKeyID != r.CurrentKeyID || (a.Rotation == nil) != (r.Rotation == nil) {
			t.Errorf("%s: journal changed: %+v -> %+v", n, r, a)
		}
	}
	if holder := h.leaseHolder(); holder != id {
		t.Errorf("the Lease holder is %q after once, want %q", holder, id)
	}
	if l, _ := oneLeader(h.replicas); l != leader {
		t.Errorf("the daemon no longer leads after once")
	}
}

// TestHARenewDeadlineTheLeaderCanActWith: a leader_election the config
// accepts must let the leader act. leader.Check keeps a margin (a quarter of renew_deadline, at most 2s)
// back from renew_deadline, so with renew_deadline 2s (lease_duration 3s,
// retry_period 500ms, which validate accepts) the replica takes the Lease
// and then refuses every request of its own: it leads, and never rotates.
// Either validate refuses such a renew_deadline, or the leader rotates.
func TestHARenewDeadlineTheLeaderCanActWith(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	h := newHAEnv(t, c, "short-renew")
	h.lease = "lease_duration: 3s, renew_deadline: 2s, retry_period: 500ms"
	old := h.oldKeys()
	p := startKubeProxy(t, c, "validate")
	if res := h.rotatordWith(h.configFor("validate", p, haPolicy("1h", "1s")), "validate"); res.code != 0 {
		t.Logf("validate refuses renew_deadline 2s, as it should:\n%s", res)
		return
	}
	h.startReplicas(1, haPolicy("1h", "1s"))
	r := h.replicas[0]
	r.waitLog(20*time.Second, logLeading)
	// Both names' rotations, with their Secret and journal writes and the
	// grace period, take a few seconds; far more on a loaded machine.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if h.settledWhy(old) == "" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	refused := 0
	for _, l := range r.logs() {
		if strings.Contains(l.str("error"), "does not hold the Lease") {
			refused++
		}
	}
	l, _ := findLog(r.logs(), "pass failed")
	t.Errorf("validate accepts lease_duration 3s, renew_deadline 2s, retry_period 500ms, but the leader never acts in 60s: "+
		"%d log lines with its own requests refused, e.g. %q; Exoscale calls: %d (%s)",
		refused, l.str("error"), len(h.sim.requests("")), h.settledWhy(old))
}

// TestHALogsAreJSON: rotatord logs JSON lines on stderr (zap), and with
// leader_election client-go's leaderelection package must not add its own
// klog text lines ("Attempting to acquire leader lease...") to them: a
// log pipeline parsing rotatord's stderr as JSON would choke on them, and
// `once` shows them to the user.
func TestHALogsAreJSON(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	h := newHAEnv(t, c, "logs")
	h.startReplicas(1, haPolicy("1h", "1s"))
	r := h.replicas[0]
	r.waitLog(20*time.Second, logLeading)
	h.waitSettled(nil, 30*time.Second)
	r.kill()
	var other []string
	for _, line := range strings.Split(strings.TrimSpace(r.stderr()), "\n") {
		if line != "" && !strings.HasPrefix(line, "{") {
			other = append(other, line)
		}
	}
	if len(other) > 0 {
		t.Errorf("rotatord run wrote %d lines that are not JSON log lines to stderr, e.g.:\n%s", len(other), strings.Join(other[:min(3, len(other))], "\n"))
	}
}

// TestHALeaderSIGTERMHandsOver: SIGTERM stops the leader cleanly (exit 0,
// no data race) after its work stopped, and it releases the Lease: a
// standby takes over at once, not a lease_duration later.
func TestHALeaderSIGTERMHandsOver(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	h := newHAEnv(t, c, "sigterm")
	h.startReplicas(2, haPolicy("1h", "1s"))
	leader := h.waitLeader(h.replicas, 30*time.Second)
	h.waitSettled(nil, 30*time.Second)
	standby := others(h.replicas, leader)[0]
	stoppedAt := time.Now()
	leader.signal(syscall.SIGTERM)
	code := leader.waitExit(30 * time.Second)
	exitedAt := time.Now()
	exited := exitedAt.Sub(stoppedAt)
	next := h.waitLeader([]*replica{standby}, 30*time.Second)
	// From the exit, not the signal: the leader renews its Lease until it
	// releases it, so its shutdown (longer on a loaded machine) delays
	// the handover with or without a release. After the exit, a Lease
	// left held keeps the standby out for up to lease_duration; a
	// released one lets it in at its next retry.
	handover := time.Since(exitedAt)
	t.Logf("SIGTERM: the leader exited %d after %v; %s leads %v after the exit", code, exited.Round(time.Millisecond), next.name, handover.Round(time.Millisecond))
	if code == 66 {
		t.Errorf("the leader exited 66 after SIGTERM, the race detector's exit code; want 0")
	} else if code != 0 {
		t.Errorf("the leader exited %d after SIGTERM, want 0", code)
	}
	if strings.Contains(leader.stderr(), "WARNING: DATA RACE") {
		i := strings.Index(leader.stderr(), "WARNING: DATA RACE")
		t.Errorf("the race detector found a data race when the leader stopped:\n%s", leader.stderr()[i:min(len(leader.stderr()), i+1500)])
	}
	if _, ok := findLog(leader.logs(), "released the Lease"); !ok {
		t.Errorf("the leader did not log releasing the Lease:\n%s", summary(leader.logs()))
	}
	if handover > haLeaseDuration {
		t.Errorf("the standby led %v after the leader exited, want well within lease_duration %v (the Lease is released)", handover, haLeaseDuration)
	}
	if why := h.settledWhy(nil); why != "" {
		t.Errorf("after the handover: %s", why)
	}
}
