package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"k8s.io/klog/v2"

	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/daemon"
	"github.com/rotatord/rotatord/internal/memtrim"
	"github.com/rotatord/rotatord/internal/printable"
	"github.com/rotatord/rotatord/rotation"
)

type runFlags struct {
	common commonFlags
	listen []string // --web.listen-address, each given
	web    daemon.WebOptions
}

type onceFlags struct {
	common    commonFlags
	selection selectionFlags
	force     bool
	// ignoreWindows: --ignore-windows, rotate and delete outside windows.
	ignoreWindows bool
}

type planFlags struct {
	common    commonFlags
	selection selectionFlags
}

type validateFlags struct {
	common   commonFlags
	file     string // the positional FILE
	fileSet  bool   // FILE given, even empty
	fileOnly bool
	online   bool
	// webConfig is --web.config.file: also checked, as run checks it.
	webConfig string
}

// newDaemon makes the logger (writing to logTo) and loads the daemon with
// opts. The caller closes the daemon and syncs the log.
func (c *cli) newDaemon(f commonFlags, logTo io.Writer, opts daemon.Options) (*daemon.Daemon, *zap.Logger, error) {
	log, err := f.log.logger(logTo)
	if err != nil {
		return nil, nil, err
	}
	d, err := c.newDaemonLog(f, log, opts)
	return d, log, err
}

// newDaemonLog is newDaemon with the logger made already. On an error it
// syncs the log.
func (c *cli) newDaemonLog(f commonFlags, log *zap.Logger, opts daemon.Options) (*daemon.Daemon, error) {
	opts.ConfigPath, opts.Logger = f.configFile, log
	if off, ok, err := testClockOffset(); err != nil {
		log.Sync()
		return nil, err
	} else if ok {
		log.Warn("TEST ONLY: the clock is shifted by "+envClockOffset+"; never set it in production", zap.Duration("offset", off))
		opts.Now = func() time.Time { return time.Now().Add(off) }
	}
	// client-go (the Secret sink, the Lease, the journal) logs through
	// klog: into the same log, as JSON like every other line.
	klog.SetLogger(zapr.NewLogger(log.Named("kubernetes")))
	// Package initialisation (client-go's type registrations above all)
	// touched pages that nothing uses again: let them go before the
	// journal is loaded, so the two do not add up.
	memtrim.Trim()
	d, err := daemon.New(opts)
	if err != nil {
		log.Sync()
		return nil, err
	}
	// What starting touched (package initialisation, decoding the policy
	// and the journal) is not needed again: give it back before the pass,
	// all but the free heap, which the pass reuses. The commands that
	// rotate also drop the binary from the page cache, so that a pass
	// holds only the code it runs (memtrim); plan, read-only and run by
	// hand, leaves the cache that a daemon running the same binary
	// faults its code back from.
	memtrim.TrimBeforeWork(!opts.ReadOnly)
	return d, nil
}

func (c *cli) cmdRun() error {
	f := &c.run
	// Signals first: a SIGHUP while the config, the journal and the
	// credentials load (a `systemctl reload` right after the start) would
	// otherwise end the process. It is kept for Run, like a SIGTERM.
	ctx, reload, stop := signals(context.Background())
	defer stop()
	log, err := f.common.log.logger(c.stderr)
	if err != nil {
		return err
	}
	// The start (the policy file, the journal, the credentials, the
	// clients) runs apart, so that a SIGINT or SIGTERM during it ends the
	// process at once, whatever the start waits on: an API server or a
	// Vault that takes the request and does not answer, a read the kernel
	// holds. Nothing has rotated yet; what the start wrote is what a
	// crash at that moment leaves, which the journal recovers from.
	type started struct {
		d   *daemon.Daemon
		err error
	}
	done := make(chan started, 1)
	go func() {
		d, err := c.newDaemonLog(f.common, log, daemon.Options{Web: f.web, Listen: f.listen})
		done <- started{d, err}
	}()
	var s started
	select {
	case s = <-done:
	case <-ctx.Done():
		select {
		case s = <-done: // ready at the same moment: Run stops at once
		default:
			log.Info("rotatord stopped during start-up", zap.String("reason", context.Cause(ctx).Error()))
			log.Sync()
			// The start goes on in its goroutine until the process
			// exits; a daemon it still makes is closed.
			go func() {
				if s := <-done; s.d != nil {
					s.d.Close()
				}
			}()
			return nil
		}
	}
	if s.err != nil {
		return s.err
	}
	defer log.Sync()
	defer s.d.Close()
	return s.d.Run(ctx, reload)
}

