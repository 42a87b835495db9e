package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/sinks/vault/vaulttest"
)

// pass is a forced pass over adopted names, and the bound the API sets
// for it.
type pass struct {
	n             int
	adopt, forced procResult
	critPerRot    float64 // requests one rotation makes one after the other
	latBound      time.Duration
	rateBound     time.Duration
	served        served // the forced pass as the simulator saw it
}

func (ps pass) bound() time.Duration { return max(ps.latBound, ps.rateBound) }

func (ps pass) vsBound() float64 { return ratio(ps.forced.wall, ps.bound()) }

func (ps pass) cpuPerRotation() float64 {
	return float64(ps.forced.cpu.Microseconds()) / 1000 / float64(ps.n)
}

// switchesPerRotation is the forced pass's context switches per rotation.
func (ps pass) switchesPerRotation() float64 {
	return float64(ps.forced.switches) / float64(ps.n)
}

// cpuPerSwitch is the forced pass's CPU per context switch, in
// microseconds: what a thread going to sleep and waking costs on this
// machine, the work between included.
func (ps pass) cpuPerSwitch() float64 {
	if ps.forced.switches == 0 {
		return math.NaN()
	}
	return float64(ps.forced.cpu.Microseconds()) / float64(ps.forced.switches)
}

// cpuVsFloor is CPU per rotation over the least the disk's system calls
// cost one (floor).
func (ps pass) cpuVsFloor(f floor) float64 {
	return ps.cpuPerRotation() / ms(f.perRotation())
}

// forcedPass runs `rotatord once --force` over the n adopted names of w,
// checks that it rotated every one and left no other key behind, and
// computes the bound of the pass.
func forcedPass(ctx context.Context, w *world, n int) (pass, error) {
	ps := pass{n: n}
	var err error
	start := time.Now()
	if ps.forced, err = w.once(ctx, "--force"); err != nil {
		return ps, err
	}
	if ps.served, err = w.sim.servedSince(start); err != nil {
		return ps, err
	}
	c := ps.forced.calls
	// Counted by success: a call a gateway limit refused (429) and made
	// again is still one rotation. grace_period 0: every old key goes in
	// the pass.
	if creates, deletes := c.ok(exosim.OpCreateAPIKey), c.ok(exosim.OpDeleteAPIKey); creates != n || deletes != n {
		return ps, fmt.Errorf("forced pass made %d creates and %d deletes for %d names (%s)", creates, deletes, n, ps.forced.outcome)
	}
	live, most, err := w.sim.liveManaged()
	if err != nil {
		return ps, err
	}
	if live != n || most > 2 {
		return ps, fmt.Errorf("after the forced pass %d managed keys are alive (want %d), at most %d of a name at once (want 2)", live, n, most)
	}
	// Per rotation, one after the other: create, get (confirm), delete,
	// and any operation polls. The listing happens once per pass.
	crit := c.n(exosim.OpCreateAPIKey) + c.n(exosim.OpGetAPIKey) + c.n(exosim.OpDeleteAPIKey) + c.n(exosim.OpGetOperation)
	ps.critPerRot = float64(crit) / float64(n)
	lat := float64(w.sim.latency)
	ps.latBound = time.Duration(lat * (float64(c.n(exosim.OpListAPIKeys)) + float64(crit)/float64(w.spec.effConcurrency())))
	ps.rateBound = time.Duration(float64(c.total()) / w.spec.effRateLimit() * float64(time.Second))
	return ps, nil
}

// adoptAndForce starts a simulator as spec says, lets rotatord adopt its
// keys under ps and times a forced pass over the spec.managed names.
func (b *bencher) adoptAndForce(ctx context.Context, name string, spec simSpec, ps policySpec) (pass, error) {
	w, adopt, err := b.prepare(ctx, name, spec, filepath.Join(b.p.workDir, name, "state"), ps)
	if err != nil {
		return pass{}, err
	}
	defer w.sim.stop()
	pa, err := forcedPass(ctx, w, spec.managed)
	pa.adopt = adopt
	return pa, err
}

