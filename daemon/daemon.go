// Package daemon owns the long-running rotatord process: it wires the
// policy file into the API client, the sinks and the rotation engine, runs
// each policy on its cron schedule, fires due deletions between ticks,
// serves metrics and health over HTTP, and reloads the policy file on
// request, keeping the old one when the new one is invalid.
//
// The daemon touches no signals: cmd/rotatord turns signals into context
// cancellation and reload requests, so tests run it in-process.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/internal/kubeclient"
	"github.com/rotatord/rotatord/internal/leader"
	"github.com/rotatord/rotatord/metrics"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
)

// Options configure a daemon.
type Options struct {
	ConfigPath string
	Logger     *zap.Logger
	// Registry receives the metrics and backs /metrics; default a new one.
	// The per-name series (rotatord_key_created_timestamp_seconds) are not
	// in it: Handler serves them beside it (metrics.Handler).
	Registry *prometheus.Registry
	// Getenv reads the environment (EXOSCALE_API_KEY, ...); default os.Getenv.
	Getenv func(string) string
	// ShutdownTimeout is how long a rotation in flight may take to finish
	// after a stop request before it is abandoned; default 30s.
	ShutdownTimeout time.Duration
	// DeleteCheckInterval is how often due deletions are looked for
	// between cron ticks; default 15s.
	DeleteCheckInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// ReadOnly opens the state without its lock, for `plan`: it may run
	// beside the daemon, and every write fails.
	ReadOnly bool
	// Web configures the HTTP server of Run (web.go).
	Web WebOptions
	// Listen, when set, overrides the policy file's listen address
	// (--web.listen-address, repeatable): Run serves on every one.
	Listen []string
	// Listener, when set, is the socket Run serves on instead of one it
	// opens (rotatord dev opens it first, to fail before printing anything).
	// Run closes it.
	Listener net.Listener
	// CallerReports says the caller (once, plan) shows every outcome and a
	// failed pass itself: RunPass then logs no error or outcome of its own,
	// only its summary line, so each problem is told once.
	CallerReports bool
}

// Daemon is a loaded rotatord. Create with New, then Run, Once or Plan.
type Daemon struct {
	opts Options
	log  *zap.Logger
	// stopping is set when a stop begins (SIGTERM, SIGINT): the passes
	// in flight start no new rotation (rotation.Config.Stopping).
	stopping atomic.Bool
	// fingerprints numbers the policies' Fingerprints (policyFingerprint).
	fingerprints atomic.Uint64
	// ownAPIs are the API clients of the setup in force, whose keys are
	// the ones rotatord signs with (ownKeyIDs), read without d.mu.
	ownAPIs atomic.Pointer[[]*apiclient.Client]
	// listening is the listen address of the config `run` bound, taken
	// from the config (no --web.listen-address, no listener given): a
	// reload that changes listen is told it takes effect at restart.
	listening atomic.Pointer[string]
	reg       *prometheus.Registry
	metrics   *metrics.Metrics
	// kube shares Kubernetes clients between Secret sinks (and the
	// Lease and state backend), one per kubeconfig and context.
	kube kubeclient.Cache
	// deleterWake tells the deletion timer (deleteLoop) that wakeAt
	// holds a deletion scheduled since it last looked.
	deleterWake chan struct{}
	wakeMu      sync.Mutex
	wakeAt      time.Time // the earliest of them; zero: none
	// elector is the Lease election with leader_election, else nil: then
	// this process always acts.
	elector *leader.Elector
	// journalMu orders a standby's journal refresh, with the reload
	// checked against it, and a new leader's journal read, with its check
	// that the policies strand nothing: a refresh answered late must not
	// replace what the leader has written since. journalLed: this replica
	// leads with the journal it read as the leader (a refresh is then not
	// needed, and would be wrong).
	journalMu  sync.Mutex
	journalLed atomic.Bool

	mu      sync.Mutex
	current *setup
	// accounts hold each account's state and engine (accounts.go). They
	// live as long as the daemon, or until a reload removes the account:
	// an engine's per-name locks must cover work started under an old
	// config and under a reloaded one alike.
	accounts map[string]*account
	// removedHooks are the engines of accounts a reload removed whose
	// on_failure hooks still ran then: a stop cancels those too. Guarded
	// by mu.
	removedHooks []removedEngine

	// view is what recordView.Version last saw.
	view viewVersion

	reloadReq chan chan error
	// reloadStop is closed once Run's reload loop takes no more requests
	// (a stop began): a /-/reload still waiting to hand its request over
	// is answered instead of holding the servers' shutdown. Set by Run.
	reloadStop atomic.Pointer[chan struct{}]
	// reloadsWaiting counts the /-/reload requests being served
	// (maxReloadsWaiting).
	reloadsWaiting atomic.Int32
}

// setup is everything built from one version of the policy file.
type setup struct {
	cfg      *config.Config
	accounts []*accountSetup // in the file's order
	// accountOf maps every policy name (own-key ones included) to its
	// account.
	accountOf map[string]string
	// kept are accounts whose credential a reload could not read and
	// that keep the setup in force before (keepWorkingAccounts).
	kept map[string]bool
}

// accountSetup is what one version of the policy file builds for one
// account.
type accountSetup struct {
	name        string
	exo         *config.Exoscale
	api         *apiclient.Client
	ownKeyID    string
	concurrency int
	policies    []rotation.Policy
	// err: the account's credential could not be read. Its passes fail
	// with err; the other accounts work on.
	err error
}