func (c *cli) cmdOnce() error {
	f := &c.once
	prog := newProgress(c.stderr, isTerminal(c.stderr), time.Now)
	// The log goes through the progress display, which moves its status
	// line out of the way of each log line.
	d, log, err := c.newDaemon(f.common, prog, daemon.Options{CallerReports: true})
	if err != nil {
		return err
	}
	defer log.Sync()
	defer d.Close()
	ctx, _, stop := signals(context.Background())
	defer stop()
	// With leader_election, once acts only holding the Lease: it waits for
	// it a little, and fails naming the leader when a daemon holds it.
	var (
		out     []rotation.Outcome
		passErr error
		// passed[i] is the pass's action for out[i] when it rotated or
		// recovered the name (delivered, or rolled back), "" otherwise;
		// the deleter's outcomes replace entries in place or come after
		// (mergeOutcomes), and one that replaced a name the pass rotated
		// or recovered (its old keys waiting for the next window, say)
		// does not make the row say less.
		passed []rotation.Action
	)
	err = d.RunLeading(ctx, d.LeaseWait(ctx), func(ctx context.Context) error {
		out, passErr = d.RunPass(ctx, f.selection.policies, rotation.Options{
			Force: f.force, IgnoreBackoff: true, IgnoreWindows: f.ignoreWindows, OnOutcome: prog.outcome,
		})
		prog.finish()
		// With several accounts, one whose listing failed fails alone: the
		// outcomes of the others are shown, and the exit code says it failed.
		if passErr != nil && len(out) == 0 {
			return passErr
		}
		passed = make([]rotation.Action, len(out))
		for i, o := range out {
			if o.Err == nil && (o.Decision.Action == rotation.ActionRotate || o.Decision.Action == rotation.ActionRecover) {
				passed[i] = o.Decision.Action
			}
		}
		// The deletions due of the policies passed that the pass did not
		// try: one that it tried and that failed (a consumer check, say)
		// is not tried again at once, which would run its hooks twice and
		// count two failures.
		tried := map[string]bool{}
		for _, o := range out {
			if o.Err != nil {
				tried[o.Policy+"\x00"+o.Name] = true
			}
		}
		out = mergeOutcomes(out, d.DeleteDue(ctx, rotation.Options{IgnoreBackoff: true, IgnoreWindows: f.ignoreWindows,
			Skip: func(policy, name string) bool {
				return tried[policy+"\x00"+name] || len(f.selection.policies) > 0 && !slices.Contains(f.selection.policies, policy)
			}}))
		out = awaitConfirmations(ctx, d, out, f.ignoreWindows)
		return nil
	})
	prog.finish()
	if err != nil {
		return err
	}
	failed := slices.ContainsFunc(out, func(o rotation.Outcome) bool { return o.Err != nil })
	table := rows{len(out), func(i int) row {
		return row{Outcome: out[i], Result: resultOf(out[i], passedAt(passed, i))}
	}}
	if err := printRows(c.stdout, table, d.Now(), f.selection.json(), true); err != nil {
		// Told, but the exit code still says what the pass did: a script
		// that runs once again when it fails must not rotate again the
		// keys this pass rotated because its output went to a full disk.
		fmt.Fprintf(c.stderr, "rotatord: printing the outcomes: %s\n", printable.Lines(err.Error()))
	}
	if passErr != nil {
		return passErr
	}
	if failed {
		return exitCode(1)
	}
	return nil
}