// rateBoundLimit is the rate_limit of the pass where the rate binds: at
// 20 requests a second, 4 in flight of 20 ms each (200 a second) wait for
// it.
const rateBoundLimit = 20

// serverPass is a forced pass against a simulator that answers 429 above
// a rate, with rotatord's adaptive rate.
type serverPass struct {
	pass
	limit      float64 // the simulator's, requests per second
	retryAfter int     // the Retry-After of its 429s, seconds
}

func (s serverPass) succeeded() int { return s.forced.calls.status(200, 299) }
func (s serverPass) refused() int   { return s.forced.calls.status(429, 429) }

// rateRatio is the rate of calls the server served over its limit: 1 is
// all the server allows, and no more.
func (s serverPass) rateRatio() float64 {
	return float64(s.succeeded()) / s.forced.wall.Seconds() / s.limit
}

// refusedShare is the share of the answers that were 429s.
func (s serverPass) refusedShare() float64 {
	answered := s.forced.calls.status(100, 599)
	if answered == 0 {
		return math.NaN()
	}
	return float64(s.refused()) / float64(answered)
}

// inFlightPass is a forced pass against a simulator that answers 429
// above a number of requests in flight, with rotatord's defaults (more in
// flight than that): its bound is the latency bound with the server's
// number in flight (or rotatord's, when lower).
type inFlightPass struct {
	serverPass
	inFlight int
}

func newInFlightPass(pa pass, inFlight int, latency time.Duration) *inFlightPass {
	c := pa.forced.calls
	crit := c.ok(exosim.OpCreateAPIKey) + c.ok(exosim.OpGetAPIKey) + c.ok(exosim.OpDeleteAPIKey) + c.ok(exosim.OpGetOperation)
	pa.latBound = time.Duration(float64(latency) * (float64(c.ok(exosim.OpListAPIKeys)) + float64(crit)/float64(inFlight)))
	pa.rateBound = 0
	return &inFlightPass{serverPass: serverPass{pass: pa}, inFlight: inFlight}
}

// extras are the passes beyond the main one: where the client's rate
// binds, where the server's limit binds, a large organization, a Vault
// sink, over TLS. A nil pass was skipped.
type extras struct {
	rate     *pass
	server   *serverPass
	inFlight *inFlightPass
	bigOrg   *pass
	smallOrg *pass // the same names without the others around
	vault    *vaultPass
	vaultWhy string // why there is no Vault pass
	tls      *pass  // against a simulator serving HTTPS
	floor    floor  // the CPU of the system calls a durable rotation needs
	api      *apiFloor
}

