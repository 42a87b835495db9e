// Command rotatord rotates Exoscale IAM API keys according to a policy
// file: see `rotatord help` and the README.
package main

//go:generate go test -run ^TestREADMECommandReference$ . -update

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/internal/memtrim"
	"github.com/rotatord/rotatord/internal/printable"
	"github.com/rotatord/rotatord/internal/version"
	"github.com/rotatord/rotatord/metrics"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "run" {
		holdHangups()
	}
	memtrim.SetGC()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// defaultConfigFile is where the policy file lives unless --config.file
// says otherwise.
const defaultConfigFile = "/etc/rotatord/rotatord.yml"

// exitCode is an error that only carries an exit status: what needed
// saying has been said.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// terminated is what kingpin's Terminate panics with (after --help,
// --version, help, a completion script): run recovers it and returns the
// code, so tests run the CLI in-process and main exits once.
type terminated int

// isWriteError reports whether err is a failed write to a file (stdout
// full, or gone): what kingpin panics with when it cannot print a help
// (or returns from the parse, for the helps it writes to os.Stdout).
func isWriteError(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Op == "write"
}

// cli is one parse of the command line: the application and what each
// command's flags filled in.
type cli struct {
	app            *kingpin.Application
	stdout, stderr io.Writer

	run      runFlags
	once     onceFlags
	plan     planFlags
	validate validateFlags
	dev      devFlags
	state    stateFlags
}

// run is the whole program; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) (code int) {
	c := newCLI(stdout, stderr)
	if len(args) == 0 {
		c.app.UsageWriter(stderr)
		c.app.Usage(nil)
		return 2
	}
	args = flagsAfterCommand(c.app, args)
	defer func() {
		if r := recover(); r != nil {
			if err, ok := r.(error); ok && isWriteError(err) {
				// kingpin panics with the error of its usage
				// template's write (--help > /dev/full), and the
				// --version flag does too (below): a failed write is
				// a failure, told in one line, not a goroutine dump.
				code = report(stderr, err)
				return
			}
			t, ok := r.(terminated)
			if !ok {
				panic(r)
			}
			code = int(t)
		}
	}()
	if args[0] == "help" {
		// kingpin's help command ends the program with status 1 when its
		// arguments name no command ("help nosuch", "help run extra"):
		// parse them as the command line they name first, so that they
		// are the usage error (2) they are for every other command.
		if _, err := c.app.ParseContext(args[1:]); err != nil {
			fmt.Fprintf(stderr, "rotatord: help: %s\n", printable.Lines(err.Error()))
			fmt.Fprintf(stderr, "Try 'rotatord help%s'.\n", commandOf(c.app, args[1:]))
			return 2
		}
	}
	// The flag parser turns a lone "-" into an empty argument, which
	// was answered as an empty file name. No command reads a file from
	// stdin by "-": the policy file is read from a regular file only.
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-" {
			fmt.Fprintln(stderr, `rotatord: "-": no file is read from stdin; give the policy file's path (a regular file)`)
			fmt.Fprintf(stderr, "Try 'rotatord help%s'.\n", commandOf(c.app, args))
			return 2
		}
	}
	cmd, err := c.app.Parse(args)
	if err != nil && isWriteError(err) {
		// kingpin's --help-long, --help-man and completion scripts
		// return their write's error (to os.Stdout) from the parse: a
		// failure (1), not a usage error: no mistake of the command
		// line fails a write.
		return report(stderr, err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "rotatord: %s\n", printable.Lines(err.Error()))
		fmt.Fprintf(stderr, "Try 'rotatord help%s'.\n", commandOf(c.app, args))
		return 2
	}
	switch cmd {
	case "run":
		err = c.cmdRun()
	case "once":
		err = c.cmdOnce()
	case "plan":
		err = c.cmdPlan()
	case "validate":
		err = c.cmdValidate()
	case "dev":
		err = c.cmdDev(context.Background(), nil)
	case "state export":
		err = c.cmdStateExport()
	case "state import":
		err = c.cmdStateImport()
	case "version":
		_, err = fmt.Fprintln(stdout, "rotatord", version.String())
	}
	return report(stderr, err)
}

// report prints err, once, and returns the exit code it means. What it
// prints is escaped (printable.Lines): an error carries text others chose
// (the API's or Vault's message, a key name, a value of the policy file),
// which must not rewrite the operator's terminal.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec)
	}
	var problems *config.Errors
	if errors.As(err, &problems) {
		// One line per problem, each with its file:line, as validate prints.
		for _, p := range *problems {
			fmt.Fprintln(stderr, printable.Lines(p.Error()))
		}
		return 1
	}
	fmt.Fprintln(stderr, "rotatord:", printable.Lines(err.Error()))
	return 1
}

