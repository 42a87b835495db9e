package main

// The HA mode (-ha): the same campaign against two or three `rotatord run`
// replicas sharing a real kube-apiserver and etcd (internal/kubetest): the
// journal in ConfigMaps (state.backend kubernetes), a Lease for leader
// election with short settings, and, besides the file and Vault sinks, a
// Kubernetes Secret sink on the ci policy. Each cycle lets the replicas
// work a while under the usual actions (reloads sent to every replica,
// sink faults, keys made and deleted by someone else, simulator faults),
// then applies one disturbance: SIGKILL the leader, SIGTERM it in the
// middle of a rotation, SIGSTOP it past the lease duration and SIGCONT it,
// SIGKILL a standby, or restart the API server. Dead replicas are started
// again at the next cycle, some with their clock shifted.
//
// Who did what comes from two logs kept outside the replicas: exosim's
// request log (every Exoscale call, with the replica/IDENTITY suffix of
// its User-Agent and its arrival time) and the API server's audit log
// (every write of the Lease with its holder, and of the journal's
// ConfigMaps and the sink's Secrets, by user: each replica slot has a user
// of its own, and a slot runs one process at a time).
//
// Overlapping leaders. A term begins when a replica acquires the Lease:
// the arrival at the API server (requestReceivedTimestamp) of the first
// successful Lease write naming it holder with a new acquireTime. A write
// is an Exoscale create or delete (arrival at exosim), or a create,
// update, patch or delete of a ConfigMap or Secret in the namespace
// (arrival at the API server), whatever its answer. A write by replica R
// arriving at time t overlaps when R began no term at or before t (it never
// led), or when another replica began a term after R's latest term began
// and at or before t: R wrote after a later leader's term began. Every
// such write counts once in overlapping_leaders. Other Exoscale calls of a
// deposed leader (listings, GETs) are reported as notes.
//
// Stranded rotations: after each cycle, a rotation in flight in the journal
// that the leader's policies in force (followed from its log: the variant
// at its start, then each reload it accepted) no longer match; no replica
// finishes or rolls it back while that policy is in force.
//
// Failover time: from the campaign's signal to the leader (SIGKILL,
// SIGTERM or SIGSTOP) to the arrival at exosim of the first Exoscale call
// of another replica.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rotatord/rotatord/internal/kubetest"
	"github.com/rotatord/rotatord/sinks/vault/vaulttest"
)

const (
	haNamespace = "rotatord-chaos"
	haLeaseName = "rotatord"
	// onceUser is the Kubernetes user of `rotatord once` runs (settle).
	onceUser = "rotatord-once"
)

// slotUsers are the Kubernetes users of the replica slots: a slot runs one
// process at a time, so a user and a time name the process.
var slotUsers = []string{"rotatord", "rotatord-2", "rotatord-3"}

// secretSink is the Kubernetes Secret sink of the ci policy in HA mode.
var secretSink = sinkDef{id: "ci-secret", format: "kubernetes"}

// haEventKinds are the actions during a cycle: those of the single-process
// campaign but the state directory's backup (the journal is in the API
// server).
var haEventKinds = []string{"reload", "reload", "sink-fault", "sink-fault", "external-create", "external-delete"}

// Disturbances, drawn per cycle.
const (
	dKillLeader  = "kill-leader"
	dTermLeader  = "term-leader"
	dStopLeader  = "stop-leader"
	dKillStandby = "kill-standby"
	dRestartAPI  = "restart-apiserver"
)

// replicaProc is one rotatord process of the HA campaign.
type replicaProc struct {
	slot    int // len(slotUsers) for `once`
	seq     int
	user    string
	log     string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{} // closed once it exited and was reaped

	mu        sync.Mutex
	ended     time.Time
	exitErr   error
	stopped   bool     // SIGSTOPped now
	signalled bool     // the campaign killed or stopped it: an exit is expected
	history   []string // the campaign's signals, with times
	identity  string
	// startVariant is the policy variant of the file at its start; hups
	// are the reloads sent since (policyInForce).
	startVariant variant
	hups         []hupMark
}

// hupMark is a SIGHUP sent to a replica: its log's size then, and the
// variant the policy file had.
type hupMark struct {
	off int64
	v   variant
}

// policyInForce returns the policy variant the process has in force: the
// one of its start, changed by each reload its log says was accepted
// ("configuration reloaded"; "reload rejected" keeps the previous). ok is
// false while that is ambiguous: a reload not answered yet, or two SIGHUPs
// answered by one reload.
func (p *replicaProc) policyInForce() (v variant, n int, ok bool) {
	p.mu.Lock()
	v, hups := p.startVariant, slices.Clone(p.hups)
	p.mu.Unlock()
	var off int64
	i := 0
	for _, line := range strings.SplitAfter(readSince(p.log, 0), "\n") {
		accepted := strings.Contains(line, `"msg":"configuration reloaded"`)
		if accepted || strings.Contains(line, `"msg":"reload rejected`) {
			if i >= len(hups) || off < hups[i].off {
				return v, len(hups), false
			}
			if accepted {
				v = hups[i].v
			}
			i++
		}
		off += int64(len(line))
	}
	return v, len(hups), i == len(hups)
}

func (p *replicaProc) name() string {
	if p.slot >= len(slotUsers) {
		return fmt.Sprintf("once#%d", p.seq)
	}
	return fmt.Sprintf("r%d#%d", p.slot, p.seq)
}

func (p *replicaProc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *replicaProc) signal(sig syscall.Signal) {
	p.mu.Lock()
	p.history = append(p.history, fmt.Sprintf("%s at %s", sigName(sig), time.Now().Format("15:04:05.000")))
	switch sig {
	case syscall.SIGKILL, syscall.SIGTERM:
		p.signalled = true
	case syscall.SIGSTOP:
		p.stopped = true
	case syscall.SIGCONT:
		p.stopped = false
	}
	p.mu.Unlock()
	_ = p.cmd.Process.Signal(sig)
}

func sigName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGSTOP:
		return "SIGSTOP"
	case syscall.SIGCONT:
		return "SIGCONT"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}

// endedAt is when the process exited, or the zero time while it runs.
func (p *replicaProc) endedAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ended
}

var leadingRe = regexp.MustCompile(`"msg":"leading: this replica holds the Lease and acts".*?"identity":"([^"]+)"`)

// learnIdentity returns the process's Lease identity, read from its first
// "leading" log line; "" while it never led.
func (p *replicaProc) learnIdentity() string {
	p.mu.Lock()
	id := p.identity
	p.mu.Unlock()
	if id != "" {
		return id
	}
	if m := leadingRe.FindStringSubmatch(readSince(p.log, 0)); m != nil {
		p.mu.Lock()
		p.identity = m[1]
		p.mu.Unlock()
		return m[1]
	}
	return ""
}