func (s *setup) account(name string) *accountSetup {
	for _, a := range s.accounts {
		if a.name == name {
			return a
		}
	}
	return nil
}

// builtPolicies returns the policies this setup built (not those of the
// accounts it kept from the setup before): what to close when it is not
// installed.
func (s *setup) builtPolicies() []rotation.Policy {
	var out []rotation.Policy
	for _, a := range s.accounts {
		if !s.kept[a.name] {
			out = append(out, a.policies...)
		}
	}
	return out
}

// allPolicies returns every built policy, account by account.
func (s *setup) allPolicies() []rotation.Policy {
	var out []rotation.Policy
	for _, a := range s.accounts {
		out = append(out, a.policies...)
	}
	return out
}

// New loads the policy file and opens the state directory. An invalid file
// is an error (a *config.Errors lists every problem).
func New(opts Options) (*Daemon, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	if opts.DeleteCheckInterval <= 0 {
		opts.DeleteCheckInterval = 15 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg, err := config.Load(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	return newWithConfig(opts, cfg)
}

// newWithConfig is New for a config already loaded: it opens the state
// directory of every account (without its lock when opts.ReadOnly), and
// builds the engines, the clients and the sinks.
func newWithConfig(opts Options, cfg *config.Config) (*Daemon, error) {
	d := &Daemon{
		opts: opts, log: opts.Logger, reg: opts.Registry,
		accounts: map[string]*account{}, reloadReq: make(chan chan error), deleterWake: make(chan struct{}, 1),
	}
	d.metrics = metrics.New(opts.Registry, recordView{d})
	d.metrics.SetAPILimits(d.apiLimits)
	d.kube.Gate = d.claim // asks the elector, once there is one
	el, err := d.newElector(cfg)
	if err != nil {
		return nil, err
	}
	d.elector = el
	if el == nil {
		// Nothing to fence: the Kubernetes and Vault writes keep their
		// clients' transports as they are (HTTP/2 included).
		d.kube.Gate = nil
	}
	if el == nil {
		d.metrics.SetLeader(func() bool { return true })
	} else {
		d.metrics.SetLeader(el.Acting)
	}
	if !opts.ReadOnly {
		if err := checkAbandoned(cfg); err != nil {
			return nil, err
		}
	}
	for _, a := range cfg.AccountsInUse() {
		acct, err := d.openAccount(cfg, a)
		if err != nil {
			d.closeAccounts()
			return nil, err
		}
		d.accounts[a.Name] = acct
	}
	s, err := d.build(cfg)
	if err != nil {
		d.closeAccounts()
		return nil, err
	}
	if err := d.install(context.Background(), s, nil); err != nil {
		// A policy file that strands a rotation in flight is refused at
		// start as on reload: nothing would finish it.
		d.closeAccounts()
		return nil, err
	}
	d.metrics.ConfigLoaded(true)
	return d, nil
}

// createSettle is how long after a create whose outcome is unknown rotatord
// keeps looking for the key it may have made: twice the request timeout,
// so a create the API applied at the very end of its timeout still shows.
func createSettle(timeout time.Duration) time.Duration {
	return max(2*timeout, 10*time.Second)
}

// Close stops the background work of the sinks (Vault token renewal) and
// releases the state directories.
func (d *Daemon) Close() error {
	d.mu.Lock()
	cur := d.current
	d.mu.Unlock()
	if cur != nil {
		closeSinks(cur.allPolicies())
	}
	d.mu.Lock()
	accounts := maps.Clone(d.accounts)
	removed := slices.Clone(d.removedHooks)
	d.mu.Unlock()
	stoppers := map[string]hookStopper{}
	for name, a := range accounts {
		stoppers[name] = a.engine
	}
	for i, r := range removed {
		stoppers[fmt.Sprintf("%s (removed by a reload, #%d)", r.name, i+1)] = r.engine
	}
	// on_failure hooks still running: a few seconds, not their whole
	// bound (systemd's stop timeout is 45 s); then they are cancelled (an
	// exec hook killed), not left running past rotatord.
	for _, name := range stopHooks(stoppers, hookStopWait) {
		d.log.Warn("stopping with on_failure hooks still running: cancelled; they run again at the next start", zap.String("account", name))
	}
	return d.closeAccounts()
}

// waitHooks waits, at most wait, for the on_failure hooks every account
// still runs, all accounts at once; it cancels none.
func (d *Daemon) waitHooks(wait time.Duration) {
	d.mu.Lock()
	engines := make([]*rotation.Engine, 0, len(d.accounts))
	for _, a := range d.accounts {
		engines = append(engines, a.engine)
	}
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range engines {
		wg.Go(func() { e.WaitHooks(wait) })
	}
	wg.Wait()
}

// hookStopWait is how long a stop waits for the on_failure hooks still
// running before it cancels them.
const hookStopWait = 5 * time.Second

// removedEngine is the engine of an account a reload removed.
type removedEngine struct {
	name   string
	engine *rotation.Engine
}

// hookStopper is an account's engine as a stop sees it.
type hookStopper interface {
	StopHooks(max time.Duration) bool
}

// stopHooks stops the hooks of every account at once, each given wait, so
// that a stop takes wait however many accounts have hooks running (one
// after the other, ten accounts took 50 s, past systemd's stop timeout).
// It returns the accounts whose hooks had to be cancelled.
func stopHooks(accounts map[string]hookStopper, wait time.Duration) []string {
	var (
		mu        sync.Mutex
		cancelled []string
		wg        sync.WaitGroup
	)
	for name, e := range accounts {
		wg.Go(func() {
			if !e.StopHooks(wait) {
				mu.Lock()
				cancelled = append(cancelled, name)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(cancelled)
	return cancelled
}

// Now reads the daemon's clock.
func (d *Daemon) Now() time.Time { return d.opts.Now() }

// Config returns the policy file in force.
func (d *Daemon) Config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current.cfg
}

// apiLimits is what each account's API client allows itself now, for the
// metrics.
func (d *Daemon) apiLimits() []metrics.APILimits {
	s := d.setup()
	if s == nil {
		return nil
	}
	var out []metrics.APILimits
	for _, a := range s.accounts {
		if a.api == nil {
			continue
		}
		r, n := a.api.Limits()
		out = append(out, metrics.APILimits{Account: a.name, Rate: r, InFlight: n})
	}
	return out
}

func (d *Daemon) setup() *setup {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current
}

// build makes the clients, the sinks and the policies of every account of
// a config. It changes nothing. An account whose credential cannot be
// read is built with that error when several accounts are in use (the
// others work on); with one, the error is the build's.
func (d *Daemon) build(cfg *config.Config) (*setup, error) {
	s := &setup{cfg: cfg, accountOf: map[string]string{}}
	in := cfg.AccountsInUse()
	for _, a := range in {
		as, err := d.buildAccount(cfg, a)
		if err != nil {
			var ce credentialError
			if len(in) > 1 && errors.As(err, &ce) {
				d.log.Error("account left out: its credential cannot be read; the other accounts work on",
					zap.String("account", a.Name), zap.Error(err))
				as = &accountSetup{name: a.Name, exo: a.Exoscale, err: err}
			} else {
				closeSinks(s.allPolicies())
				if len(in) > 1 {
					err = fmt.Errorf("account %s: %w", a.Name, err)
				}
				return nil, err
			}
		}
		s.accounts = append(s.accounts, as)
	}
	for _, p := range cfg.Policies {
		s.accountOf[p.Name] = p.AccountOf()
	}
	for _, a := range in {
		if a.OwnKey != nil {
			s.accountOf[config.SelfPolicyName(a.Name)] = a.Name
		}
	}
	return s, nil
}

// credentialError is an account's credential that cannot be read.
type credentialError struct{ err error }

func (e credentialError) Error() string { return "exoscale credentials: " + e.err.Error() }
func (e credentialError) Unwrap() error { return e.err }

// buildAccount makes one account's client, sinks and policies.
func (d *Daemon) buildAccount(cfg *config.Config, a config.NamedAccount) (*accountSetup, error) {
	e := a.Exoscale
	var store sinks.Sink
	if e.CredentialFrom != "" {
		var err error
		if store, err = credentialStore(a, d.log, d.opts.Getenv, d.kube.Gate); err != nil {
			return nil, credentialError{err}
		}
	}
	closeStore := func() {
		if store != nil {
			closeSinks([]rotation.Policy{{Sinks: []sinks.Sink{store}}})
		}
	}
	rctx, cancel := context.WithTimeout(context.Background(), storeReadTimeout(e))
	creds, err := readCredentials(rctx, e, store, d.opts.Getenv)
	cancel()
	if err != nil {
		closeStore()
		return nil, credentialError{err}
	}
	if fstore, ok := store.(*file.Sink); ok && e.OwnKey != nil && !d.opts.ReadOnly {
		// The credential file is the store's from now on: marked, every
		// policy's sink refuses it, whatever spelling of its path reaches
		// it (file.Sink.MarkOwn). Not by plan or validate --online
		// (ReadOnly), which change nothing.
		mctx, cancel := context.WithTimeout(context.Background(), storeReadTimeout(e))
		if err := fstore.MarkOwn(mctx, ""); err != nil && !file.IsNoXattr(err) {
			d.log.Warn("cannot mark the credential file as rotatord's own; a sink reaching it through another device's spelling of its path (a FUSE mirror, a second NFS mount) is not refused until the first own rotation rewrites it",
				zap.String("account", a.Name), zap.String("credential_file", e.CredentialFile), zap.Error(err))
		}
		cancel()
	}
	if e.CredentialFile != "" {
		if fi, err := os.Stat(e.CredentialFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			d.log.Warn("the credential file is readable or writable by others: chmod 0600 it", zap.String("account", a.Name),
				zap.String("credential_file", e.CredentialFile), zap.String("mode", fmt.Sprintf("%04o", fi.Mode().Perm())))
		}
	}
	if msg := config.WorldReadableSecretFile(e.APISecretFile); msg != "" {
		d.log.Warn("the api_secret_file is readable by every user: "+msg, zap.String("account", a.Name),
			zap.String("api_secret_file", e.APISecretFile))
	}
	for _, f := range []struct{ field, path string }{{"api_key_file", e.APIKeyFile}, {"api_secret_file", e.APISecretFile}} {
		if msg := config.ReplaceableCredentialFile(f.path); msg != "" {
			d.log.Warn("another user can replace the "+f.field+": "+msg, zap.String("account", a.Name), zap.String(f.field, f.path))
		}
	}
	if e.InsecureHTTP && config.CheckTransport(e.ResolvedEndpoint(), false) != nil {
		d.log.Warn("PLAIN HTTP TO THE EXOSCALE API (insecure_http): every new secret crosses the network in clear; use it only in tests",
			zap.String("account", a.Name), zap.String("endpoint", apiclient.RedactURL(e.ResolvedEndpoint())))
	}
	name := a.Name
	api, err := apiclient.New(apiclient.Config{
		Endpoint:        e.ResolvedEndpoint(),
		InsecureHTTP:    e.InsecureHTTP,
		Credentials:     creds,
		Timeout:         e.Timeout.Duration(),
		MaxRetries:      retries(e.MaxRetries),
		RateLimit:       e.RateLimit,
		Burst:           max(1, int(e.RateLimit)),
		Concurrency:     e.Concurrency,
		Gate:            d.claimFunc(),
		UserAgentSuffix: d.replicaUA(),
		Observe: func(op, code string, elapsed time.Duration) {
			d.metrics.ObserveAPI(name, op, code, elapsed)
		},
		OnRetry: func(op string, attempt int, wait time.Duration, err error) {
			d.log.Debug("retrying API request", zap.String("account", name), zap.String("operation", op), zap.Int("attempt", attempt),
				zap.Duration("wait", wait), zap.Error(err))
		},
	})
	if err != nil {
		closeStore()
		return nil, err
	}
	as := &accountSetup{name: a.Name, exo: e, api: api, ownKeyID: creds.Key, concurrency: e.Concurrency}
	protect := protectionOf(cfg, d.opts)
	protect.ownKeys = d.ownKeyIDs(api)
	for i := range cfg.Policies {
		p := &cfg.Policies[i]
		if p.AccountOf() != a.Name {
			continue
		}
		sk, err := buildSinks(p, d.log, d.opts.Getenv, &d.kube, protect)
		if err != nil {
			closeSinks(as.policies)
			closeStore()
			return nil, err
		}
		as.policies = append(as.policies, rotation.Policy{
			Name:        p.Name,
			Match:       p.Matches,
			MaxAge:      p.MaxAge.Duration(),
			GracePeriod: p.GracePeriod.Duration(),
			AdoptRotate: p.Adopt == config.AdoptRotate,
			Sinks:       sk,
			Windows:     p.WindowSet(),
			Jitter:      p.Jitter.Duration(),
			SinkCheck:   p.SinkCheck.Duration(),
			Hooks:       buildHooks(p),
			Fingerprint: d.policyFingerprint(cfg, p),
		})
	}
	if e.OwnKey != nil {
		as.policies = append(as.policies, selfPolicy(a.Name, e.OwnKey, store, api))
	} else {
		closeStore() // read once; nothing writes it
	}
	return as, nil
}

// ownKeyIDs returns the key ids rotatord signs with, asked when a sink
// needs them: every account's of the setup in force, and building's (the
// account whose sinks are being built, before its setup is in force). A
// client replaced by a reload that failed stays in force, and a key an own
// rotation switched to counts at once.
func (d *Daemon) ownKeyIDs(building *apiclient.Client) func() []string {
	return func() []string {
		ids := []string{building.Credentials().Key}
		if apis := d.ownAPIs.Load(); apis != nil {
			for _, api := range *apis {
				ids = append(ids, api.Credentials().Key)
			}
		}
		return ids
	}
}

// policyFingerprint identifies what cfg says of policy p: the one the
// setup in force gave it when the file says of it, and around it, what it
// said then (reflect.DeepEqual: a pointer's target, a compiled pattern),
// else a new one. A consumer check that a reload outlives ends the
// deletion only when the reload changed that (rotation.Policy.Fingerprint).
func (d *Daemon) policyFingerprint(cfg *config.Config, p *config.Policy) string {
	if old := d.setup(); old != nil && old.cfg != nil {
		i := slices.IndexFunc(old.cfg.Policies, func(q config.Policy) bool { return q.Name == p.Name })
		rest, oldRest := *cfg, *old.cfg
		rest.Policies, oldRest.Policies = nil, nil
		if as := old.account(p.AccountOf()); i >= 0 && as != nil && as.err == nil &&
			reflect.DeepEqual(old.cfg.Policies[i], *p) && reflect.DeepEqual(rest, oldRest) {
			for _, q := range as.policies {
				if q.Name == p.Name && q.Fingerprint != "" {
					return q.Fingerprint
				}
			}
		}
	}
	return strconv.FormatUint(d.fingerprints.Add(1), 10)
}

// rotationsInParallel is how many key names a pass handles at once when
// exoscale.concurrency requests may be in flight: twice as many. A rotation
// spends part of its time on local steps (state and sink writes, each made
// durable, Vault round trips) with no request in flight; with only as many
// rotations as requests, the API sat idle meanwhile, and a pass over 10000
// names took 1.22 times what the API allows (bench/). The API client still
// keeps requests in flight to exoscale.concurrency.
func rotationsInParallel(requests int) int { return 2 * requests }

// retries maps the config's "0 retries" onto the client's "-1 = none".
func retries(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// install puts a setup in force. Each engine refuses policies that would
// strand a rotation in flight; all are checked before any changes, and on
// a refusal the setup is closed and nothing changes. An account whose
// credential could not be read keeps the policies it had.
//
// A reload's install is abandoned, changing nothing (errReloadStopping),
// when ctx ends while it waits for the engines, or when mayCommit (if
// not nil), asked once every engine is locked and checked, says no: a
// stop has begun, and the reload's caller is told it did not apply.
func (d *Daemon) install(ctx context.Context, s *setup, mayCommit func() bool) error {
	d.mu.Lock()
	old := d.current
	accounts := maps.Clone(d.accounts)
	d.mu.Unlock()

	// New accounts (a reload added them) get their state and engine.
	var opened []string
	closeOpened := func() {
		for _, n := range opened {
			accounts[n].close()
		}
	}
	for _, a := range s.cfg.AccountsInUse() {
		if _, ok := accounts[a.Name]; ok {
			continue
		}
		acct, err := d.openAccount(s.cfg, a)
		if err != nil {
			closeOpened()
			closeSinks(s.builtPolicies())
			return err
		}
		accounts[a.Name] = acct
		opened = append(opened, a.Name)
	}
	// Every engine is locked (its handlers in flight finish first, and no
	// new one starts), all are checked, then all take the new setup or
	// none does: a rotation cannot start between the check and the swap.
	names := slices.Sorted(maps.Keys(accounts))
	var unlocks []func()
	unlockAll := func() {
		for _, u := range unlocks {
			u()
		}
	}
	for _, name := range names {
		unlock, ok := lockInstall(ctx, accounts[name].engine)
		if !ok {
			unlockAll()
			closeOpened()
			closeSinks(s.builtPolicies())
			return errReloadStopping
		}
		unlocks = append(unlocks, unlock)
	}
	var stranded []error
	for _, name := range names {
		acct := accounts[name]
		as := s.account(name)
		switch {
		case as == nil:
			if err := acct.engine.CheckLocked(rotation.Install{}); err != nil {
				stranded = append(stranded, fmt.Errorf("account %s, removed: %w", name, err))
			}
		case as.err == nil:
			if err := acct.engine.CheckLocked(rotation.Install{Policies: as.policies}); err != nil {
				stranded = append(stranded, prefixAccount(s, name, err))
			}
		}
	}
	if len(stranded) > 0 {
		unlockAll()
		closeOpened()
		closeSinks(s.builtPolicies())
		return errors.Join(stranded...)
	}
	// The point of no return: from here the setup goes in force. Asked
	// with every engine locked, so no handler holds the reload past it.
	if mayCommit != nil && !mayCommit() {
		unlockAll()
		closeOpened()
		closeSinks(s.builtPolicies())
		return errReloadStopping
	}
	// Not ctx: past the point of no return, a stop does not cut it.
	commitCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	for _, as := range s.accounts {
		if as.err != nil {
			continue
		}
		// The own key is the one the client signs with now: a kept
		// account's client may have rotated it since its setup was read.
		accounts[as.name].engine.CommitLocked(commitCtx, rotation.Install{
			Policies: as.policies, API: as.api, OwnKeyID: as.api.Credentials().Key, Concurrency: rotationsInParallel(as.concurrency),
		})
		accounts[as.name].engine.SetCreateSettle(createSettle(as.exo.Timeout.Duration()))
	}
	cancel()
	unlockAll()
	var removed []*account
	for name, acct := range accounts {
		if s.account(name) == nil {
			removed = append(removed, acct)
			delete(accounts, name)
		}
	}
	apis := make([]*apiclient.Client, 0, len(s.accounts))
	for _, as := range s.accounts {
		if as.api != nil {
			apis = append(apis, as.api)
		}
	}
	d.ownAPIs.Store(&apis)
	d.mu.Lock()
	d.current = s
	d.accounts = accounts
	// A removed account's on_failure hooks still running finish in the
	// background (their success is not recorded: the journal is closed),
	// and a stop cancels them as it does the others'.
	d.removedHooks = slices.DeleteFunc(d.removedHooks, func(r removedEngine) bool { return !r.engine.HooksRunning() })
	for _, acct := range removed {
		if acct.engine.HooksRunning() {
			d.removedHooks = append(d.removedHooks, removedEngine{acct.name, acct.engine})
		}
	}
	d.mu.Unlock()
	for _, acct := range removed {
		acct.close()
	}
	if old != nil {
		// A pass that started before may still use them: closing a sink
		// only stops its background work. An account the new setup kept
		// as it was keeps its sinks open.
		for _, as := range old.accounts {
			if !s.kept[as.name] {
				closeSinks(as.policies)
			}
		}
	}
	d.metrics.SetPolicies(policyInfos(s))
	return nil
}

// repairOwnStores: before a reload reads the credentials again, an own
// key's store found holding no credential at all (emptied, removed) gets
// the working key written back, as the next own-key pass would do. Else
// the reload reads nothing there: an account whose policies it changes
// is left out, and its old client, which holds the only copy of the
// working secret, dropped: rotatord locked out of that organization for
// good. Only the replica that acts writes, and only to a store the new
// file still names: a credential file the operator moved (credential_file
// changed) must not be written again at its old path.
func (d *Daemon) repairOwnStores(cfg *config.Config) {
	if d.elector != nil && !d.journalLed.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, a := range d.accountsInForce() {
		if !sameCredentialStore(d.Config(), cfg, a.name) {
			continue
		}
		if a.engine.OwnStoreEmpty(ctx) {
			a.engine.FollowOwnKey(ctx)
		}
	}
}

// sameCredentialStore reports whether two versions of the file give an
// account the same credential store: the same file, or the same Vault
// secret (address, namespace, mount and path; its auth may change).
func sameCredentialStore(a, b *config.Config, account string) bool {
	find := func(c *config.Config) *config.Exoscale {
		for _, na := range c.AccountsInUse() {
			if na.Name == account {
				return na.Exoscale
			}
		}
		return nil
	}
	x, y := find(a), find(b)
	if x == nil || y == nil || x.CredentialFrom != y.CredentialFrom || x.CredentialFile != y.CredentialFile {
		return false
	}
	if v, w := x.CredentialVault, y.CredentialVault; v != nil || w != nil {
		return v != nil && w != nil && v.Address == w.Address && v.Namespace == w.Namespace && v.Mount == w.Mount && v.Path == w.Path
	}
	return true
}

// keepWorkingAccounts: an account whose credential a reload cannot read,
// and that worked under the setup in force, keeps that setup (its client,
// which still signs, and its policies) instead of stopping; the reload of
// the other accounts goes on. The next reload tries again.
func (d *Daemon) keepWorkingAccounts(s *setup) {
	old := d.setup()
	if old == nil {
		return
	}
	for i, as := range s.accounts {
		var ce credentialError
		if as.err == nil || !errors.As(as.err, &ce) {
			continue
		}
		prev := old.account(as.name)
		if prev == nil || prev.err != nil || !samePolicies(s.cfg, old.cfg, as.name) {
			// The file changed the account's policies (moved one to
			// another account, removed one): keeping the old ones would
			// run a policy twice or one the file no longer has.
			continue
		}
		d.log.Error("reload: an account's credential cannot be read; it keeps its previous configuration", zap.String("account", as.name), zap.Error(as.err))
		s.accounts[i] = prev
		if s.kept == nil {
			s.kept = map[string]bool{}
		}
		s.kept[as.name] = true
		for _, p := range prev.policies {
			s.accountOf[p.Name] = as.name
		}
	}
}

// samePolicies reports whether two versions of the file give an account
// the same policies (by name) and the same own_key presence.
func samePolicies(a, b *config.Config, account string) bool {
	names := func(c *config.Config) []string {
		var out []string
		for _, p := range c.Policies {
			if p.AccountOf() == account {
				out = append(out, p.Name)
			}
		}
		for _, na := range c.AccountsInUse() {
			if na.Name == account && na.OwnKey != nil {
				out = append(out, config.SelfPolicyName(account))
			}
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(names(a), names(b))
}

// prefixAccount names the account in an error when the file has several.
func prefixAccount(s *setup, account string, err error) error {
	return &accountError{account: account, err: err, named: len(s.accounts) > 1}
}

// accountError is the failure of one account's part of a pass (or of its
// setup), named after the account when there are several.
type accountError struct {
	account string
	err     error
	named   bool
}

func (e *accountError) Error() string {
	if e.named {
		return "account " + e.account + ": " + e.err.Error()
	}
	return e.err.Error()
}

func (e *accountError) Unwrap() error { return e.err }

// failedAccounts are the accounts whose part of a pass failed, from
// RunPass's error.
func failedAccounts(err error) map[string]bool {
	failed := map[string]bool{}
	var walk func(error)
	walk = func(err error) {
		if a, ok := err.(*accountError); ok {
			failed[a.account] = true
			return
		}
		switch w := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range w.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(w.Unwrap())
		}
	}
	walk(err)
	return failed
}

// policyInfos describes every policy for the metrics: those built, and
// those of an account left out (their passes fail, and count).
func policyInfos(s *setup) []metrics.PolicyInfo {
	var infos []metrics.PolicyInfo
	for _, as := range s.accounts {
		if as.err != nil {
			for i := range s.cfg.Policies {
				if p := &s.cfg.Policies[i]; p.AccountOf() == as.name {
					infos = append(infos, metrics.PolicyInfo{Name: p.Name, Account: as.name, MaxAge: p.MaxAge.Duration(), Jitter: p.Jitter.Duration(), Windows: p.WindowSet(), GracePeriod: p.GracePeriod.Duration(),
						Hooks: hookInfos(buildHooks(p))})
				}
			}
			if o := as.exo.OwnKey; o != nil {
				infos = append(infos, metrics.PolicyInfo{Name: config.SelfPolicyName(as.name), Account: as.name, MaxAge: o.MaxAge.Duration()})
			}
			continue
		}
		for _, p := range as.policies {
			// The own-key policy counts its credential store found lost
			// (rotation.ownStoreLost): its series start at zero too, or
			// the first loss, born at 1, shows no increase() and
			// RotatordSinkLostKey never fires for it.
			info := metrics.PolicyInfo{Name: p.Name, Account: as.name, MaxAge: p.MaxAge, Jitter: p.Jitter, Windows: p.Windows, GracePeriod: p.GracePeriod, SinkCheck: p.SinkCheck > 0 || p.Self != nil}
			for i, sk := range p.Sinks {
				info.Sinks = append(info.Sinks, rotation.SinkLabel(i, sk.Kind()))
			}
			info.Hooks = hookInfos(p.Hooks)
			infos = append(infos, info)
		}
	}
	return infos
}

// Reload reads the policy file again. On any error the old config stays in
// force, and the error says why.
func (d *Daemon) Reload() error { return d.reload(context.Background(), nil) }

// lockInstall locks e for an install (rotation.Engine.LockInstall), unless
// ctx ends first (false): a reload abandoned at a stop must not wait for
// a handler in flight (an API request, a sink's write) that the stop
// itself lets run for up to ShutdownTimeout. The lock, once taken after
// all, is let go at once.
func lockInstall(ctx context.Context, e *rotation.Engine) (func(), bool) {
	if ctx.Done() == nil {
		return e.LockInstall(), true
	}
	if ctx.Err() != nil {
		// Abandoned before it reached e (it was reading the file or the
		// credentials as the stop began): LockInstall would announce a
		// reload, so that e's handlers in flight give up their API waits
		// (their names fail) and those starting skip their names during
		// the stop, for a reload already answered as not applied.
		return nil, false
	}
	locked := make(chan func(), 1)
	go func() { locked <- e.LockInstall() }()
	select {
	case unlock := <-locked:
		if ctx.Err() == nil {
			return unlock, true
		}
		unlock()
	case <-ctx.Done():
		go func() { (<-locked)() }()
	}
	return nil, false
}

// reload is Reload, abandoned (errReloadStopping, nothing changed) when
// ctx ends before the new setup goes in force, or when mayCommit (not
// nil) says no at that point (install). Run's reload loop passes a ctx
// that ends, and a mayCommit that says no, once the stop has begun: a
// reload that has not applied then does not, and its caller is told so
// at once, instead of an answer that comes after the web servers' grace
// (or the process's exit), or never.
func (d *Daemon) reload(ctx context.Context, mayCommit func() bool) error {
	// The web configuration is not reloaded (the toolkit reads it at each
	// connection), but a named pipe planted at it or a TLS file it names
	// since the start is reported here, as the start refuses it.
	err := checkWebConfigFiles(d.opts.Web.ConfigFile)
	var cfg *config.Config
	if err == nil {
		cfg, err = config.Load(d.opts.ConfigPath)
	}
	if err == nil {
		old := d.Config()
		switch {
		case cfg.StateDir != old.StateDir:
			err = fmt.Errorf("state_dir changed from %s to %s: restart rotatord to move it", old.StateDir, cfg.StateDir)
		case cfg.State != old.State:
			err = errors.New("state changed: restart rotatord to move the journal (rotatord state export / import)")
		case !reflect.DeepEqual(cfg.LeaderElection, old.LeaderElection):
			err = errors.New("leader_election changed: restart every replica to change it")
		}
	}
	if err == nil && cfg.State.Kubernetes() {
		// The journal's client checks the files its kubeconfig names
		// again (kubeclient.Cache) before the refresh below uses it.
		_, err = d.kube.Client(cfg.State.Kubeconfig, cfg.State.Context)
	}
	if err == nil && cfg.State.Kubernetes() {
		d.journalMu.Lock()
		defer d.journalMu.Unlock()
		ctx, cancel := context.WithTimeout(ctx, kubeclient.RequestTimeout)
		err = d.refreshStandbyJournals(ctx)
		cancel()
	}
	var s *setup
	if err == nil {
		d.repairOwnStores(cfg)
		s, err = d.build(cfg)
	}
	if err == nil {
		d.keepWorkingAccounts(s)
		err = d.install(ctx, s, mayCommit)
	}
	if err != nil && (errors.Is(err, errReloadStopping) || ctx.Err() != nil) {
		// Not the file's fault: rotatord_config_last_reload_successful
		// stays as it was, and the log says the file was not applied.
		d.log.Warn("reload abandoned: rotatord is stopping; the configuration was not reloaded", zap.String("config", d.opts.ConfigPath))
		return errReloadStopping
	}
	if err != nil {
		d.metrics.ConfigLoaded(false)
		d.log.Error("reload rejected; keeping the previous configuration", zap.String("config", d.opts.ConfigPath), zap.Error(err))
		return err
	}
	if bound := d.listening.Load(); bound != nil && cfg.Listen != *bound {
		d.log.Warn("listen address changed: takes effect at restart", zap.String("listen", cfg.Listen), zap.String("listening_on", *bound))
	}
	d.metrics.ConfigLoaded(true)
	d.log.Info("configuration reloaded", zap.String("config", d.opts.ConfigPath), zap.Int("policies", len(cfg.Policies)))
	return nil
}

// RunPass runs one pass of the named policies (all when empty) and logs
// every outcome. It is what a cron tick, `once` and `plan` call. Each
// account's policies run on its engine, the accounts in parallel; an
// account whose listing fails fails its own policies only: the outcomes
// of the others come back with the error.
func (d *Daemon) RunPass(ctx context.Context, policies []string, opts rotation.Options) ([]rotation.Outcome, error) {
	s := d.setup()
	start := time.Now()
	byAccount := map[string][]string{}
	for _, n := range policies {
		a, ok := s.accountOf[n]
		if !ok {
			return nil, fmt.Errorf("no policy named %q", n)
		}
		byAccount[a] = append(byAccount[a], n)
	}
	type result struct {
		out   []rotation.Outcome
		err   error
		names []string
	}
	results := make([]result, len(s.accounts))
	var wg sync.WaitGroup
	for i, as := range s.accounts {
		names := byAccount[as.name]
		if len(policies) > 0 && len(names) == 0 {
			continue
		}
		if len(names) == 0 {
			for _, p := range s.cfg.Policies {
				if p.AccountOf() == as.name {
					names = append(names, p.Name)
				}
			}
			if as.exo.OwnKey != nil {
				names = append(names, config.SelfPolicyName(as.name))
			}
		}
		results[i].names = names
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i].out, results[i].err = d.accountPass(ctx, as, names, opts)
		}()
	}
	wg.Wait()

	var out []rotation.Outcome
	var errs []error
	var names, accounts, failedAccounts []string
	for i, r := range results {
		if len(r.names) > 0 {
			accounts = append(accounts, s.accounts[i].name)
		}
		if out == nil {
			// No copy with one account: at 10,000 names copying the
			// outcomes cost up to 7 ms of a 60 ms pass (its pages).
			out = slices.Clip(r.out)
		} else {
			out = append(out, r.out...)
		}
		names = append(names, r.names...)
		if r.err != nil {
			errs = append(errs, prefixAccount(s, s.accounts[i].name, r.err))
			failedAccounts = append(failedAccounts, s.accounts[i].name)
		}
	}
	err := errors.Join(errs...)
	took := time.Since(start)
	if err != nil && !d.opts.CallerReports {
		d.log.Error("pass failed", zap.Strings("policies", names), zap.Strings("accounts", failedAccounts), zap.Error(err))
	}
	if !opts.DryRun && (err == nil || len(out) > 0) {
		d.log.Info("pass done", append(passSummary(names, out, took), zap.Strings("accounts", accounts))...)
	}
	if d.opts.CallerReports {
		return out, err
	}
	for _, o := range out {
		if o.Err != nil || o.Decision.Action != rotation.ActionNone {
			fields := []zap.Field{
				zap.String("account", s.accountOf[o.Policy]), zap.String("policy", o.Policy), zap.String("name", o.Name),
				zap.String("action", string(o.Decision.Action)), zap.String("reason", string(o.Decision.Reason)),
			}
			if o.Err != nil {
				d.log.Warn("pass outcome", append(fields, zap.Error(o.Err))...)
			} else {
				d.log.Debug("pass outcome", fields...)
			}
		}
	}
	return out, err
}

// accountPass runs a pass of one account's policies and notes whether its
// API answered.
func (d *Daemon) accountPass(ctx context.Context, as *accountSetup, names []string, opts rotation.Options) ([]rotation.Outcome, error) {
	acct := d.account(as.name)
	var out []rotation.Outcome
	err := as.err
	if err == nil {
		if !opts.DryRun {
			// Ready as soon as the listing answers: the rest of the pass
			// may wait long on a consumer check.
			opts.OnListed = func() {
				acct.apiTried.Store(true)
				acct.apiOK.Store(true)
			}
		}
		out, err = acct.engine.Pass(ctx, names, opts)
	}
	if !opts.DryRun {
		acct.apiTried.Store(true)
		acct.apiOK.Store(err == nil || !isAPIError(err) && as.err == nil)
		for _, n := range names {
			d.metrics.PassDone(n, err == nil)
		}
	}
	return out, err
}

// passSummary is the one line a pass logs: a long pass shows it ended,
// and what it did.
func passSummary(policies []string, out []rotation.Outcome, took time.Duration) []zap.Field {
	var rotated, recovered, deleted, failed int
	for _, o := range out {
		switch {
		case o.Err != nil:
			failed++
		case o.Decision.Action == rotation.ActionRotate:
			rotated++
		case o.Decision.Action == rotation.ActionRecover:
			recovered++
		case o.Decision.Action == rotation.ActionDelete:
			deleted++
		}
	}
	return []zap.Field{
		zap.Strings("policies", policies), zap.Int("names", len(out)),
		zap.Int("rotated", rotated), zap.Int("recovered", recovered), zap.Int("deleted", deleted),
		zap.Int("failed", failed), zap.Duration("duration", took),
	}
}

// DeleteDue deletes the old keys whose grace period is over, in every
// account.
func (d *Daemon) DeleteDue(ctx context.Context, opts ...rotation.Options) []rotation.Outcome {
	s := d.setup()
	var out []rotation.Outcome
	for _, as := range s.accounts {
		if as.err != nil {
			continue
		}
		out = append(out, d.account(as.name).engine.DeleteDue(ctx, opts...)...)
	}
	return out
}

func isAPIError(err error) bool {
	var e *apiclient.Error
	return errors.As(err, &e)
}

// Ready reports whether the daemon can do its job: config loaded and the
// API of every account reachable at the last attempt.
func (d *Daemon) Ready() (bool, string) {
	if !d.Leading() {
		return true, "standby: another replica leads"
	}
	s := d.setup()
	var notTried, failed []string
	for _, as := range s.accounts {
		acct := d.account(as.name)
		switch {
		case acct == nil || !acct.apiTried.Load():
			notTried = append(notTried, as.name)
		case !acct.apiOK.Load():
			failed = append(failed, as.name)
		}
	}
	several := len(s.accounts) > 1
	switch {
	case len(failed) > 0 && several:
		return false, "the last Exoscale API listing failed for account " + strings.Join(failed, ", ")
	case len(failed) > 0:
		return false, "the last Exoscale API listing failed"
	case len(notTried) > 0:
		return false, "no pass has run yet"
	}
	return true, "ok"
}

// Handler serves /, /metrics, /healthz and /-/healthy, /readyz and /-/ready, and POST /-/reload.
func (d *Daemon) Handler() http.Handler {
	return newHandler(d)
}