func (c *cli) cmdPlan() error {
	f := &c.plan
	d, log, err := c.newDaemon(f.common, c.stderr, daemon.Options{ReadOnly: true, CallerReports: true})
	if err != nil {
		return err
	}
	defer log.Sync()
	defer d.Close()
	ctx, _, stop := signals(context.Background())
	defer stop()
	out, passErr := d.RunPass(ctx, f.selection.policies, rotation.Options{DryRun: true})
	if passErr != nil && len(out) == 0 {
		return passErr
	}
	if err := printRows(c.stdout, outcomeRows(out), d.Now(), f.selection.json(), false); err != nil {
		if passErr == nil {
			return err // plan's output is all it does
		}
		fmt.Fprintf(c.stderr, "rotatord: printing the outcomes: %s\n", printable.Lines(err.Error()))
	}
	return passErr
}

func (c *cli) cmdValidate() error {
	f := &c.validate
	path := f.common.configFile
	if f.fileSet {
		if f.common.configSet && filepath.Clean(f.common.configFile) != filepath.Clean(f.file) {
			// A usage error, as an argument too many.
			fmt.Fprintf(c.stderr, "rotatord: two policy files, %s (%s) and %s: give one\n", printable.Lines(f.common.configFile), f.common.configFlag, printable.Lines(f.file))
			fmt.Fprintln(c.stderr, "Try 'rotatord help validate'.")
			return exitCode(2)
		}
		path = f.file
	}
	if path == "" {
		// "$FILE" with FILE unset: never fall back to the default file.
		fmt.Fprintln(c.stderr, "rotatord: the policy file's name is empty")
		fmt.Fprintln(c.stderr, "Try 'rotatord help validate'.")
		return exitCode(2)
	}
	if f.online && f.fileOnly {
		// --online checks this host and the API, --file-only nothing
		// beyond the file: one of them was given by mistake, and
		// checking either way would pass something not asked for.
		fmt.Fprintln(c.stderr, "rotatord: --online and --file-only contradict each other: give one")
		fmt.Fprintln(c.stderr, "Try 'rotatord help validate'.")
		return exitCode(2)
	}
	cfg, err := c.validatePolicyFile(path)
	// The web configuration file is the host's (its mode, the TLS files
	// it names): checked with --file-only too, when named, and whatever
	// the policy file's problems (validate prints every problem).
	webErr := daemon.ValidateWebConfig(f.webConfig)
	if err != nil || webErr != nil {
		code := report(c.stderr, err)
		if webErr != nil {
			code = report(c.stderr, webErr)
		}
		return exitCode(code)
	}
	fmt.Fprintf(c.stdout, "%s: valid (%d policies)\n", printable.Line(path), len(cfg.Policies))
	if f.webConfig != "" {
		fmt.Fprintf(c.stdout, "%s: valid web configuration\n", printable.Line(f.webConfig))
	}
	if !f.online {
		return nil
	}
	ctx, _, stop := signals(context.Background())
	defer stop()
	fmt.Fprintln(c.stdout)
	if err := daemon.CheckOnline(ctx, cfg, os.Getenv, c.stdout); err != nil {
		return exitCode(1) // each problem is a FAIL line already
	}
	return nil
}

// validatePolicyFile checks the policy file at path as validate does,
// printing its warnings; an error it printed already is an exitCode.
func (c *cli) validatePolicyFile(path string) (*config.Config, error) {
	f := &c.validate
	cfg, warnings, err := config.Validate(path, config.ValidateOptions{Host: !f.fileOnly})
	for _, w := range warnings {
		fmt.Fprintln(c.stderr, printable.Lines(warning(w)))
	}
	if err != nil {
		return nil, err // a *config.Errors is printed one problem a line
	}
	// Building the sinks finds what parsing cannot (a template field the
	// sink lacks): without this, validate passed files run refuses.
	if errs := daemon.CheckSinks(cfg, !f.fileOnly); len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(c.stderr, printable.Lines(path+": "+err.Error()))
		}
		return nil, exitCode(1)
	}
	// The API credential is config.Validate's to check (with Host): for
	// each account a policy uses, where run reads it (api_key and
	// api_secret, their files or the environment; credential_file;
	// credential_vault's files and address), each problem on its line.
	// Resolving the exoscale block's api_key here as well demanded the
	// environment's credential of files that read it from Vault or use
	// only accounts:, which run starts with. --online reads what run reads.
	if !f.fileOnly {
		// What run would refuse because of the journal beside it.
		if err := daemon.CheckStranded(cfg); err != nil {
			fmt.Fprintln(c.stderr, printable.Lines(path+": "+err.Error()))
			return nil, exitCode(1)
		}
	}
	return cfg, nil
}