// haState is what the HA mode adds to a campaign.
type haState struct {
	cluster  *kubetest.Cluster
	admin    kubernetes.Interface
	auditLog string
	listen   []string // per slot, then once

	pmu   sync.Mutex
	slots []*replicaProc
	procs []*replicaProc

	rmu        sync.Mutex
	reqs       []simRequest
	reqCursor  int
	reqMissing int // requests the log dropped before the campaign read them

	failovers []time.Duration
	byKind    map[string][]time.Duration // failovers per disturbance
	firstOK   []time.Duration            // to the new leader's first call answered 2xx
	// refusedStarts are replicas that refused to start: the policy file
	// no longer matched names with rotations in flight.
	refusedStarts int
}

// simRequest is an entry of exosim's request log (GET /_sim/requests).
type simRequest struct {
	Seq       int       `json:"seq"`
	Op        string    `json:"op"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	UserAgent string    `json:"user_agent"`
	Received  time.Time `json:"received"`
	Status    int       `json:"status"`
}

func (r simRequest) write() bool { return r.Op == "create-api-key" || r.Op == "delete-api-key" }

// uaIdentity is the replica identity in a User-Agent ("" without one).
func uaIdentity(ua string) string {
	_, rest, ok := strings.Cut(ua, "replica/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, " ")
	return id
}

// setupHA starts the API server and etcd, the namespace, users and
// kubeconfigs of every slot. It runs before the common setup writes the
// policy files.
func (c *campaign) setupHA(ctx context.Context) error {
	if _, _, err := kubetest.Binaries(); err != nil {
		return fmt.Errorf("-ha needs a kube-apiserver and an etcd: %w", err)
	}
	h := &haState{auditLog: filepath.Join(c.dir, "kube", "audit.log")}
	c.ha = h
	cl, err := kubetest.Launch(filepath.Join(c.dir, "kube"), kubetest.Options{
		Logf: c.logf, Users: []string{onceUser}, AuditLog: h.auditLog,
	})
	if err != nil {
		return err
	}
	h.cluster = cl
	if h.admin, err = kubernetes.NewForConfig(cl.RestConfig(kubetest.Admin)); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := cl.NewNamespace(sctx, haNamespace); err != nil {
		return err
	}
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"*"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"*"}},
	}
	users := append(slotUsers[:c.cfg.Replicas:c.cfg.Replicas], onceUser)
	for i, u := range users {
		if err := cl.GrantRules(sctx, u, haNamespace, rules); err != nil {
			return err
		}
		if err := cl.WriteKubeconfig(c.kubeconfig(i), u); err != nil {
			return err
		}
		h.listen = append(h.listen, freeAddr())
	}
	h.slots = make([]*replicaProc, c.cfg.Replicas)
	return nil
}

func (c *campaign) kubeconfig(slot int) string {
	return filepath.Join(c.dir, "kube", fmt.Sprintf("user-%d.kubeconfig", slot))
}

func (c *campaign) replicaConfig(slot int) string {
	if slot >= c.cfg.Replicas {
		return filepath.Join(c.dir, "replica-once.yml")
	}
	return filepath.Join(c.dir, fmt.Sprintf("replica-%d.yml", slot))
}

// haHeader is the top of a replica's policy file: its own listen address,
// state directory (unused by the journal) and Kubernetes user.
func (c *campaign) haHeader(slot int) string {
	return fmt.Sprintf(`state_dir: state-%d
state:
  backend: kubernetes
  namespace: %s
  kubeconfig: %s
leader_election:
  lease_name: %s
  lease_duration: %s
  renew_deadline: %s
  retry_period: %s
listen: %s
`, slot, haNamespace, c.kubeconfig(slot), haLeaseName, c.cfg.LeaseDuration, c.cfg.RenewDeadline, c.cfg.RetryPeriod, c.ha.listen[slot])
}

// haSecretSinkYAML is the ci policy's Secret sink, as slot's user.
func (c *campaign) haSecretSinkYAML(slot int) string {
	return fmt.Sprintf("      - type: kubernetes\n        namespace: %s\n        name: \"chaos-{{.Name}}\"\n        kubeconfig: %s\n",
		haNamespace, c.kubeconfig(slot))
}

// readSecretSink reads the Secret of name as its consumer would. An error
// of the API server itself (down while it restarts) is errKubeUnavailable:
// a pod keeps the Secret it mounted meanwhile.
func (c *campaign) readSecretSink(ctx context.Context, name string) (cred, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := c.ha.admin.CoreV1().Secrets(haNamespace).Get(ctx, "chaos-"+name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return cred{}, false, nil
	}
	if err != nil {
		return cred{}, false, fmt.Errorf("%w: %v", errKubeUnavailable, err)
	}
	k, sec := string(s.Data["api_key"]), string(s.Data["api_secret"])
	if k == "" || sec == "" {
		return cred{}, true, errors.New("secret lacks api_key or api_secret")
	}
	return cred{k, sec}, true, nil
}

var errKubeUnavailable = errors.New("the API server did not answer")

// startReplica starts a process in slot (or `once` with args) with its own
// log file.
func (c *campaign) startReplica(slot int, offset time.Duration, args ...string) (*replicaProc, error) {
	h := c.ha
	h.pmu.Lock()
	seq := len(h.procs) + 1
	h.pmu.Unlock()
	p := &replicaProc{slot: slot, seq: seq, done: make(chan struct{})}
	if slot < len(slotUsers) && slot < c.cfg.Replicas {
		p.user = slotUsers[slot]
	} else {
		p.user = onceUser
	}
	p.log = filepath.Join(c.dir, "logs", p.name()+".log")
	cmd, err := c.startRotatordWith(c.replicaConfig(slot), p.log, offset, args...)
	if err != nil {
		return nil, err
	}
	p.cmd, p.started, p.startVariant = cmd, time.Now(), c.variant
	if offset != 0 {
		p.history = append(p.history, "clock offset "+offset.String())
	}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.ended, p.exitErr = time.Now(), err
		p.mu.Unlock()
		close(p.done)
	}()
	h.pmu.Lock()
	h.procs = append(h.procs, p)
	if slot < len(h.slots) {
		h.slots[slot] = p
	}
	h.pmu.Unlock()
	return p, nil
}

// live returns the running replicas (not `once`), stopped ones included.
func (h *haState) live() []*replicaProc {
	h.pmu.Lock()
	defer h.pmu.Unlock()
	var out []*replicaProc
	for _, p := range h.slots {
		if p != nil && p.alive() {
			out = append(out, p)
		}
	}
	return out
}

// replicaSignaller sends a signal to every running, not stopped replica:
// a reload reaches them all, as a changed ConfigMap does.
type replicaSignaller struct{ c *campaign }

func (s replicaSignaller) Signal(sig os.Signal) error {
	for _, p := range s.c.ha.live() {
		p.mu.Lock()
		stopped := p.stopped
		if !stopped && sig == syscall.SIGHUP {
			p.hups = append(p.hups, hupMark{off: fileSize(p.log), v: s.c.variant})
		}
		p.mu.Unlock()
		if !stopped {
			_ = p.cmd.Process.Signal(sig)
		}
	}
	return nil
}

// restartDead starts a process in every slot that has none running, each
// with its offset, and waits until each serves HTTP (its signal handlers
// are in place then).
func (c *campaign) restartDead(ctx context.Context, offsets []time.Duration, rollback bool) ([]string, error) {
	h := c.ha
	var did []string
	retried := map[int]bool{}
	for slot := 0; slot < len(h.slots); slot++ {
		h.pmu.Lock()
		p := h.slots[slot]
		h.pmu.Unlock()
		if p != nil && p.alive() {
			continue
		}
		np, err := c.startReplica(slot, offsets[slot])
		if err != nil {
			return did, err
		}
		if offsets[slot] != 0 {
			c.mu.Lock()
			c.sum.ClockOffsets++
			c.mu.Unlock()
		}
		did = append(did, "start:"+np.name())
		if err := waitFor(ctx, 20*time.Second, func() bool {
			if !np.alive() {
				return true
			}
			resp, err := c.httpc.Get("http://" + h.listen[slot] + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return true
		}); err != nil {
			c.problem("replica %s did not serve /healthz within 20s of its start%s", np.name(), tailOf(np.log, 10))
		}
		if !np.alive() {
			np.mu.Lock()
			np.signalled = true // reported here
			np.mu.Unlock()
			// A policy a reload narrowed while rotations of the names it
			// drops were in flight: rotatord refuses to start (as a single
			// process does) until they finish; the slot stays empty.
			if strings.Contains(readSince(np.log, 0), "would be stranded") {
				c.count(func(*Summary) { h.refusedStarts++ })
				did = append(did, "refused-start:"+np.name())
				// As an operator would: put back the policy the leader
				// has in force, reload, and start again (once).
				if rollback && !retried[slot] {
					if l := c.leader(ctx); l != nil {
						if v, _, ok := l.policyInForce(); ok && v != c.variant {
							if err := c.writePolicy(v, "3s"); err != nil {
								return did, err
							}
							_ = replicaSignaller{c}.Signal(syscall.SIGHUP)
							did = append(did, "rollback:"+v.String())
							retried[slot] = true
							slot--
						}
					}
				}
				continue
			}
			return did, fmt.Errorf("replica %s exited at its start: %v%s", np.name(), np.exitErr, tailOf(np.log, 10))
		}
	}
	return did, nil
}

// lease returns the Lease's holder and whether it is renewed within its
// duration.
func (h *haState) lease(ctx context.Context) (holder string, fresh bool) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	l, err := h.admin.CoordinationV1().Leases(haNamespace).Get(ctx, haLeaseName, metav1.GetOptions{})
	if err != nil {
		return "", false
	}
	return leaseHolder(l)
}

func leaseHolder(l *coordinationv1.Lease) (string, bool) {
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" || l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return "", false
	}
	d := time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	return *l.Spec.HolderIdentity, time.Since(l.Spec.RenewTime.Time) < d
}

// leader returns the running replica holding a fresh Lease, or nil.
func (c *campaign) leader(ctx context.Context) *replicaProc {
	holder, fresh := c.ha.lease(ctx)
	if !fresh {
		return nil
	}
	for _, p := range c.ha.live() {
		if p.learnIdentity() == holder {
			return p
		}
	}
	return nil
}

// waitLeader waits up to limit for a running, not stopped replica to hold
// the Lease.
func (c *campaign) waitLeader(ctx context.Context, limit time.Duration) *replicaProc {
	var l *replicaProc
	_ = waitFor(ctx, limit, func() bool {
		l = c.leader(ctx)
		if l == nil {
			return false
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		return !l.stopped
	})
	return l
}

// pollRequests appends the new entries of exosim's request log.
func (c *campaign) pollRequests() error {
	h := c.ha
	h.rmu.Lock()
	defer h.rmu.Unlock()
	var l struct {
		Requests []simRequest `json:"requests"`
		Dropped  int          `json:"dropped"`
	}
	if err := c.getJSON(fmt.Sprintf("/_sim/requests?after=%d", h.reqCursor), &l); err != nil {
		return fmt.Errorf("exosim's request log: %w", err)
	}
	for _, r := range l.Requests {
		if r.Seq != h.reqCursor+1 {
			h.reqMissing += r.Seq - h.reqCursor - 1
		}
		h.reqs = append(h.reqs, r)
		h.reqCursor = r.Seq
	}
	return nil
}

// requestPoller reads exosim's request log every second, so that none is
// dropped before the campaign saw it.
func (c *campaign) requestPoller(ctx context.Context) {
	for sleepCtx(ctx, time.Second) {
		_ = c.pollRequests()
	}
}

// awaitFailover waits up to limit after t0 for the first Exoscale call of
// a replica other than old, and records the failover time.
func (c *campaign) awaitFailover(ctx context.Context, kind string, old *replicaProc, t0 time.Time, limit time.Duration) (time.Duration, string, bool) {
	h := c.ha
	oldID := old.learnIdentity()
	var (
		got   time.Duration
		newID string
		from  int // index in h.reqs to scan from
	)
	found := func() bool {
		if err := c.pollRequests(); err != nil {
			return false
		}
		h.rmu.Lock()
		defer h.rmu.Unlock()
		for ; from < len(h.reqs); from++ {
			r := h.reqs[from]
			id := uaIdentity(r.UserAgent)
			if id != "" && id != oldID && r.Received.After(t0) {
				got, newID = r.Received.Sub(t0), id
				return true
			}
		}
		return false
	}
	if err := waitFor(ctx, time.Until(t0.Add(limit)), found); err != nil {
		return 0, "", false
	}
	c.mu.Lock()
	h.failovers = append(h.failovers, got)
	if h.byKind == nil {
		h.byKind = map[string][]time.Duration{}
	}
	h.byKind[kind] = append(h.byKind[kind], got)
	c.sum.Failovers++
	c.mu.Unlock()
	// And the first call of the new leader that succeeded (a later look:
	// statuses come in once answered).
	go func() {
		sleepCtx(ctx, 10*time.Second)
		_ = c.pollRequests()
		var l struct {
			Requests []simRequest `json:"requests"`
		}
		if c.getJSON("/_sim/requests?user_agent="+url.QueryEscape("replica/"+newID), &l) != nil {
			return
		}
		for _, r := range l.Requests {
			if r.Received.After(t0) && r.Status >= 200 && r.Status < 300 {
				c.mu.Lock()
				h.firstOK = append(h.firstOK, r.Received.Sub(t0))
				c.mu.Unlock()
				return
			}
		}
	}()
	return got, newID, true
}

// haCycle is one cycle of the HA campaign.
func (c *campaign) haCycle(ctx context.Context, i int) error {
	h := c.ha
	// The schedule of the cycle, drawn before anything runs.
	up := time.Duration(c.rnd.Int64N(int64(c.cfg.MaxUp-300*time.Millisecond))) + 300*time.Millisecond
	var kind string
	switch r := c.rnd.Float64(); {
	case r < 0.32:
		kind = dKillLeader
	case r < 0.52:
		kind = dTermLeader
	case r < 0.74:
		kind = dStopLeader
	case r < 0.90:
		kind = dKillStandby
	default:
		kind = dRestartAPI
	}
	// A standby sees the Lease change up to 2.2 retry periods late
	// (client-go's jitter) and looks again up to 2.2 periods after it
	// expired: a stop shorter than that may end before anyone could take
	// over, and then the leader goes on. Stops are drawn on both sides.
	sureFailover := c.cfg.LeaseDuration + 44*c.cfg.RetryPeriod/10 + 500*time.Millisecond
	stopFor := c.cfg.LeaseDuration + 500*time.Millisecond + time.Duration(c.rnd.Int64N(int64(2500*time.Millisecond+44*c.cfg.RetryPeriod/10)))
	pick := c.rnd.Uint64()
	offsets := make([]time.Duration, c.cfg.Replicas)
	for s := range offsets {
		if c.rnd.Float64() < 0.15 {
			offsets[s] = time.Duration(2+c.rnd.IntN(int(maxClockOffset/time.Second)-1)) * time.Second
			if c.rnd.IntN(2) == 0 {
				offsets[s] = -offsets[s]
			}
		}
	}
	faults, faultKinds := c.simFaults()
	var events []event
	for n := c.rnd.IntN(4); n > 0; n-- {
		events = append(events, event{at: time.Duration(c.rnd.Int64N(int64(up))), kind: haEventKinds[c.rnd.IntN(len(haEventKinds))], pick: c.rnd.Uint64()})
	}
	slices.SortStableFunc(events, func(a, b event) int { return int(a.at - b.at) })
	endSinkFault := c.rnd.Float64() < 0.5

	if err := c.putFaults(faults); err != nil {
		return err
	}
	did, err := c.restartDead(ctx, offsets, true)
	if err != nil {
		return err
	}
	waitLimit := 2*c.cfg.LeaseDuration + 20*time.Second
	if l := c.waitLeader(ctx, waitLimit); l == nil && ctx.Err() == nil && len(h.live()) > 0 {
		c.problem("cycle %d: NO LEADER: no running replica held the Lease for %v after the restarts (holder now: %s)%s", i, waitLimit, c.holderNow(ctx), c.replicaTails())
	}
	began := time.Now()
	for _, ev := range events {
		if !sleepCtx(ctx, time.Until(began.Add(ev.at))) {
			break
		}
		what, err := c.act(ctx, ev, replicaSignaller{c})
		if err != nil {
			return err
		}
		did = append(did, what)
	}
	sleepCtx(ctx, time.Until(began.Add(up)))

	leader := c.leader(ctx)
	if leader == nil && kind != dRestartAPI && kind != dKillStandby && len(h.live()) > 0 {
		leader = c.waitLeader(ctx, waitLimit)
		if leader == nil {
			c.problem("cycle %d: NO LEADER before the disturbance %s (holder now: %s)%s", i, kind, c.holderNow(ctx), c.replicaTails())
		}
	}
	var standbys []*replicaProc
	for _, p := range h.live() {
		if p != leader {
			standbys = append(standbys, p)
		}
	}
	failLimit := c.cfg.LeaseDuration + 20*time.Second
	failover := func(old *replicaProc, t0 time.Time, limit time.Duration, required bool) string {
		if len(standbys) == 0 {
			return "no standby running (no failover expected)"
		}
		d, id, ok := c.awaitFailover(ctx, kind, old, t0, limit)
		if !ok && !required {
			return "no failover (the stop was too short for a standby to see the Lease expire)"
		}
		if !ok {
			if ctx.Err() == nil {
				c.problem("cycle %d: NO FAILOVER: no other replica called the API within %v of the %s of leader %s (%s); holder now: %s%s",
					i, limit, kind, old.name(), old.learnIdentity(), c.holderNow(ctx), c.replicaTails())
			}
			return "no failover"
		}
		return fmt.Sprintf("failover %v to %s", d.Round(time.Millisecond), c.procByIdentity(id))
	}
	stop := kind
	switch {
	case kind == dKillLeader && leader != nil:
		t0 := time.Now()
		leader.signal(syscall.SIGKILL)
		<-leader.done
		c.count(func(s *Summary) { s.Kills++; s.LeaderKills++ })
		stop = "SIGKILL leader " + leader.name() + ", " + failover(leader, t0, failLimit, true)
	case kind == dTermLeader && leader != nil:
		// In the middle of a rotation: wait (a little) for the leader to
		// log one starting.
		from := fileSize(leader.log)
		_ = waitFor(ctx, 1500*time.Millisecond, func() bool {
			return logSince(leader.log, from, `"rotation started"`, `"replacement created"`)
		})
		t0 := time.Now()
		leader.signal(syscall.SIGTERM)
		select {
		case <-leader.done:
		case <-time.After(40 * time.Second):
			c.problem("cycle %d: leader %s did not exit within 40s of SIGTERM (30s allowed for a rotation in flight)%s", i, leader.name(), tailOf(leader.log, 10))
			leader.signal(syscall.SIGKILL)
			<-leader.done
		}
		if err := leader.exitErr; err != nil && !strings.Contains(err.Error(), "killed") {
			c.problem("cycle %d: leader %s did not exit cleanly on SIGTERM: %v%s", i, leader.name(), err, tailOf(leader.log, 10))
		}
		c.count(func(s *Summary) { s.Terms++; s.LeaderTerms++ })
		stop = "SIGTERM leader " + leader.name() + ", " + failover(leader, t0, failLimit+40*time.Second, true)
	case kind == dStopLeader && leader != nil:
		t0 := time.Now()
		leader.signal(syscall.SIGSTOP)
		res := make(chan string, 1)
		go func() {
			if stopFor >= sureFailover {
				res <- failover(leader, t0, stopFor+failLimit, true)
			} else {
				res <- failover(leader, t0, stopFor+c.cfg.RenewDeadline+2*time.Second, false)
			}
		}()
		sleepCtx(ctx, time.Until(t0.Add(stopFor)))
		leader.signal(syscall.SIGCONT)
		fo := <-res
		// The resumed replica must see it lost the Lease; its writes are
		// judged at the end.
		from := time.Now()
		lost := waitFor(ctx, c.cfg.RenewDeadline+5*time.Second, func() bool {
			return !leader.alive() || strings.Contains(readSince(leader.log, 0), `"no longer leading`) && lastLineTime(leader.log, `"no longer leading`).After(t0)
		}) == nil
		c.count(func(s *Summary) { s.LeaderStops++ })
		stop = fmt.Sprintf("SIGSTOP leader %s for %v, %s, stepped down %t (%v after SIGCONT)", leader.name(), stopFor.Round(time.Millisecond), fo, lost, time.Since(from).Round(time.Millisecond))
	case kind == dKillStandby && len(standbys) > 0:
		p := standbys[int(pick%uint64(len(standbys)))]
		p.signal(syscall.SIGKILL)
		<-p.done
		c.count(func(s *Summary) { s.Kills++; s.StandbyKills++ })
		stop = "SIGKILL standby " + p.name()
	case kind == dRestartAPI:
		stopped, ready, err := h.cluster.Restart()
		if err != nil {
			return err
		}
		c.count(func(s *Summary) { s.APIRestarts++ })
		stop = fmt.Sprintf("API server restarted (stopped in %v, ready in %v)", stopped.Round(time.Millisecond), ready.Round(time.Millisecond))
	default:
		stop = kind + ": no target"
	}
	if endSinkFault {
		c.fmu.Lock()
		for id := range c.faulted {
			if err := c.endSinkFault(id); err != nil {
				c.fmu.Unlock()
				return err
			}
			did = append(did, "sink-fault-end:"+id)
		}
		c.fmu.Unlock()
	}
	c.reportUnexpectedExits()
	c.checkStranded(ctx, i)
	c.count(func(s *Summary) { s.Cycles++ })
	c.logf("cycle %d: up %v, %s, offsets %v, sim faults %v, actions %v", i, up.Round(time.Millisecond), stop, offsets, faultKinds, did)
	return c.checkNow(ctx, false)
}

func (c *campaign) count(f func(s *Summary)) {
	c.mu.Lock()
	f(&c.sum)
	c.mu.Unlock()
}

// reportUnexpectedExits reports, once each, the replicas that exited
// without the campaign killing or stopping them.
func (c *campaign) reportUnexpectedExits() {
	h := c.ha
	h.pmu.Lock()
	procs := slices.Clone(h.procs)
	h.pmu.Unlock()
	for _, p := range procs {
		if p.alive() || p.slot >= c.cfg.Replicas {
			continue
		}
		p.mu.Lock()
		unexpected := !p.signalled
		p.signalled = true // once
		err := p.exitErr
		p.mu.Unlock()
		if unexpected {
			c.problem("replica %s exited on its own: %v%s", p.name(), err, tailOf(p.log, 15))
		}
	}
}

// holderNow describes the Lease holder, for problem reports.
func (c *campaign) holderNow(ctx context.Context) string {
	holder, fresh := c.ha.lease(ctx)
	if holder == "" {
		return "none"
	}
	return fmt.Sprintf("%s (%s, fresh %t)", holder, c.procByIdentity(holder), fresh)
}

// procByIdentity names the process of a Lease identity.
func (c *campaign) procByIdentity(id string) string {
	c.ha.pmu.Lock()
	procs := slices.Clone(c.ha.procs)
	c.ha.pmu.Unlock()
	for _, p := range procs {
		if p.learnIdentity() == id {
			return p.name()
		}
	}
	return "unknown process"
}

// replicaTails are the last lines of every running replica's log.
func (c *campaign) replicaTails() string {
	var b strings.Builder
	for _, p := range c.ha.live() {
		b.WriteString(strings.ReplaceAll(tailOf(p.log, 6), "\n    last lines", "\n    last lines of "+p.name()))
	}
	return b.String()
}

// tailOf is the last n lines of a log, indented for a problem report.
func tailOf(path string, n int) string {
	lines := strings.Split(strings.TrimRight(readSince(path, 0), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\n    last lines:\n      " + strings.Join(lines, "\n      ")
}

var tsRe = regexp.MustCompile(`"ts":"([^"]+)"`)

