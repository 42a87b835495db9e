package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/daemon"
)

// devPolicy is the demo's policy file: it rotates the simulator's ci-* keys
// every few seconds into files under the demo folder.
const devPolicy = `# Written by "rotatord dev": a demo against a local Exoscale simulator.
exoscale:
  endpoint: %[1]s
  api_key: %[2]s
  api_secret_file: admin-secret
state_dir: state
listen: %[3]s
policies:
  - name: demo
    match:
      name: "ci-*"
    schedule: "@every 5s"
    max_age: 20s
    grace_period: 10s
    adopt: rotate
    sinks:
      - type: file
        path: "out/{{.Name}}.json"
        format: json
      - type: file
        path: "out/{{.Name}}.env"
        format: env
`

func cmdDev(args []string, stdout, stderr io.Writer) error {
	var (
		c        common
		dir      string
		listen   string
		duration time.Duration
	)
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs, false)
	fs.StringVar(&dir, "dir", "rotatord-dev", "folder for the demo's policy, state and output files")
	fs.StringVar(&listen, "listen", "127.0.0.1:9108", "metrics and health address")
	fs.DurationVar(&duration, "duration", 0, "stop after this long (0: run until interrupted)")
	c.logFormat = "console"
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	defer log.Sync()

	dir, err = filepath.Abs(dir)
	if err != nil {
		return err
	}
	for _, d := range []string{dir, filepath.Join(dir, "out")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	sim, err := exosim.Start(exosim.DefaultSeed(), "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer sim.Close()
	admin := sim.Admin()
	if err := os.WriteFile(filepath.Join(dir, "admin-secret"), []byte(admin.Secret+"\n"), 0o600); err != nil {
		return err
	}
	configPath := filepath.Join(dir, "policy.yml")
	if err := os.WriteFile(configPath, fmt.Appendf(nil, devPolicy, sim.Endpoint, admin.Key, listen), 0o600); err != nil {
		return err
	}

	d, err := daemon.New(daemon.Options{ConfigPath: configPath, Logger: log, DeleteCheckInterval: 2 * time.Second})
	if err != nil {
		return err
	}
	defer d.Close()

	fmt.Fprintf(stdout, `rotatord dev: a local Exoscale simulator and a policy that rotates its ci-* keys every 20s.
  simulator    %s   (keys: %s/_sim/keys)
  policy file  %s
  credentials  %s/out/   (new files appear as keys rotate)
  metrics      http://%s/metrics   (also /healthz, /readyz)
Stop with Ctrl-C.
`, sim.Endpoint, sim.URL, configPath, dir, listen)

	ctx, reload, stop := signals()
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	return d.Run(ctx, reload)
}
