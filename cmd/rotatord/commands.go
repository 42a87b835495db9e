package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/daemon"
	"github.com/rotatord/rotatord/rotation"
)

// setup parses a command's flags (extra adds its own) and returns its
// logger and a loaded daemon. The caller closes the daemon and syncs the log.
func setup(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (*daemon.Daemon, *zap.Logger, error) {
	return setupWith(name, args, stderr, extra, &daemon.Options{})
}

// setupWith is setup with options, which extra's flags may fill: they are
// read once the flags are parsed.
func setupWith(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet), options *daemon.Options) (*daemon.Daemon, *zap.Logger, error) {
	var c common
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs, true)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return nil, nil, err
	}
	opts := *options
	opts.ConfigPath, opts.Logger = c.config, log
	if off, ok, err := testClockOffset(); err != nil {
		log.Sync()
		return nil, nil, err
	} else if ok {
		log.Warn("TEST ONLY: the clock is shifted by "+envClockOffset+"; never set it in production", zap.Duration("offset", off))
		opts.Now = func() time.Time { return time.Now().Add(off) }
	}
	d, err := daemon.New(opts)
	if err != nil {
		log.Sync()
		return nil, nil, err
	}
	return d, log, nil
}

func cmdRun(args []string, stderr io.Writer) error {
	var opts daemon.Options
	d, log, err := setupWith("run", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&opts.Web.ConfigFile, "web.config.file", "",
			"exporter-toolkit web configuration file: TLS and basic auth for every endpoint (default: plain HTTP, no authentication)")
		fs.BoolVar(&opts.Web.EnableLifecycle, "web.enable-lifecycle", false,
			"serve POST and PUT /-/reload (default: off, they answer 403; SIGHUP reloads either way)")
	}, &opts)
	if err != nil {
		return err
	}
	defer log.Sync()
	defer d.Close()
	ctx, reload, stop := signals()
	defer stop()
	return d.Run(ctx, reload)
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func cmdOnce(args []string, stdout, stderr io.Writer) error {
	var (
		policies stringList
		force    bool
	)
	d, log, err := setup("once", args, stderr, func(fs *flag.FlagSet) {
		fs.Var(&policies, "policy", "run only this policy (repeatable)")
		fs.BoolVar(&force, "force", false, "rotate every selected key whatever its age")
	})
	if err != nil {
		return err
	}
	defer log.Sync()
	defer d.Close()
	ctx, _, stop := signals()
	defer stop()
	out, err := d.RunPass(ctx, policies, rotation.Options{Force: force, IgnoreBackoff: true})
	if err != nil {
		return err
	}
	out = mergeOutcomes(out, d.DeleteDue(ctx, rotation.Options{IgnoreBackoff: true}))
	out = awaitConfirmations(ctx, d, out)
	printOutcomes(stdout, out, time.Now())
	for _, o := range out {
		if o.Err != nil {
			return exitCode(1)
		}
	}
	return nil
}

func cmdPlan(args []string, stdout, stderr io.Writer) error {
	d, log, err := setupWith("plan", args, stderr, nil, &daemon.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer log.Sync()
	defer d.Close()
	ctx, _, stop := signals()
	defer stop()
	out, err := d.RunPass(ctx, nil, rotation.Options{DryRun: true})
	if err != nil {
		return err
	}
	printOutcomes(stdout, out, time.Now())
	return nil
}

func cmdValidate(args []string, stdout, stderr io.Writer) error {
	var c common
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(c.config)
	if err != nil {
		var problems *config.Errors
		if errors.As(err, &problems) {
			for _, p := range *problems {
				fmt.Fprintln(stderr, p.Error())
			}
			return exitCode(1)
		}
		return err
	}
	// Building the sinks finds what parsing cannot (a template field the
	// sink lacks): without this, validate passed files run refuses.
	if errs := daemon.CheckSinks(cfg); len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintf(stderr, "%s: %v\n", c.config, err)
		}
		return exitCode(1)
	}
	if _, err := cfg.CredentialSource().Resolve(os.Getenv); err != nil {
		fmt.Fprintf(stderr, "%s: exoscale: %v\n", c.config, err)
		return exitCode(1)
	}
	fmt.Fprintf(stdout, "%s: valid (%d policies)\n", c.config, len(cfg.Policies))
	return nil
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
func awaitConfirmations(ctx context.Context, d *daemon.Daemon, out []rotation.Outcome) []rotation.Outcome {
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
	for _, o := range d.DeleteDue(ctx, rotation.Options{IgnoreBackoff: true}) {
		if i, ok := waiting[o.Policy+"\x00"+o.Name]; ok {
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
func mergeOutcomes(pass, deleted []rotation.Outcome) []rotation.Outcome {
	at := map[string]int{}
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