// lastLineTime is the time of the last log line containing s (zero
// without one).
func lastLineTime(path, s string) time.Time {
	var t time.Time
	for _, line := range strings.Split(readSince(path, 0), "\n") {
		if strings.Contains(line, s) {
			if m := tsRe.FindStringSubmatch(line); m != nil {
				if v, err := time.Parse("2006-01-02T15:04:05.000Z0700", m[1]); err == nil {
					t = v
				}
			}
		}
	}
	return t
}

// haSettle is settle for the HA campaign: faults off, the base policy
// with a long max_age reloaded by running replicas, /metrics checked on
// each (exactly one leader), every replica stopped with SIGTERM, then
// `once` passes until no key is left that no sink holds.
func (c *campaign) haSettle(ctx context.Context) error {
	h := c.ha
	if err := c.simDo(http.MethodDelete, "/_sim/faults", nil, nil); err != nil {
		return err
	}
	c.fmu.Lock()
	for id := range c.faulted {
		if err := c.endSinkFault(id); err != nil {
			c.fmu.Unlock()
			return err
		}
	}
	c.fmu.Unlock()
	if err := c.writePolicy(variant{extraSink: c.extraAdded.Load()}, "1h"); err != nil {
		return err
	}
	if _, err := c.restartDead(ctx, make([]time.Duration, c.cfg.Replicas), false); err != nil {
		return err
	}
	_ = replicaSignaller{c}.Signal(syscall.SIGHUP)
	sleepCtx(ctx, maxLateApply+time.Second)
	if c.waitLeader(ctx, 2*c.cfg.LeaseDuration+20*time.Second) == nil && ctx.Err() == nil {
		c.problem("settle: NO LEADER (holder now: %s)%s", c.holderNow(ctx), c.replicaTails())
	}
	leaderRe := regexp.MustCompile(`(?m)^rotatord_leader(\{[^}]*\})? 1$`)
	var leaders []string
	_ = waitFor(ctx, 20*time.Second, func() bool {
		var all strings.Builder
		leaders = nil
		for _, p := range h.live() {
			resp, err := c.httpc.Get("http://" + h.listen[p.slot] + "/metrics")
			if err != nil {
				return false
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			all.Write(b)
			if leaderRe.Match(b) {
				leaders = append(leaders, p.name())
			}
		}
		c.metrics = all.String()
		return strings.Contains(c.metrics, "rotatord_passes_total") && len(leaders) == 1
	})
	if len(leaders) != 1 {
		c.problem("settle: %d replicas report rotatord_leader 1 (%v), want exactly one", len(leaders), leaders)
	}
	sleepCtx(ctx, 3*time.Second)
	for _, p := range h.live() {
		p.signal(syscall.SIGTERM)
	}
	for _, p := range h.live() {
		select {
		case <-p.done:
		case <-time.After(40 * time.Second):
			c.problem("settle: replica %s did not exit within 40s of SIGTERM%s", p.name(), tailOf(p.log, 10))
			p.signal(syscall.SIGKILL)
			<-p.done
		}
	}
	h.pmu.Lock()
	procs := slices.Clone(h.slots)
	h.pmu.Unlock()
	for _, p := range procs {
		if p != nil && p.exitErr != nil && !strings.Contains(p.exitErr.Error(), "killed") && p.endedAt().After(time.Now().Add(-time.Minute)) {
			c.problem("settle: replica %s did not exit cleanly on SIGTERM: %v%s", p.name(), p.exitErr, tailOf(p.log, 10))
		}
	}
	deadline := time.Now().Add(maxClockOffset + 15*time.Second)
	for pass := 0; ; pass++ {
		once, err := c.startReplica(c.cfg.Replicas, 0, "once")
		if err != nil {
			return err
		}
		<-once.done
		if once.exitErr != nil {
			c.logf("settle: once %s: %v", once.name(), once.exitErr)
		}
		sleepCtx(ctx, 2100*time.Millisecond) // the grace period
		if pass < 3 {
			continue
		}
		if pending := c.unheldKeys(ctx); len(pending) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			if len(pending) > 0 {
				c.logf("settle: still live and held by no sink after %d passes: %v", pass+1, pending)
			}
			return nil
		}
	}
}