// commandOf returns " CMD" when the arguments name a command, for the hint
// after a usage error.
func commandOf(app *kingpin.Application, args []string) string {
	for _, a := range args {
		for _, m := range app.Model().Commands {
			if m.Name == a && !m.Hidden && m.Name != "help" {
				return " " + a
			}
		}
	}
	return ""
}

const appHelp = `rotatord rotates Exoscale IAM API keys so that nobody has to: on each policy's schedule it replaces the keys that are too old, delivers the new secrets to the policy's sinks (files, Vault, Kubernetes Secrets), and deletes the old keys after a grace period. The README says how it proceeds and what it guarantees.`

func newCLI(stdout, stderr io.Writer) *cli {
	c := &cli{stdout: stdout, stderr: stderr}
	app := kingpin.New("rotatord", appHelp)
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.Terminate(func(code int) { panic(terminated(code)) })
	// Not app.Version: kingpin would also put its text in the man page's
	// one-line .TH header (--help-man), which the multi-line Prometheus
	// look breaks.
	version := versionText(metrics.BuildInfo())
	app.VersionFlag = app.Flag("version", "Show application version.").PreAction(func(*kingpin.ParseContext) error {
		if _, err := fmt.Fprintln(stdout, version); err != nil {
			panic(err) // run's recover: status 1, the error on stderr
		}
		panic(terminated(0))
	})
	app.VersionFlag.Bool()
	app.HelpFlag.Short('h')
	c.app = app

	run := app.Command("run", "The daemon: rotate on each policy's schedule, serve metrics and health, reload the policy file on SIGHUP (and on POST /-/reload with --web.enable-lifecycle).")
	c.run.common.register(run, "json")
	run.Flag("web.listen-address", "Address to serve metrics, health and /-/reload on; repeatable, every address serving the same endpoints (--web.listen-address=127.0.0.1:9108 --web.listen-address=[::1]:9108; ':9108' alone takes both); overrides the policy file's listen (default: the file's listen, itself 127.0.0.1:9108). The Prometheus default-port list (9100-9999) is full and 9108 is graphite_exporter's there: pick a port of your own.").
		PlaceHolder("ADDR").Action(notEmptyEach("web.listen-address", &c.run.listen)).StringsVar(&c.run.listen)
	run.Flag("web.config.file", "Exporter-toolkit web configuration file: TLS and basic auth in front of every endpoint (default: plain HTTP, no authentication).").
		PlaceHolder("FILE").Action(notEmpty("web.config.file", &c.run.web.ConfigFile)).StringVar(&c.run.web.ConfigFile)
	run.Flag("web.enable-lifecycle", "Reload the policy file on POST or PUT /-/reload (default: off, they answer 403; SIGHUP reloads either way).").
		BoolVar(&c.run.web.EnableLifecycle)

	once := app.Command("once", "Run one pass now, ignoring schedules and failure backoff: rotate what is due, carry out deletions already due, clean up interrupted rotations. Prints one line per key name; exits 1 if anything failed.")
	c.once.common.register(once, "json")
	c.once.selection.register(once)
	once.Flag("force", "Rotate every selected key name whatever its age.").BoolVar(&c.once.force)
	once.Flag("ignore-windows", "Rotate and delete outside the policies' windows too.").BoolVar(&c.once.ignoreWindows)

	plan := app.Command("plan", "Show what a pass would do now, and why; changes nothing. Works beside a running daemon (it reads the state without its lock).")
	c.plan.common.register(plan, "json")
	c.plan.selection.register(plan)

	validate := app.Command("validate", "Check a policy file as run would load it, on this host, as this user: print every problem with its file:line (and warnings, which do not stop run). The file is FILE or --config.file. Exits 1 if run would refuse the file, or fail on this host (a missing sink directory, credential or token file).")
	c.validate.common.register(validate, "json")
	validate.Flag("file-only", "Check the file alone, not what depends on this host (credential files, sink directories, owners, state_dir): for a CI step checking a file meant for another machine.").
		BoolVar(&c.validate.fileOnly)
	validate.Flag("online", "Also prove the API credential with a signed listing of the keys, probe every sink (Vault login, mount, path; file directories) and print the plan. Creates and deletes nothing.").
		BoolVar(&c.validate.online)
	validate.Flag("web.config.file", "Also check this exporter-toolkit web configuration file as run checks it at start (as promtool check web-config does, and its mode and the TLS files it names), with --file-only too.").
		PlaceHolder("FILE").Action(notEmpty("web.config.file", &c.validate.webConfig)).StringVar(&c.validate.webConfig)
	validate.Arg("file", "The policy file to check (instead of --config.file).").
		Action(func(*kingpin.ParseContext) error { c.validate.fileSet = true; return nil }).
		StringVar(&c.validate.file)

	dev := app.Command("dev", "Demo: a local Exoscale simulator and a policy that rotates its ci-* keys every 20s into files; prints how to try plan, once and validate on it while it runs. Stop with Ctrl-C.")
	c.dev.register(dev)

	st := app.Command("state", "Move the journal between backends, offline: export it from the one the policy file names, import it into another.")
	export := st.Command("export", "Write every record of the journal (every account's) as JSON to stdout. Reads without the state directory's lock: stop the daemon first for a consistent copy.")
	c.state.common.register(export, "console")
	imp := st.Command("import", "Read a journal written by state export from stdin into the backend the policy file names. Refuses a backend that already holds records, a locked state directory and a Lease a live replica holds: stop every rotatord first.")
	c.state.importCommon.register(imp, "console")

	app.Command("version", "Print the version.")
	return c
}