func (b *bencher) measureExtras(ctx context.Context, rs []result) (extras, error) {
	var ex extras
	p := b.p
	b.logf("durable floor: %d file replacements and log syncs in %s", p.floorN, p.workDir)
	var err error
	if ex.floor, err = measureFloor(filepath.Join(p.workDir, "floor"), p.floorN); err != nil {
		return ex, fmt.Errorf("durable floor: %w", err)
	}
	if p.apiFloorN > 0 {
		workers := b.policy().effConcurrency()
		b.logf("API floor: the official SDK alone rotates %d keys, %d at once", p.apiFloorN, workers)
		s, err := startSim(b.exosim, filepath.Join(p.workDir, "api-floor"), simSpec{managed: p.apiFloorN, latency: p.latency})
		if err != nil {
			return ex, fmt.Errorf("API floor: %w", err)
		}
		a, err := measureAPIFloor(ctx, s, p.apiFloorN, workers, p.latency)
		s.stop()
		if err != nil {
			return ex, fmt.Errorf("API floor: %w", err)
		}
		ex.api = &a
	}
	if p.rateBoundN > 0 {
		b.logf("rate bound: n=%d, rate_limit %d", p.rateBoundN, rateBoundLimit)
		ps := b.policy()
		ps.rateLimit = rateBoundLimit
		pa, err := b.adoptAndForce(ctx, "rate-bound", simSpec{managed: p.rateBoundN, latency: p.latency}, ps)
		if err != nil {
			return ex, fmt.Errorf("rate bound: %w", err)
		}
		ex.rate = &pa
	}
	if p.serverN > 0 {
		b.logf("server limit: n=%d, the simulator answers 429 (Retry-After %ds) above %g requests/s", p.serverN, p.serverRetry, p.serverLimit)
		// No rate_limit, whatever -rate-limit says: rotatord's adaptive
		// rate is what must find the server's limit.
		ps := b.policy()
		ps.rateLimit = 0
		pa, err := b.adoptAndForce(ctx, "server-limit", simSpec{managed: p.serverN, latency: p.latency, limitRate: p.serverLimit, limitRetryAfter: p.serverRetry}, ps)
		if err != nil {
			return ex, fmt.Errorf("server limit: %w", err)
		}
		ex.server = &serverPass{pass: pa, limit: p.serverLimit, retryAfter: p.serverRetry}
	}
	if p.serverN > 0 && p.serverFlight > 0 {
		b.logf("server limit: n=%d, the simulator answers 429 above %d requests in flight", p.serverN, p.serverFlight)
		ps := b.policy()
		ps.rateLimit = 0
		pa, err := b.adoptAndForce(ctx, "server-in-flight", simSpec{managed: p.serverN, latency: p.latency, limitInFlight: p.serverFlight}, ps)
		if err != nil {
			return ex, fmt.Errorf("server in-flight limit: %w", err)
		}
		ex.inFlight = newInFlightPass(pa, min(p.serverFlight, ps.effConcurrency()), p.latency)
	}
	if p.bigOrgKeys > 0 {
		b.logf("large organization: %d keys, %d matched", p.bigOrgKeys, p.bigOrgMatch)
		pa, err := b.adoptAndForce(ctx, "big-org", simSpec{managed: p.bigOrgMatch, others: p.bigOrgKeys - p.bigOrgMatch, latency: p.latency}, b.policy())
		if err != nil {
			return ex, fmt.Errorf("large organization: %w", err)
		}
		ex.bigOrg = &pa
		for _, r := range rs {
			if r.n == p.bigOrgMatch {
				ex.smallOrg = &r.pass
			}
		}
		if ex.smallOrg == nil {
			b.logf("large organization: the same %d names alone", p.bigOrgMatch)
			pa, err := b.adoptAndForce(ctx, "small-org", simSpec{managed: p.bigOrgMatch, latency: p.latency}, b.policy())
			if err != nil {
				return ex, fmt.Errorf("small organization: %w", err)
			}
			ex.smallOrg = &pa
		}
	}
	if p.vaultN > 0 {
		pa, why, err := b.measureVault(ctx)
		if err != nil {
			return ex, fmt.Errorf("vault sink: %w", err)
		}
		ex.vault, ex.vaultWhy = pa, why
		if why != "" {
			b.logf("no Vault pass (vault_cpu_ms_per_rotation and vault_steady_cpu_ms_per_rotation NaN): %s", why)
		}
	}
	if p.tlsN > 0 {
		if ex.tls, err = b.measureTLS(ctx); err != nil {
			return ex, fmt.Errorf("over TLS: %w", err)
		}
	}
	return ex, nil
}

// vaultPass is the Vault stage: two forced passes over the same names,
// with the same simulator, Vault and state.
type vaultPass struct {
	// first is the pass after adoption, which writes no sink: each write
	// is the secret's first, and also marks it as rotatord's.
	first pass
	// steady forces the same names again: what every later rotation of
	// a secret costs, an operator's steady state.
	steady pass
	// Vault requests per rotation of each pass, from its audit log; NaN
	// when the dev server would not take one.
	firstReqs, steadyReqs float64
}