// haBlobs are what the HA campaign adds to the secret search: the
// journal's ConfigMaps and the API server's audit and server logs.
func (c *campaign) haBlobs(ctx context.Context) []string {
	var out []string
	if cms, err := c.ha.admin.CoreV1().ConfigMaps(haNamespace).List(ctx, metav1.ListOptions{}); err == nil {
		b, _ := json.Marshal(cms)
		out = append(out, string(b))
	} else {
		c.problem("listing the journal's ConfigMaps: %v", err)
	}
	for _, f := range []string{c.ha.auditLog, c.ha.cluster.APIServerLog} {
		b, _ := os.ReadFile(f)
		out = append(out, string(b))
	}
	return out
}

// logFiles are every rotatord log of the campaign.
func (c *campaign) logFiles() []string {
	if c.ha == nil {
		return []string{c.logPath}
	}
	c.ha.pmu.Lock()
	defer c.ha.pmu.Unlock()
	var out []string
	for _, p := range c.ha.procs {
		out = append(out, p.log)
	}
	return out
}

// stopHA ends every process left and the cluster.
func (c *campaign) stopHA() {
	if c.ha == nil {
		return
	}
	c.ha.pmu.Lock()
	procs := slices.Clone(c.ha.procs)
	c.ha.pmu.Unlock()
	for _, p := range procs {
		if p.alive() {
			p.signal(syscall.SIGCONT)
			p.signal(syscall.SIGKILL)
			<-p.done
		}
	}
	if c.ha.cluster != nil {
		c.ha.cluster.Stop()
	}
}