// commonFlags are every command's but dev's: the policy file and logging.
type commonFlags struct {
	configFile string
	configSet  bool // given on the command line
	log        logFlags

	// The old spelling, --config, kept apart so that a command line
	// naming two files, one in each spelling, is a usage error rather
	// than the last one silently winning.
	oldConfigFile string
	newConfigSet  bool
	// configFlag is the flag that named configFile, for errors:
	// --config.file or --config.
	configFlag string
}

func (f *commonFlags) register(cmd *kingpin.CmdClause, logFormat string) {
	// "$FILE" with FILE unset: a usage error, not "open : no such file".
	nonEmpty := func(flag string) kingpin.Action {
		return func(*kingpin.ParseContext) error {
			if f.configFile == "" {
				return fmt.Errorf("--%s: the policy file's name is empty", flag)
			}
			if f.configFlag == "" {
				f.configFlag = "--" + flag
			}
			f.configSet = true
			return nil
		}
	}
	cmd.Flag("config.file", "The policy file.").Default(defaultConfigFile).
		IsSetByUser(&f.newConfigSet).Action(nonEmpty("config.file")).StringVar(&f.configFile)
	// The spelling before the Prometheus-style flags, kept for scripts.
	// Actions run once every flag's value is set.
	cmd.Flag("config", "Old spelling of --config.file.").Hidden().
		Action(func(*kingpin.ParseContext) error {
			if f.oldConfigFile == "" {
				return errors.New("--config: the policy file's name is empty")
			}
			if f.newConfigSet && f.configFile == "" {
				// Whichever action runs first: the empty name is the
				// problem, not a second file.
				return errors.New("--config.file: the policy file's name is empty")
			}
			if f.newConfigSet && filepath.Clean(f.oldConfigFile) != filepath.Clean(f.configFile) {
				return fmt.Errorf("two policy files, %s (--config) and %s (--config.file): give one",
					printable.Lines(f.oldConfigFile), printable.Lines(f.configFile))
			}
			f.configFile, f.configSet, f.configFlag = f.oldConfigFile, true, "--config"
			return nil
		}).StringVar(&f.oldConfigFile)
	f.log.register(cmd, logFormat)
}

// notEmpty refuses an empty value given to a flag ("$VAR" with VAR
// unset): a usage error, not the flag's default behaviour (for
// --web.config.file, plain HTTP without the basic auth the operator
// meant; for an address, another address).
func notEmpty(flag string, v *string) kingpin.Action {
	return func(*kingpin.ParseContext) error {
		if *v == "" {
			return fmt.Errorf("--%s: the value is empty", flag)
		}
		return nil
	}
}

// notEmptyEach is notEmpty for a repeatable flag: every value given.
func notEmptyEach(flag string, v *[]string) kingpin.Action {
	return func(*kingpin.ParseContext) error {
		if slices.Contains(*v, "") {
			return fmt.Errorf("--%s: the value is empty", flag)
		}
		return nil
	}
}

// logFlags choose the log's level and format.
type logFlags struct {
	level, format string
}

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"json", "logfmt", "console"}
)

