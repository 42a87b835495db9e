// Command rotatord rotates Exoscale IAM API keys according to a policy
// file: see `rotatord help` and the README.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rotatord/rotatord/internal/version"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `rotatord rotates Exoscale IAM API keys so that nobody has to.

Usage:
  rotatord run      --config FILE [--web.config.file FILE] [--web.enable-lifecycle]
                                     the daemon: rotate on each policy's schedule
  rotatord once     --config FILE [--policy NAME]... [--force]
                                     one pass now; exit 1 if any rotation failed
  rotatord plan     --config FILE    what a pass would do now, and why; changes nothing
  rotatord validate --config FILE    check the policy file; print every problem
  rotatord dev      [--dir DIR]      demo: a local Exoscale simulator and a fast policy
  rotatord version

Common flags: --log-format json|console (default json), --log-level debug|info|warn|error.
`

// run is the whole program; it returns the exit code so main exits once.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "run":
		err = cmdRun(rest, stderr)
	case "once":
		err = cmdOnce(rest, stdout, stderr)
	case "plan":
		err = cmdPlan(rest, stdout, stderr)
	case "validate":
		err = cmdValidate(rest, stdout, stderr)
	case "dev":
		err = cmdDev(rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "rotatord", version.String())
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "rotatord: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err == nil {
		return 0
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec)
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "rotatord:", err)
	return 1
}

// exitCode is an error that only carries an exit status: what needed
// saying has been said.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// common holds the flags every command shares.
type common struct {
	config    string
	logFormat string
	logLevel  string
}

func (c *common) register(fs *flag.FlagSet, needConfig bool) {
	if needConfig {
		fs.StringVar(&c.config, "config", "/etc/rotatord/rotatord.yml", "policy file")
	}
	fs.StringVar(&c.logFormat, "log-format", "json", "log format: json or console")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

func (c *common) logger(w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.logLevel)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch c.logFormat {
	case "json":
		enc = zapcore.NewJSONEncoder(encCfg)
	case "console":
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	default:
		return nil, fmt.Errorf("--log-format %q: want json or console", c.logFormat)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level)), nil
}

// signals turns SIGINT and SIGTERM into cancellation and SIGHUP into a
// buffered, coalescing reload channel.
func signals() (context.Context, <-chan struct{}, func()) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
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