// warning prints a problem that does not stop run as
// "file:line: warning: field: message".
func warning(p config.Problem) string {
	loc := p
	loc.Path, loc.Msg = "", ""
	msg := config.Problem{Path: p.Path, Msg: p.Msg}
	if at := loc.Error(); at != "" {
		return at + ": warning: " + msg.Error()
	}
	return "warning: " + msg.Error()
}

// envClockOffset shifts rotatord's wall clock, for the crash campaign's
// clock-offset restarts. It is read by every command that acts.
const envClockOffset = "ROTATORD_TEST_CLOCK_OFFSET"

func testClockOffset() (time.Duration, bool, error) {
	v := os.Getenv(envClockOffset)
	if v == "" {
		return 0, false, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, false, fmt.Errorf("%s=%q: %w", envClockOffset, v, err)
	}
	return d, true, nil
}

// awaitConfirmations waits for deletions that only wait for this process's
// own confirmation delay (a few seconds at most, see rotation.Config.
// MinDeleteDelay) and carries them out, so `once` deletes what is due.
func awaitConfirmations(ctx context.Context, d *daemon.Daemon, out []rotation.Outcome, ignoreWindows bool) []rotation.Outcome {
	var due time.Time
	waiting := map[string]int{}
	for i, o := range out {
		if o.Err == nil && o.Decision.Reason == rotation.ReasonConfirming {
			waiting[o.Policy+"\x00"+o.Name] = i
			due = later(due, o.Decision.Due)
		}
	}
	if len(waiting) == 0 {
		return out
	}
	wait := due.Sub(d.Now()) // on the daemon's clock, which tests may shift
	select {
	case <-ctx.Done():
		return out
	case <-time.After(min(max(wait, 0)+100*time.Millisecond, 30*time.Second)):
	}
	// Only those: the others were tried already.
	skip := func(policy, name string) bool { _, ok := waiting[policy+"\x00"+name]; return !ok }
	for _, o := range d.DeleteDue(ctx, rotation.Options{IgnoreBackoff: true, IgnoreWindows: ignoreWindows, Skip: skip}) {
		if i, ok := waiting[o.Policy+"\x00"+o.Name]; ok {
			if len(o.KeyIDs) == 0 {
				o.KeyIDs = out[i].KeyIDs // the deletion round does not list the keys
			}
			out[i] = o
		}
	}
	return out
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// mergeOutcomes adds the deleter's outcomes to a pass's, one line per key
// name: the deleter's replaces the pass's for a name both handled.
// It keeps the pass's order: an outcome of the pass stays at its index.
func mergeOutcomes(pass, deleted []rotation.Outcome) []rotation.Outcome {
	if len(deleted) == 0 {
		return pass // no index of every name to build
	}
	at := make(map[string]int, len(pass))
	for i, o := range pass {
		at[o.Policy+"\x00"+o.Name] = i
	}
	for _, o := range deleted {
		if i, ok := at[o.Policy+"\x00"+o.Name]; ok {
			if o.Decision.Action != rotation.ActionNone || o.Err != nil || o.Decision.Reason != "" {
				keys := pass[i].KeyIDs
				pass[i] = o
				if len(o.KeyIDs) == 0 {
					pass[i].KeyIDs = keys
				}
			}
			continue
		}
		pass = append(pass, o)
	}
	return pass
}
