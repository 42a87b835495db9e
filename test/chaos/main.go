package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var (
		cfg     Config
		verbose bool
	)
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Uint64Var(&cfg.Seed, "seed", 42, "seed of every random choice (kill times, fault draws)")
	fs.IntVar(&cfg.Cycles, "cycles", 200, "start/stop cycles (SIGKILL or SIGTERM)")
	fs.IntVar(&cfg.Names, "names", 30, "managed key names, over three policies")
	fs.DurationVar(&cfg.MaxUp, "max-up", 3*time.Second, "longest rotatord runs before it is killed")
	fs.StringVar(&cfg.BinDir, "bin-dir", "", "directory with prebuilt rotatord and exosim (default: build them)")
	fs.StringVar(&cfg.WorkDir, "work-dir", "", "keep the campaign's files here (default: a temp dir, removed)")
	fs.StringVar(&cfg.Vault, "vault", "auto", "Vault KV v2 sink: auto (when a Vault binary is found; required when ROTATORD_REQUIRE_VAULT=1), on or off")
	fs.BoolVar(&verbose, "v", false, "print a line per cycle")
	fs.BoolVar(&cfg.HA, "ha", false, "high availability: several `rotatord run` replicas with leader election and the journal in a real kube-apiserver ($ROTATORD_ETCD_BIN, $ROTATORD_KUBE_APISERVER_BIN)")
	fs.IntVar(&cfg.Replicas, "replicas", 2, "with -ha: replicas, 2 or 3")
	fs.DurationVar(&cfg.LeaseDuration, "lease-duration", 4*time.Second, "with -ha: leader_election.lease_duration")
	fs.DurationVar(&cfg.RenewDeadline, "renew-deadline", 3*time.Second, "with -ha: leader_election.renew_deadline")
	fs.DurationVar(&cfg.RetryPeriod, "retry-period", 500*time.Millisecond, "with -ha: leader_election.retry_period")
	fs.BoolVar(&cfg.WideningReloadsOnly, "widening-reloads-only", false, "reloads only add a sink, never narrow a policy's match nor remove a policy")
	fs.BoolVar(&cfg.Mangle, "mangle", false, "put a proxy between rotatord and exosim whose answers are another stand-in's: role ids in upper case, create answers without name or role, shuffled listings with extra fields, connections closed after each answer, bodies cut short")
	grace := fs.Duration("grace", 2*time.Second, "grace_period of the consumers' policies (0: old keys deleted at once)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.Grace = grace
	if verbose {
		cfg.Verbose = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	sum, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 1
	}
	for _, p := range sum.Problems {
		fmt.Fprintln(stderr, "problem:", p)
	}
	if sum.ExcusedDead > 0 {
		fmt.Fprintf(stderr, "notes: %d sinks seen holding a key the campaign deleted as someone else (not counted as an outage)\n", sum.ExcusedDead)
	}
	for _, n := range sum.Notes {
		fmt.Fprintln(stderr, "note:", n)
	}
	fmt.Fprintln(stdout, sum.Line())
	if !sum.OK() {
		return 1
	}
	return 0
}