// auditEvent is a line of the API server's audit log.
type auditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource  string `json:"resource"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestObject *struct {
		Spec struct {
			HolderIdentity *string    `json:"holderIdentity"`
			AcquireTime    *time.Time `json:"acquireTime"`
		} `json:"spec"`
	} `json:"requestObject"`
	Received time.Time `json:"requestReceivedTimestamp"`
}

func (e auditEvent) code() int {
	if e.ResponseStatus == nil {
		return 0
	}
	return e.ResponseStatus.Code
}

func readAudit(path string) ([]auditEvent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []auditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e auditEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.ObjectRef != nil {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Received.Before(out[j].Received) })
	return out, sc.Err()
}

// leaderTerm is a replica's holding of the Lease, from its acquisition.
type leaderTerm struct {
	id    string
	begin time.Time
	user  string
}

// haWrite is a write by a replica, from exosim's or the audit log.
type haWrite struct {
	id, proc, what string
	at             time.Time
	status         int
}

// procAt returns the process of user running at t (with a second's
// margin after its exit for a request still on its way), or nil.
func (h *haState) procAt(user string, t time.Time) *replicaProc {
	h.pmu.Lock()
	defer h.pmu.Unlock()
	var best *replicaProc
	for _, p := range h.procs {
		if p.user != user || p.started.After(t) {
			continue
		}
		if end := p.endedAt(); !end.IsZero() && end.Add(time.Second).Before(t) {
			continue
		}
		if best == nil || p.started.After(best.started) {
			best = p
		}
	}
	return best
}

// haAnalyze finds overlapping leaders and summarizes the failovers.
func (c *campaign) haAnalyze(ctx context.Context) {
	h := c.ha
	_ = c.pollRequests()
	events, err := readAudit(h.auditLog)
	if err != nil {
		c.problem("reading the audit log: %v", err)
		return
	}
	replicaUser := map[string]bool{onceUser: true}
	for _, u := range slotUsers {
		replicaUser[u] = true
	}
	var terms []leaderTerm
	seen := map[string]bool{}
	var writes []haWrite
	for _, e := range events {
		if e.ObjectRef.Namespace != haNamespace || !replicaUser[e.User.Username] {
			continue
		}
		switch e.ObjectRef.Resource {
		case "leases":
			if e.code()/100 != 2 || e.RequestObject == nil || e.RequestObject.Spec.HolderIdentity == nil || *e.RequestObject.Spec.HolderIdentity == "" {
				continue
			}
			id := *e.RequestObject.Spec.HolderIdentity
			acq := ""
			if t := e.RequestObject.Spec.AcquireTime; t != nil {
				acq = t.String()
			}
			if p := h.procAt(e.User.Username, e.Received); p != nil {
				if known := p.learnIdentity(); known == "" {
					p.mu.Lock()
					p.identity = id
					p.mu.Unlock()
				} else if known != id {
					c.problem("the audit log has %s writing the Lease for %s, but %s's log names it %s", e.User.Username, id, p.name(), known)
				}
			}
			if !seen[id+" "+acq] {
				seen[id+" "+acq] = true
				terms = append(terms, leaderTerm{id: id, begin: e.Received, user: e.User.Username})
			}
		case "configmaps", "secrets":
			w := haWrite{what: fmt.Sprintf("%s %s/%s", e.Verb, e.ObjectRef.Resource, e.ObjectRef.Name), at: e.Received, status: e.code()}
			if p := h.procAt(e.User.Username, e.Received); p != nil {
				w.id, w.proc = p.learnIdentity(), p.name()
			} else {
				w.proc = "no process of user " + e.User.Username
			}
			writes = append(writes, w)
		}
	}
	h.rmu.Lock()
	reqs := slices.Clone(h.reqs)
	missing := h.reqMissing
	h.rmu.Unlock()
	if missing > 0 {
		c.problem("exosim's request log dropped %d calls before the campaign read them: the overlap check is incomplete", missing)
	}
	names := map[string]string{} // identity -> process, for the reports
	h.pmu.Lock()
	procs := slices.Clone(h.procs)
	h.pmu.Unlock()
	for _, p := range procs {
		if id := p.learnIdentity(); id != "" {
			names[id] = p.name()
		}
	}
	lateReads := 0
	for _, r := range reqs {
		id := uaIdentity(r.UserAgent)
		if !r.write() {
			if own, later := termsAround(terms, id, r.Received); own == nil || later != nil {
				lateReads++
			}
			continue
		}
		w := haWrite{id: id, proc: names[id], what: r.Op + " " + r.Method + " " + r.Path, at: r.Received, status: r.Status}
		if id == "" {
			w.proc = "User-Agent " + r.UserAgent
		} else if w.proc == "" {
			w.proc = "unknown process"
		}
		writes = append(writes, w)
	}
	c.count(func(s *Summary) { s.LeaseTerms = len(terms) })
	var overlaps, refused int
	kinds := map[string]int{} // "resource status" -> overlapping writes
	for _, w := range writes {
		own, later := termsAround(terms, w.id, w.at)
		if own != nil && later == nil {
			continue
		}
		overlaps++
		if w.status == http.StatusConflict {
			refused++
		}
		kind, _, _ := strings.Cut(w.what, " ")
		if f := strings.Fields(w.what); len(f) > 1 && strings.Contains(f[1], "/") {
			kind = strings.Split(f[1], "/")[0] // configmaps, secrets
		}
		kinds[fmt.Sprintf("%s %d", kind, w.status)]++
		if overlaps > 20 {
			continue // counted; the first ones are reported
		}
		why := fmt.Sprintf("%s (identity %q) never held the Lease before", w.proc, w.id)
		if own != nil {
			why = fmt.Sprintf("its own term began %s; %s (%s) began leading at %s, %v before this write",
				own.begin.Format("15:04:05.000000"), c.procByIdentity(later.id), later.id, later.begin.Format("15:04:05.000000"), w.at.Sub(later.begin))
		}
		c.problem("OVERLAPPING LEADERS: %s wrote %s at %s (status %d): %s%s",
			w.proc, w.what, w.at.Format("15:04:05.000000"), w.status, why, c.procStory(w.proc))
	}
	c.count(func(s *Summary) { s.OverlappingLeaders = overlaps })
	var notes []string
	if overlaps > 0 {
		var parts []string
		for k, n := range kinds {
			parts = append(parts, fmt.Sprintf("%s: %d", k, n))
		}
		slices.Sort(parts)
		notes = append(notes, fmt.Sprintf("of the %d overlapping writes, %d were refused by the API server's resourceVersion precondition (409); by target and status: %s",
			overlaps, refused, strings.Join(parts, ", ")))
	}
	if lateReads > 0 {
		notes = append(notes, fmt.Sprintf("%d Exoscale reads (listings, GETs) by a replica after a later leader's term began, or by one that never led", lateReads))
	}
	c.mu.Lock()
	c.sum.FailoverMs = durationsMs(h.failovers)
	for _, k := range []string{dKillLeader, dTermLeader, dStopLeader} {
		if ms := durationsMs(h.byKind[k]); len(ms) > 0 {
			notes = append(notes, fmt.Sprintf("failover after %s (ms, min/median/max of %d): %s", k, len(ms), minMedMax(ms)))
		}
	}
	if ok := durationsMs(h.firstOK); len(ok) > 0 {
		notes = append(notes, "failover to the new leader's first successful call (ms, min/median/max): "+minMedMax(ok))
	}
	if h.refusedStarts > 0 {
		notes = append(notes, fmt.Sprintf("%d replica starts refused: a reload had narrowed a policy while rotations of the names it dropped were in flight", h.refusedStarts))
	}
	notes = append(notes, fmt.Sprintf("%d leadership terms in the audit log, %d writes by replicas checked (%d Exoscale calls logged)", len(terms), len(writes), len(reqs)))
	c.sum.Notes = append(c.sum.Notes, notes...)
	c.mu.Unlock()
}

// termsAround returns, for a write by id at t, the latest term of id begun
// at or before t, and the first term of another replica begun after that
// one and at or before t (the write overlaps when own is nil or later is
// not).
func termsAround(terms []leaderTerm, id string, t time.Time) (own, later *leaderTerm) {
	for i := range terms {
		if terms[i].begin.After(t) {
			break
		}
		if terms[i].id == id {
			own, later = &terms[i], nil
		} else if later == nil && id != "" {
			later = &terms[i]
		}
	}
	if own == nil {
		later = nil
	}
	return own, later
}

// procStory is a process's signals and lease log lines, for a report.
func (c *campaign) procStory(name string) string {
	c.ha.pmu.Lock()
	procs := slices.Clone(c.ha.procs)
	c.ha.pmu.Unlock()
	for _, p := range procs {
		if p.name() != name {
			continue
		}
		p.mu.Lock()
		hist := slices.Clone(p.history)
		p.mu.Unlock()
		var b strings.Builder
		fmt.Fprintf(&b, "\n    %s started %s with policy variant %q, signals: %v, log lines about the Lease and reloads:", p.name(), p.started.Format("15:04:05.000"), p.startVariant, hist)
		for _, line := range strings.Split(readSince(p.log, 0), "\n") {
			if strings.Contains(line, `leading`) || strings.Contains(line, `"leader elected"`) || strings.Contains(line, "Lease") ||
				strings.Contains(line, `"configuration reloaded"`) || strings.Contains(line, `"reload rejected`) {
				b.WriteString("\n      " + line)
			}
		}
		return b.String()
	}
	return ""
}