func (f *logFlags) register(cmd *kingpin.CmdClause, format string) {
	cmd.Flag("log.level", "Log only messages at this level or above: debug, info, warn or error.").
		Default("info").SetValue(anyCaseEnum("log.level", &f.level, logLevels))
	cmd.Flag("log.format", "Log format: json (one JSON object a line), logfmt (key=value pairs a line, as the Prometheus tools') or console (human-readable, tab-separated).").
		Default(format).SetValue(newEnum("log.format", &f.format, logFormats))
	// The spellings before the Prometheus-style flags, kept for scripts.
	cmd.Flag("log-level", "Old spelling of --log.level.").Hidden().SetValue(anyCaseEnum("log-level", &f.level, logLevels))
	cmd.Flag("log-format", "Old spelling of --log.format.").Hidden().SetValue(newEnum("log-format", &f.format, logFormats))
}

// logger writes to w at the chosen level and format.
func (f *logFlags) logger(w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(f.level)
	if err != nil {
		return nil, fmt.Errorf("--log.level: %w", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch f.format {
	case "json":
		enc = zapcore.NewJSONEncoder(encCfg)
	case "logfmt":
		enc = newLogfmtEncoder(encCfg)
	case "console":
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	default:
		return nil, fmt.Errorf("--log.format %q: want %v", f.format, logFormats)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(printable.Writer{W: w})), level)), nil
}

// selectionFlags choose policies and the output of once and plan.
type selectionFlags struct {
	policies []string
	output   string
}

var outputFormats = []string{"table", "json"}

func (f *selectionFlags) register(cmd *kingpin.CmdClause) {
	cmd.Flag("policy", "Only this policy (repeatable; default: every policy).").PlaceHolder("NAME").StringsVar(&f.policies)
	cmd.Flag("output", "Output format: table (for people) or json (an array of outcomes, for scripts).").Short('o').
		Default("table").SetValue(newEnum("output", &f.output, outputFormats))
}

func (f *selectionFlags) json() bool { return f.output == "json" }

// enum is a flag's value that must be one of a few words; unlike kingpin's
// own, its error names the flag. anyCase takes the words in any case, as
// the Prometheus tools take --log.level (DEBUG is debug).
type enum struct {
	flag    string
	target  *string
	allowed []string
	anyCase bool
}

func newEnum(flag string, target *string, allowed []string) *enum {
	return &enum{flag: flag, target: target, allowed: allowed}
}

func (e *enum) Set(v string) error {
	w := v
	if e.anyCase {
		w = strings.ToLower(v)
	}
	if !slices.Contains(e.allowed, w) {
		return fmt.Errorf("--%s %q: want %s", e.flag, v, strings.Join(e.allowed, ", "))
	}
	*e.target = w
	return nil
}

// anyCaseEnum is an enum that takes its words in any case.
func anyCaseEnum(flag string, target *string, allowed []string) *enum {
	e := newEnum(flag, target, allowed)
	e.anyCase = true
	return e
}

func (e *enum) String() string { return *e.target }

// earlyHangup holds a SIGHUP that arrives before `run` is ready for it:
// by default a SIGHUP ends a process, and a `systemctl reload` right after
// the start (while the config, the journal and the credentials load)
// would stop the daemon. main catches it from its first moment; only the
// Go runtime's own start comes before.
var earlyHangup chan os.Signal

func holdHangups() {
	earlyHangup = make(chan os.Signal, 1)
	signal.Notify(earlyHangup, syscall.SIGHUP)
}

// signals turns SIGINT and SIGTERM into cancellation of ctx and SIGHUP
// into a buffered, coalescing reload channel. A SIGHUP held since main
// started (holdHangups) is a reload waiting.
func signals(ctx context.Context) (context.Context, <-chan struct{}, func()) {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	if earlyHangup != nil {
		signal.Stop(earlyHangup)
		select {
		case s := <-earlyHangup:
			select {
			case hup <- s:
			default: // one is already waiting
			}
		default:
		}
	}
	reload := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				select {
				case reload <- struct{}{}:
				default: // a reload is already pending
				}
			case <-done:
				return
			}
		}
	}()
	return ctx, reload, func() {
		signal.Stop(hup)
		close(done)
		stop()
	}
}

// commandNames are the commands the README's reference documents, in order.
var commandNames = []string{"run", "once", "plan", "validate", "dev", "state export", "state import", "version"}

// versionText is what --version prints: the Prometheus tools' look
// (prometheus/common/version.Print), from what rotatord_build_info says.
func versionText(b metrics.Build) string {
	return fmt.Sprintf("rotatord, version %s (branch: %s, revision: %s)\n  go version:       %s\n  platform:         %s/%s",
		b.Version, b.Branch, b.Revision, b.GoVersion, b.GoOS, b.GoArch)
}
