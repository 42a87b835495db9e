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
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/metrics"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// Options configure a daemon.
type Options struct {
	ConfigPath string
	Logger     *zap.Logger
	// Registry receives the metrics and backs /metrics; default a new one.
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
	// (--web.listen-address).
	Listen string
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
	opts    Options
	log     *zap.Logger
	reg     *prometheus.Registry
	metrics *metrics.Metrics
	store   *state.Store

	// engine lives as long as the daemon: its per-name locks must cover
	// work started under an old config and under a reloaded one alike.
	engine *rotation.Engine

	mu      sync.Mutex
	current *setup

	apiOK     atomic.Bool // the last key listing succeeded
	apiTried  atomic.Bool
	reloadReq chan chan error
}

// setup is everything built from one version of the policy file.
type setup struct {
	cfg         *config.Config
	api         apiclient.API
	ownKeyID    string
	concurrency int
	policies    []rotation.Policy
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
// directory (without its lock when opts.ReadOnly), and builds the engine,
// the client and the sinks.
func newWithConfig(opts Options, cfg *config.Config) (*Daemon, error) {
	open := state.Open
	if opts.ReadOnly {
		open = state.OpenReadOnly
	}
	store, err := open(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		opts: opts, log: opts.Logger, reg: opts.Registry, store: store,
		reloadReq: make(chan chan error),
	}
	d.metrics = metrics.New(opts.Registry, store)
	d.engine = rotation.New(rotation.Config{
		Store: store, Logger: d.log, Recorder: d.metrics, Now: d.opts.Now, ReadOnly: opts.ReadOnly,
		CreateSettle: createSettle(cfg.Exoscale.Timeout.Duration()),
	})
	s, err := d.build(cfg)
	if err != nil {
		store.Close()
		return nil, err
	}
	if err := d.install(s); err != nil {
		// A policy file that strands a rotation in flight is refused at
		// start as on reload: nothing would finish it.
		store.Close()
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
// releases the state directory.
func (d *Daemon) Close() error {
	d.mu.Lock()
	cur := d.current
	d.mu.Unlock()
	if cur != nil {
		closeSinks(cur.policies)
	}
	return d.store.Close()
}

// Now reads the daemon's clock.
func (d *Daemon) Now() time.Time { return d.opts.Now() }

// Config returns the policy file in force.
func (d *Daemon) Config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current.cfg
}

func (d *Daemon) setup() *setup {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current
}

// build makes the client, the sinks and the engine for a config. It makes
// no request and changes nothing.
func (d *Daemon) build(cfg *config.Config) (*setup, error) {
	var store sinks.Sink
	if cfg.Exoscale.CredentialFrom != "" {
		var err error
		if store, err = credentialStore(cfg, d.log, d.opts.Getenv); err != nil {
			return nil, fmt.Errorf("exoscale credentials: %w", err)
		}
	}
	closeStore := func() {
		if store != nil {
			closeSinks([]rotation.Policy{{Sinks: []sinks.Sink{store}}})
		}
	}
	rctx, cancel := context.WithTimeout(context.Background(), storeReadTimeout(cfg))
	creds, err := readCredentials(rctx, cfg, store, d.opts.Getenv)
	cancel()
	if err != nil {
		closeStore()
		return nil, fmt.Errorf("exoscale credentials: %w", err)
	}
	if cfg.Exoscale.InsecureHTTP && config.CheckTransport(cfg.Endpoint(), false) != nil {
		d.log.Warn("PLAIN HTTP TO THE EXOSCALE API (exoscale.insecure_http): every new secret crosses the network in clear; use it only in tests", zap.String("endpoint", apiclient.RedactURL(cfg.Endpoint())))
	}
	api, err := apiclient.New(apiclient.Config{
		Endpoint:    cfg.Endpoint(),
		Credentials: creds,
		Timeout:     cfg.Exoscale.Timeout.Duration(),
		MaxRetries:  retries(cfg.Exoscale.MaxRetries),
		RateLimit:   cfg.Exoscale.RateLimit,
		Burst:       max(1, int(cfg.Exoscale.RateLimit)),
		Concurrency: cfg.Exoscale.Concurrency,
		Observe:     d.metrics.ObserveAPI,
		OnRetry: func(op string, attempt int, wait time.Duration, err error) {
			d.log.Debug("retrying API request", zap.String("operation", op), zap.Int("attempt", attempt),
				zap.Duration("wait", wait), zap.Error(err))
		},
	})
	if err != nil {
		closeStore()
		return nil, err
	}
	s := &setup{cfg: cfg, api: api}
	if cfg.Exoscale.OwnKey != nil {
		s.policies = append(s.policies, selfPolicy(cfg, store, api))
	} else {
		closeStore() // read once; nothing writes it
	}
	for i := range cfg.Policies {
		p := &cfg.Policies[i]
		sk, err := buildSinks(p, d.log, d.opts.Getenv)
		if err != nil {
			closeSinks(s.policies)
			return nil, err
		}
		s.policies = append(s.policies, rotation.Policy{
			Name:        p.Name,
			Match:       p.Matches,
			MaxAge:      p.MaxAge.Duration(),
			GracePeriod: p.GracePeriod.Duration(),
			AdoptRotate: p.Adopt == config.AdoptRotate,
			Sinks:       sk,
		})
	}
	s.ownKeyID, s.concurrency = creds.Key, cfg.Exoscale.Concurrency
	return s, nil
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

// install puts a setup in force. The engine refuses policies that would
// strand a rotation in flight; the setup is then closed and nothing changes.
func (d *Daemon) install(s *setup) error {
	if err := d.engine.SetPolicies(s.policies); err != nil {
		closeSinks(s.policies)
		return err
	}
	d.mu.Lock()
	old := d.current
	d.current = s
	d.mu.Unlock()
	d.engine.Reconfigure(s.api, s.ownKeyID, rotationsInParallel(s.concurrency))
	d.engine.SetCreateSettle(createSettle(s.cfg.Exoscale.Timeout.Duration()))
	if old != nil {
		// A pass that started before may still use them: closing a sink
		// only stops its background work.
		closeSinks(old.policies)
	}
	infos := make([]metrics.PolicyInfo, 0, len(s.policies))
	for _, p := range s.policies {
		info := metrics.PolicyInfo{Name: p.Name, MaxAge: p.MaxAge}
		for i, sk := range p.Sinks {
			info.Sinks = append(info.Sinks, rotation.SinkLabel(i, sk.Kind()))
		}
		infos = append(infos, info)
	}
	d.metrics.SetPolicies(infos)
	return nil
}

// Reload reads the policy file again. On any error the old config stays in
// force, and the error says why.
func (d *Daemon) Reload() error {
	cfg, err := config.Load(d.opts.ConfigPath)
	if err == nil {
		old := d.Config()
		if cfg.StateDir != old.StateDir {
			err = fmt.Errorf("state_dir changed from %s to %s: restart rotatord to move it", old.StateDir, cfg.StateDir)
		}
	}
	var s *setup
	if err == nil {
		s, err = d.build(cfg)
	}
	if err == nil {
		err = d.install(s)
	}
	if err != nil {
		d.metrics.ConfigLoaded(false)
		d.log.Error("reload rejected; keeping the previous configuration", zap.String("config", d.opts.ConfigPath), zap.Error(err))
		return err
	}
	if d.opts.Listen == "" && d.opts.Listener == nil && cfg.Listen != d.Config().Listen {
		d.log.Warn("listen address changed: takes effect at restart", zap.String("listen", cfg.Listen))
	}
	d.metrics.ConfigLoaded(true)
	d.log.Info("configuration reloaded", zap.String("config", d.opts.ConfigPath), zap.Int("policies", len(cfg.Policies)))
	return nil
}

// RunPass runs one pass of the named policies (all when empty) and logs
// every outcome. It is what a cron tick, `once` and `plan` call.
func (d *Daemon) RunPass(ctx context.Context, policies []string, opts rotation.Options) ([]rotation.Outcome, error) {
	s := d.setup()
	start := time.Now()
	out, err := d.engine.Pass(ctx, policies, opts)
	took := time.Since(start)
	names := policies
	if len(names) == 0 {
		for _, p := range s.policies {
			names = append(names, p.Name)
		}
	}
	if !opts.DryRun {
		d.apiTried.Store(true)
		d.apiOK.Store(err == nil || !isAPIError(err))
		for _, n := range names {
			d.metrics.PassDone(n, err == nil)
		}
	}
	if err != nil {
		if !d.opts.CallerReports {
			d.log.Error("pass failed", zap.Strings("policies", names), zap.Error(err))
		}
		return nil, err
	}
	if !opts.DryRun {
		d.log.Info("pass done", passSummary(names, out, took)...)
	}
	if d.opts.CallerReports {
		return out, nil
	}
	for _, o := range out {
		if o.Err != nil || o.Decision.Action != rotation.ActionNone {
			fields := []zap.Field{
				zap.String("policy", o.Policy), zap.String("name", o.Name),
				zap.String("action", string(o.Decision.Action)), zap.String("reason", string(o.Decision.Reason)),
			}
			if o.Err != nil {
				d.log.Warn("pass outcome", append(fields, zap.Error(o.Err))...)
			} else {
				d.log.Debug("pass outcome", fields...)
			}
		}
	}
	return out, nil
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

// DeleteDue deletes the old keys whose grace period is over.
func (d *Daemon) DeleteDue(ctx context.Context, opts ...rotation.Options) []rotation.Outcome {
	return d.engine.DeleteDue(ctx, opts...)
}

func isAPIError(err error) bool {
	var e *apiclient.Error
	return errors.As(err, &e)
}

// Ready reports whether the daemon can do its job: config loaded and the
// API reachable at the last attempt.
func (d *Daemon) Ready() (bool, string) {
	if !d.apiTried.Load() {
		return false, "no pass has run yet"
	}
	if !d.apiOK.Load() {
		return false, "the last Exoscale API listing failed"
	}
	return true, "ok"
}

// Handler serves /metrics, /healthz, /readyz and POST /-/reload.
func (d *Daemon) Handler() http.Handler {
	return newHandler(d)
}
