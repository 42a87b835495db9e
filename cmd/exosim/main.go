// Command exosim runs the local Exoscale IAM simulator (package
// apiclient/exosim) for demos and end-to-end tests.
//
// The seed (-seed) is a YAML or JSON file: top-level roles, keys and admin
// describe the default organization, and an optional organizations list
// adds more, each with a name and the same three fields (see the
// apiclient/exosim package documentation):
//
//	roles: [{id: 11111111-1111-4111-8111-111111111111, name: admin}]
//	organizations:
//	  - name: green
//	    roles: [{id: 33333333-3333-4333-8333-333333333333, name: admin}]
//	    admin: {key: EXObbbbbbbbbbbbbbbbbbbbbbbb, secret: green-admin-secret}
//
// Each request acts in the organization of the key that signs it.
//
// Faults (-faults, or PUT /_sim/faults at run time) cover latency, 5xx,
// 429, lost responses, pending deletes, late-applied creates (late_apply),
// stale listings and GETs (stale_for), failed delete operations (fail_rate),
// zombie keys (zombie_rate) and creates that take effect and answer 429
// (applied_rate_limit_next); see apiclient/exosim.Fault.
//
// With -tls-cert and -tls-key (PEM files) it serves HTTPS, and its URL
// and endpoint say https://.
//
// It listens on loopback by default: its /_sim/ control surface is
// unauthenticated and shows every secret. It prints the API endpoint (the
// URL ending in /v2) on one line of stdout and, with -info-file, writes the
// URL, endpoint and admin credential as JSON (mode 0600) for scripts, with
// the other organizations' admin credentials under "organizations". It
// stops on SIGINT or SIGTERM.
//
//	exosim -listen 127.0.0.1:8080 -info-file /tmp/exosim.json
//	EXOSCALE_API_ENDPOINT=$(jq -r .endpoint /tmp/exosim.json) ...
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// info is what -info-file holds.
type info struct {
	URL       string `json:"url"`
	Endpoint  string `json:"endpoint"`
	APIKey    string `json:"api_key"` // the default organization's admin
	APISecret string `json:"api_secret"`
	// Organizations maps each organization other than the default one to
	// its admin credential; absent for a single-organization seed.
	Organizations map[string]exosim.Credential `json:"organizations,omitempty"`
}

// run serves until ctx ends or a SIGINT/SIGTERM arrives, and returns the
// exit code: 0 after a clean stop, 1 when the simulator cannot start, 2 for
// bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("exosim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on; port 0 picks a free port")
	seedPath := fs.String("seed", "", "YAML or JSON seed file (roles, keys, admin, organizations); default: a built-in organization")
	faultsPath := fs.String("faults", "", "YAML or JSON file mapping operation ids to faults, applied at start")
	infoPath := fs.String("info-file", "", "write url, endpoint and the admin credential here as JSON (mode 0600)")
	randSeed := fs.Int64("rand-seed", 0, "seed of the random fault draws (default: random)")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with this PEM certificate (with -tls-key); url and endpoint then say https://")
	tlsKey := fs.String("tls-key", "", "the PEM private key of -tls-cert")
	var limits exosim.Limits
	fs.Float64Var(&limits.Rate, "limit-rate", 0, "gateway limit: API calls per second let through, the others answered 429 (0: none)")
	fs.IntVar(&limits.Burst, "limit-burst", 0, "gateway limit: token bucket size (default: one second of -limit-rate)")
	fs.IntVar(&limits.MaxInFlight, "limit-in-flight", 0, "gateway limit: API calls served at once, the others answered 429 (0: none)")
	fs.IntVar(&limits.RetryAfter, "limit-retry-after", 1, "gateway limit: Retry-After seconds of its 429s")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "exosim: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return 2
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		missing := "-tls-key"
		if *tlsCert == "" {
			missing = "-tls-cert"
		}
		fmt.Fprintf(stderr, "exosim: -tls-cert and -tls-key go together: %s is missing\n", missing)
		return 2
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	seed := exosim.DefaultSeed()
	if *seedPath != "" {
		s, err := exosim.LoadSeed(*seedPath)
		if err != nil {
			fmt.Fprintf(stderr, "exosim: %v\n", err)
			return 1
		}
		seed = s
	}
	var faults map[string]exosim.Fault
	if *faultsPath != "" {
		f, err := exosim.LoadFaults(*faultsPath)
		if err != nil {
			fmt.Fprintf(stderr, "exosim: %v\n", err)
			return 1
		}
		faults = f
	}
	var opts []exosim.Option
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "rand-seed" {
			opts = append(opts, exosim.WithRand(*randSeed))
		}
	})

	var srv *exosim.Server
	var err error
	if *tlsCert != "" {
		cert, cerr := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if cerr != nil {
			fmt.Fprintf(stderr, "exosim: -tls-cert %s, -tls-key %s: %v\n", *tlsCert, *tlsKey, cerr)
			return 1
		}
		srv, err = exosim.StartTLS(seed, *listen, cert, opts...)
	} else {
		srv, err = exosim.Start(seed, *listen, opts...)
	}
	if err != nil {
		fmt.Fprintf(stderr, "exosim: %v\n", err)
		return 1
	}
	defer srv.Close()
	if err := srv.SetFaults(faults); err != nil { // validated by LoadFaults already
		fmt.Fprintf(stderr, "exosim: %v\n", err)
		return 1
	}
	if err := srv.SetLimits(limits); err != nil {
		fmt.Fprintf(stderr, "exosim: %v\n", err)
		return 1
	}
	if !isLoopback(*listen) {
		fmt.Fprintf(stderr, "exosim: WARNING: listening on %s, not loopback: /_sim/ shows every secret to anyone who can connect\n", *listen)
	}

	admin := srv.Admin()
	if *infoPath != "" {
		in := info{URL: srv.URL, Endpoint: srv.Endpoint, APIKey: admin.Key, APISecret: admin.Secret}
		for _, org := range srv.Organizations()[1:] { // the default one comes first
			if in.Organizations == nil {
				in.Organizations = map[string]exosim.Credential{}
			}
			in.Organizations[org], _ = srv.AdminOf(org) // a name Organizations gave
		}
		err := writeFileAtomic(*infoPath, in)
		if err != nil {
			fmt.Fprintf(stderr, "exosim: %v\n", err)
			return 1
		}
		// The file describes a running simulator; a stale one would mislead.
		defer os.Remove(*infoPath)
	}
	fmt.Fprintln(stdout, srv.Endpoint)
	fmt.Fprintf(stderr, "exosim: serving %s, admin key %s (secret in the info file or GET %s/_sim/keys)\n", srv.Endpoint, admin.Key, srv.URL)

	<-ctx.Done()
	fmt.Fprintln(stderr, "exosim: stopping")
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "exosim: %v\n", err)
		return 1
	}
	return 0
}

// isLoopback reports whether addr's host is a loopback address or name.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// writeFileAtomic writes v as JSON to path with mode 0600 through a
// temporary file in the same directory and a rename, so that a reader never
// sees a partial file or one readable by others.
func writeFileAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write info file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".exosim-info-*")
	if err != nil {
		return fmt.Errorf("write info file: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write info file: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write info file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write info file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write info file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write info file: %w", err)
	}
	return nil
}