// measureVault runs two forced passes with one Vault KV v2 sink, on a
// Vault dev server, if there is a Vault binary (found as the tests of the
// sink find it); otherwise it returns why not.
func (b *bencher) measureVault(ctx context.Context) (*vaultPass, string, error) {
	bin, why := vaulttest.Find()
	if bin == "" {
		return nil, why, nil
	}
	n := b.p.vaultN
	b.logf("vault sink: n=%d, %s", n, bin)
	dir := filepath.Join(b.p.workDir, "vault")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	srv, err := vaulttest.Start(bin, dir)
	if err != nil {
		// A binary that does not start is no reason to lose the other
		// figures: the test notices the NaN.
		return nil, fmt.Sprintf("vault server did not start: %v", err), nil
	}
	defer srv.Stop()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(vaulttest.RootToken+"\n"), 0o600); err != nil {
		return nil, "", err
	}
	// Vault's audit log counts the requests of each pass. Its values are
	// HMACs, not the secrets, and Vault creates it 0600; the requests
	// are counted only, never copied.
	audit, err := enableAudit(ctx, srv, filepath.Join(dir, "audit.log"))
	if err != nil {
		b.logf("vault sink: no audit log, requests per rotation not counted: %v", err)
	}
	ps := b.policy()
	ps.vault = &vaultSink{address: srv.Addr, tokenFile: token}
	w, adopt, err := b.prepare(ctx, "vault", simSpec{managed: n, latency: b.p.latency}, filepath.Join(b.p.workDir, "vault", "state"), ps)
	if err != nil {
		return nil, "", err
	}
	defer w.sim.stop()
	v := &vaultPass{firstReqs: math.NaN(), steadyReqs: math.NaN()}
	// Adoption writes no sink, but its requests (none expected) are not
	// the first pass's.
	if _, err := audit.since(); err != nil {
		return nil, "", err
	}
	if v.first, err = forcedPass(ctx, w, n); err != nil {
		return nil, "", fmt.Errorf("first writes: %w", err)
	}
	v.first.adopt = adopt
	if v.firstReqs, err = audit.perRotation(n); err != nil {
		return nil, "", err
	}
	b.logf("vault sink: the same %d names forced again (steady state)", n)
	if v.steady, err = forcedPass(ctx, w, n); err != nil {
		return nil, "", fmt.Errorf("steady state: %w", err)
	}
	if v.steadyReqs, err = audit.perRotation(n); err != nil {
		return nil, "", err
	}
	return v, "", nil
}

// auditLog is a file audit device of a Vault server, read as it grows.
// A nil *auditLog counts nothing.
type auditLog struct {
	path string
	off  int64 // the end of the last whole line read
}

// enableAudit enables a file audit device writing to path.
func enableAudit(ctx context.Context, srv *vaulttest.Server, path string) (*auditLog, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	body := map[string]any{"type": "file", "options": map[string]string{"file_path": path}}
	if err := srv.Do(ctx, vaulttest.RootToken, "PUT", "sys/audit/bench", body, nil); err != nil {
		return nil, err
	}
	return &auditLog{path: path}, nil
}

// since counts the requests Vault logged since the last call. Vault logs
// a request before it answers it, so once a client has exited, its
// requests are all in the file.
func (a *auditLog) since() (int, error) {
	if a == nil {
		return 0, nil
	}
	f, err := os.Open(a.path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := f.Seek(a.off, io.SeekStart); err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(f, 1<<16)
	count := 0
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			// A line still being written is read next time.
			return count, nil
		}
		if err != nil {
			return count, err
		}
		a.off += int64(len(line))
		var e struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			return count, fmt.Errorf("%s: %w", a.path, err)
		}
		if e.Type == "request" {
			count++
		}
	}
}

// perRotation is the requests since the last call over n rotations, NaN
// without an audit log.
func (a *auditLog) perRotation(n int) (float64, error) {
	if a == nil {
		return math.NaN(), nil
	}
	c, err := a.since()
	return float64(c) / float64(n), err
}