func durationsMs(ds []time.Duration) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.Milliseconds()
	}
	return out
}

// minMedMax formats min/median/max of ms ("-" when empty).
func minMedMax(ms []int64) string {
	if len(ms) == 0 {
		return "-"
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	return fmt.Sprintf("%d/%d/%d", s[0], s[len(s)/2], s[len(s)-1])
}

// haDefaults fills the HA settings of a config.
func haDefaults(cfg *Config) {
	if cfg.Replicas <= 0 {
		cfg.Replicas = 2
	}
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = 4 * time.Second
	}
	if cfg.RenewDeadline <= 0 {
		cfg.RenewDeadline = 3 * time.Second
	}
	if cfg.RetryPeriod <= 0 {
		cfg.RetryPeriod = 500 * time.Millisecond
	}
}

// checkHAConfig refuses what the HA campaign cannot run.
func checkHAConfig(cfg Config) error {
	if cfg.Replicas < 2 || cfg.Replicas > len(slotUsers) {
		return fmt.Errorf("-replicas %d: want 2 or %d", cfg.Replicas, len(slotUsers))
	}
	return nil
}

// haCredentialPath is the Vault secret of rotatord's own credential in HA
// mode: a file of one replica would keep the key the leader rotated away,
// and rotatord refuses own_key with a credential file under leader
// election.
const haCredentialPath = "rotatord/credential"

// haCredentialYAML is the credential part of the exoscale section in HA
// mode: own_key with the credential in Vault, or, without Vault, the
// credential file read only and no own-key rotation.
func (c *campaign) haCredentialYAML(maxAge string) string {
	if c.vault == nil {
		return "  credential_file: credential.json\n"
	}
	return fmt.Sprintf("  credential_from: vault\n  credential_vault:\n    address: %s\n    mount: secret\n    path: %s\n"+
		"    auth: {method: token, token_file: vault-token}\n  own_key: {schedule: \"@every 1s\", max_age: %s, grace_period: 1s}\n",
		c.vault.Addr, haCredentialPath, maxAge)
}

// haSeedCredential puts the admin credential where the replicas read it.
func (c *campaign) haSeedCredential(ctx context.Context) error {
	if c.vault == nil {
		return nil
	}
	body := map[string]any{"data": map[string]string{"api_key": c.admin.Key, "api_secret": c.admin.Secret}}
	return c.vault.Do(ctx, vaulttest.RootToken, "POST", "secret/data/"+haCredentialPath, body, nil)
}

// haOwnCred reads rotatord's own credential from Vault.
func (c *campaign) haOwnCred(ctx context.Context) (cred, error) {
	var out struct {
		Data struct {
			Data map[string]any `json:"data"`
		} `json:"data"`
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.vault.Do(ctx, vaulttest.RootToken, "GET", "secret/data/"+haCredentialPath, nil, &out); err != nil {
		return cred{}, err
	}
	k, _ := out.Data.Data["api_key"].(string)
	s, _ := out.Data.Data["api_secret"].(string)
	if k == "" || s == "" {
		return cred{}, errors.New("the credential's Vault secret lacks api_key or api_secret")
	}
	return cred{k, s}, nil
}

// matches reports whether the policy file of variant v matches a journal
// record's name and role under its policy (as rotation.Stranded judges);
// known is false for policies the variants do not change (_self).
func (c *campaign) matches(v variant, policy, name, roleID string) (matched, known bool) {
	switch policy {
	case "ci":
		role := c.roles["ci"]
		if v.ciRoleDeploy {
			role = c.roles["deploy"]
		}
		return strings.HasPrefix(name, "ci-") && !strings.HasPrefix(name, "ci-keep-") &&
			!(v.ciExcludeMore && strings.HasPrefix(name, "ci-0")) && roleID == role, true
	case "apps":
		if v.appsNarrow {
			return strings.HasPrefix(name, "app-1"), true
		}
		return strings.HasPrefix(name, "app-"), true
	case "backup":
		return !v.backupRemoved && strings.HasPrefix(name, "bk-"), true
	}
	return false, false
}

// journalRecord is what the stranded check reads of a journal record.
type journalRecord struct {
	Policy   string           `json:"policy"`
	Name     string           `json:"name"`
	RoleID   string           `json:"role_id"`
	Rotation *journalRotation `json:"rotation"`
	// RetriedCreate is the open search for the keys of a create retried
	// after a 429: stranded like a rotation in flight.
	RetriedCreate *journalRotation `json:"retried_create"`
}

type journalRotation struct {
	Phase     string    `json:"phase"`
	StartedAt time.Time `json:"started_at"`
	RoleID    string    `json:"role_id"`
	NewKeyID  string    `json:"new_key_id"`
}

// journal reads the journal's records from their ConfigMaps.
func (c *campaign) journal(ctx context.Context) ([]journalRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cms, err := c.ha.admin.CoreV1().ConfigMaps(haNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []journalRecord
	for _, cm := range cms.Items {
		var r journalRecord
		if data, ok := cm.Data["record.json"]; ok && json.Unmarshal([]byte(data), &r) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// checkStranded looks for rotations in flight in the journal that the
// leader's policies in force no longer match: no replica finishes or rolls
// them back while that policy is in force (a new key never delivered nor
// deleted, an old key never deleted), and every replica started meanwhile
// refuses to start. A single process refuses such a reload; the check
// finds a leader that has one in force anyway. It reads the leader's
// policy from its log before and after reading the journal, and judges
// only when both agree and the leader is the same.
func (c *campaign) checkStranded(ctx context.Context, cycle int) {
	l := c.leader(ctx)
	if l == nil {
		return
	}
	v, n, ok := l.policyInForce()
	if !ok {
		return
	}
	recs, err := c.journal(ctx)
	if err != nil {
		return
	}
	if v2, n2, ok2 := l.policyInForce(); !ok2 || v2 != v || n2 != n || c.leader(ctx) != l {
		return
	}
	for _, r := range recs {
		if r.Rotation == nil && r.RetriedCreate != nil {
			rc := *r.RetriedCreate
			if rc.RoleID != "" && !strings.EqualFold(rc.RoleID, r.RoleID) {
				// A search that never runs again (the name's key was
				// replaced by one of another role): rotation.Stranded does
				// not count it, nor does anything end it.
				continue
			}
			rc.Phase = "retried create's search"
			r.Rotation = &rc
		}
		if r.Rotation == nil {
			continue
		}
		role := r.Rotation.RoleID
		if role == "" {
			role = r.RoleID
		}
		matched, known := c.matches(v, r.Policy, r.Name, role)
		if !known || matched {
			continue
		}
		tag := fmt.Sprintf("stranded %s/%s %s", r.Policy, r.Name, r.Rotation.StartedAt)
		c.mu.Lock()
		first := !c.outageSeen[tag]
		c.outageSeen[tag] = true
		if first {
			c.sum.Stranded++
		}
		c.mu.Unlock()
		if first {
			c.problem("STRANDED ROTATION (cycle %d): leader %s has policy variant %q in force, which does not match %s/%s, whose rotation is in flight in the journal (phase %s, started %s, new key %s): no replica finishes or rolls it back while that policy is in force%s%s",
				cycle, l.name(), v, r.Policy, r.Name, r.Rotation.Phase, r.Rotation.StartedAt.Format("15:04:05.000"), r.Rotation.NewKeyID,
				c.procStory(l.name()), c.story(ctx, r.Name))
		}
	}
}
