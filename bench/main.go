// Command bench measures rotatord against the limit the API sets and
// against the loop an operator would write by hand, on the real rotatord
// and exosim binaries with a fixed latency added to every API request.
//
//	go run ./bench -n 100,1000,10000          # the full run
//	go run ./bench -smoke                     # N=20, a 2s idle window: checks it runs
//
// For each N it seeds an exosim with N keys, lets `rotatord once` adopt them
// (state on disk), then times `rotatord once --force` (grace_period 0: every
// key is created, delivered to a file sink, confirmed and its predecessor
// deleted) and a `rotatord once` after it (nothing due), whose logged
// duration is compared with one listing. The policy leaves concurrency and
// rate_limit out, so that rotatord's defaults are what is measured. The
// same forced pass with the state directory on tmpfs gives the share of
// the pass spent making state durable. A sequential loop over the official
// SDK (bench naive.go) does the same rotation against a fresh exosim.
//
// Then other forced passes (passes.go): with rate_limit 20, where the
// client's rate binds; against an exosim that answers 429 above a rate,
// where the server's limit binds; in an organization of many keys of
// which few match; with a Vault sink instead of the file sink, when a
// Vault binary is at hand (twice over the same names: the secrets' first
// writes, then the steady state); against an exosim serving HTTPS (tls.go). Last, `rotatord run` is measured idle
// (-idle-names names, -idle long), its /metrics timed (-metrics-names
// names), and the delay of its deletions after a grace period read from
// its log (deletion.go).
//
// The lower bound of a pass is set by the API: the requests a rotation
// makes one after the other (counted from the simulator's /_sim/calls),
// times the latency, times N, divided by the requests allowed in flight
// (concurrency), plus the listing; or the total requests divided by the
// rate limit if that is larger. With the defaults (4 in flight, an
// adaptive rate of at most 1000/s) and 20 ms of latency, latency binds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rotatord/rotatord/config"
)

func main() {
	if coldListingChild() {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type params struct {
	ns           []int
	latency      time.Duration
	concurrency  int
	rateLimit    float64
	setConc      bool // -concurrency given: written into the policy
	setRate      bool // -rate-limit given: written into the policy
	rateBoundN   int
	serverLimit  float64
	serverRetry  int
	serverN      int
	serverFlight int
	bigOrgKeys   int
	bigOrgMatch  int
	vaultN       int
	tlsN         int // names of the forced pass over TLS
	deleteNames  int
	daemonPassN  int // names of the daemon's pass with a grace period
	deleteGrace  time.Duration
	idle         time.Duration
	idleNames    int
	metricsNames int
	scrapes      int
	naive        bool
	durability   bool
	binDir       string
	workDir      string
	shmDir       string
	keep         bool
	floorN       int // durable writes the floor is measured over
	apiFloorN    int // keys the API floor rotates with the SDK alone
}

// noopPasses is how many no-op passes of the daemon, and listings of the
// SDK, the no-op figure takes the median of.
const noopPasses = 7

// result is what one N measured.
type result struct {
	pass
	noop          procResult
	noopPass      time.Duration // the no-op pass of `once` as rotatord logs it, without process start
	daemonNoop    time.Duration // the scheduled no-op pass of `rotatord run`, median
	listing       time.Duration // one listing made by the SDK between the daemon's passes, at their pace, median
	backToBack    time.Duration // one listing made by the SDK right after another, median
	coldListing   time.Duration // the first listing made by the SDK in a fresh process, median
	shmForced     *procResult
	naiveWall     time.Duration
	naiveRequests int
	naiveRotated  int
}

// noopVsListing is how much longer than one listing a pass with nothing
// to do takes: the pass lists once, so the rest is rotatord's own work.
// It is the daemon's scheduled pass against a listing made by the SDK a
// quarter of a second after each of those passes, in a process that
// lists once a second as the daemon passes once a second.
func (r result) noopVsListing() float64 { return ratio(r.daemonNoop, r.listing) }

// onceNoopVsColdListing is the same for `rotatord once`, whose pass is
// the first listing of a fresh process, against the SDK's first listing
// in a fresh process.
func (r result) onceNoopVsColdListing() float64 { return ratio(r.noopPass, r.coldListing) }

// fsyncShare is the share of the forced pass that the state directory on
// disk costs over tmpfs: the time spent making state durable.
func (r result) fsyncShare() float64 {
	if r.shmForced == nil {
		return math.NaN()
	}
	return float64(r.forced.wall-r.shmForced.wall) / float64(r.forced.wall)
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		nList = fs.String("n", "100,1000,10000", "comma-separated numbers of managed key names")
		smoke = fs.Bool("smoke", false, "quick check: -n 20, -idle 2s, 20 names (200 keys in the large organization) everywhere else")
		p     params
	)
	fs.DurationVar(&p.latency, "latency", 20*time.Millisecond, "latency the simulator adds to every API request")
	fs.IntVar(&p.concurrency, "concurrency", config.DefaultConcurrency, "exoscale.concurrency of the policy (requests in flight); left out of the policy unless given")
	fs.Float64Var(&p.rateLimit, "rate-limit", config.DefaultRateLimit, "exoscale.rate_limit of the policy (requests per second); unless given, left out: rotatord's adaptive rate, whose ceiling this default is")
	fs.IntVar(&p.rateBoundN, "rate-bound-n", -1, "names of the forced pass with rate_limit 20, where the rate binds (-1: the largest -n; 0: skip)")
	fs.Float64Var(&p.serverLimit, "server-limit", 50, "the simulator's gateway limit (requests per second, answered 429 above) of the server-limit pass")
	fs.IntVar(&p.serverRetry, "server-limit-retry-after", 1, "the Retry-After (seconds) of the simulator's 429s in the server-limit pass")
	fs.IntVar(&p.serverN, "server-limit-n", 1000, "names of the forced passes against the server-side limits (0: skip)")
	fs.IntVar(&p.serverFlight, "server-in-flight", 2, "the simulator's gateway limit on requests in flight (answered 429 above) of the in-flight pass (0: skip)")
	fs.IntVar(&p.bigOrgKeys, "big-org-keys", 10000, "keys of the large organization (0: skip)")
	fs.IntVar(&p.bigOrgMatch, "big-org-match", 100, "keys of the large organization the policy matches")
	fs.IntVar(&p.vaultN, "vault-n", 1000, "names of the forced pass with a Vault sink (0: skip; needs a Vault binary, see sinks/vault/vaulttest)")
	fs.IntVar(&p.tlsN, "tls-n", 1000, "names of the forced pass against exosim serving HTTPS, rotatord trusting its certificate through SSL_CERT_FILE (0: skip)")
	fs.IntVar(&p.daemonPassN, "daemon-pass-n", 1000, "names the daemon (rotatord run) rotates in its first pass, with grace_period 1h (0: skip)")
	fs.IntVar(&p.deleteNames, "deletion-names", 20, "names the daemon (rotatord run) rotates to time its deletions (0: skip)")
	fs.DurationVar(&p.deleteGrace, "deletion-grace", 3*time.Second, "grace_period of the deletion-delay run")
	fs.DurationVar(&p.idle, "idle", 60*time.Second, "how long `rotatord run` is watched idle")
	fs.IntVar(&p.idleNames, "idle-names", 1000, "managed names of the idle `rotatord run`")
	fs.IntVar(&p.metricsNames, "metrics-names", 10000, "managed names when timing /metrics")
	fs.IntVar(&p.scrapes, "scrapes", 9, "GETs of /metrics (the median is reported)")
	fs.IntVar(&p.floorN, "floor-n", 1000, "durable file replacements and log syncs the CPU floor of a rotation is measured over")
	fs.IntVar(&p.apiFloorN, "api-floor-n", 1000, "keys the official SDK alone rotates (create, get, delete) to measure the CPU of a rotation's API calls (0: skip)")
	fs.BoolVar(&p.naive, "naive", true, "also run the sequential SDK loop")
	fs.BoolVar(&p.durability, "durability", true, "also run the forced pass with the state on tmpfs (-shm)")
	fs.StringVar(&p.binDir, "bin", "", "directory holding prebuilt rotatord and exosim (default: go build them)")
	fs.StringVar(&p.workDir, "dir", "", "work directory on disk (default: a new one under $TMPDIR)")
	fs.StringVar(&p.shmDir, "shm", "/dev/shm", "a tmpfs directory for the state in the durability comparison")
	fs.BoolVar(&p.keep, "keep", false, "keep the work directory (logs, state, sink files)")
	fs.DurationVar(&timerSlack, "timer-slack", 0, "timer slack the rotatord processes start with (prctl PR_SET_TIMERSLACK, as systemd's TimerSlackNSec= sets it; 0: the bench's own, 50us by default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	p.setConc, p.setRate = set["concurrency"], set["rate-limit"]
	if *smoke {
		for name, value := range map[string]string{
			"n": "20", "idle": "2s", "idle-names": "20", "metrics-names": "20", "scrapes": "3",
			"rate-bound-n": "20", "server-limit-n": "20", "big-org-keys": "200", "big-org-match": "20", "vault-n": "20", "tls-n": "20",
			"floor-n": "100", "api-floor-n": "20", "daemon-pass-n": "20",
		} {
			if !set[name] {
				if err := fs.Set(name, value); err != nil {
					return err
				}
			}
		}
	}
	for _, f := range strings.Split(*nList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 99999 {
			return fmt.Errorf("-n: %q is not a number from 1 to 99999", f)
		}
		p.ns = append(p.ns, n)
	}
	if p.rateBoundN < 0 {
		p.rateBoundN = slices.Max(p.ns)
	}
	if p.concurrency < 1 || p.rateLimit <= 0 || p.latency < 0 || p.scrapes < 1 || p.serverLimit <= 0 || p.serverRetry < 1 || p.floorN < 1 || p.apiFloorN < 0 || p.apiFloorN > 99999 {
		return errors.New("-concurrency, -rate-limit, -server-limit, -server-limit-retry-after, -scrapes and -floor-n must be positive, -latency not negative, -api-floor-n from 0 to 99999")
	}
	for _, v := range []int{p.rateBoundN, p.serverN, p.bigOrgKeys, p.vaultN, p.tlsN, p.deleteNames, p.daemonPassN} {
		if v > 99999 {
			return errors.New("-rate-bound-n, -server-limit-n, -big-org-keys, -vault-n, -tls-n, -deletion-names and -daemon-pass-n go up to 99999")
		}
	}
	if p.bigOrgKeys > 0 && (p.bigOrgMatch < 1 || p.bigOrgMatch > p.bigOrgKeys) {
		return errors.New("-big-org-match must be from 1 to -big-org-keys")
	}
	if p.deleteGrace <= 0 {
		return errors.New("-deletion-grace must be positive")
	}
	if timerSlack < 0 {
		return fmt.Errorf("-timer-slack %s: must not be negative (0: the bench's own)", timerSlack)
	}

	if p.workDir == "" {
		d, err := os.MkdirTemp("", "rotatord-bench-")
		if err != nil {
			return err
		}
		p.workDir = d
	}
	if p.keep {
		fmt.Fprintf(stderr, "bench: work directory %s\n", p.workDir)
	} else {
		defer os.RemoveAll(p.workDir)
	}
	if p.durability {
		if fi, err := os.Stat(p.shmDir); err != nil || !fi.IsDir() {
			fmt.Fprintf(stderr, "bench: no %s: skipping the tmpfs comparison\n", p.shmDir)
			p.durability = false
		} else {
			d, err := os.MkdirTemp(p.shmDir, "rotatord-bench-")
			if err != nil {
				return err
			}
			p.shmDir = d
			defer os.RemoveAll(d)
		}
	}

	if p.binDir == "" {
		p.binDir = filepath.Join(p.workDir, "bin")
		fmt.Fprintln(stderr, "bench: building rotatord and exosim")
		if err := build(ctx, p.binDir); err != nil {
			return err
		}
	}
	b := &bencher{p: &p, stderr: stderr,
		rotatord: filepath.Join(p.binDir, "rotatord"), exosim: filepath.Join(p.binDir, "exosim")}

	load0 := loadavg()
	var results []result
	for _, n := range p.ns {
		r, err := b.measureN(ctx, n)
		if err != nil {
			return fmt.Errorf("n=%d: %w", n, err)
		}
		results = append(results, r)
	}
	ex, err := b.measureExtras(ctx, results)
	if err != nil {
		return err
	}
	idle, err := b.measureDaemon(ctx)
	if err != nil {
		return err
	}
	load1 := loadavg()

	report(stdout, &p, results, ex, idle, load0, load1)
	return nil
}

func build(ctx context.Context, dir string) error {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "./cmd/rotatord", "./cmd/exosim")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

type bencher struct {
	p                *params
	stderr           io.Writer
	rotatord, exosim string
}

func (b *bencher) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "bench: "+format+"\n", args...)
}

// policy is the policy of the main passes: rotatord's defaults, but for
// the -concurrency and -rate-limit given.
func (b *bencher) policy() policySpec {
	ps := policySpec{maxAge: "30d", gracePeriod: "0"}
	if b.p.setConc {
		ps.concurrency = b.p.concurrency
	}
	if b.p.setRate {
		ps.rateLimit = b.p.rateLimit
	}
	return ps
}

// prepare starts a simulator as spec says, writes the policy ps and lets
// rotatord adopt the keys.
func (b *bencher) prepare(ctx context.Context, name string, spec simSpec, stateDir string, ps policySpec) (*world, procResult, error) {
	dir := filepath.Join(b.p.workDir, name)
	s, err := startSim(b.exosim, filepath.Join(dir, "sim"), spec)
	if err != nil {
		return nil, procResult{}, err
	}
	w, err := newWorld(b.rotatord, dir, stateDir, s, ps)
	if err != nil {
		s.stop()
		return nil, procResult{}, err
	}
	adopt, err := w.once(ctx)
	if err != nil {
		s.stop()
		return nil, procResult{}, err
	}
	return w, adopt, nil
}

func (b *bencher) measureN(ctx context.Context, n int) (result, error) {
	var r result
	p := b.p

	b.logf("n=%d: rotatord, state on disk", n)
	name := fmt.Sprintf("n%d-disk", n)
	w, adopt, err := b.prepare(ctx, name, simSpec{managed: n, latency: p.latency}, filepath.Join(p.workDir, name, "state"), b.policy())
	if err != nil {
		return r, err
	}
	defer w.sim.stop()
	if r.pass, err = forcedPass(ctx, w, n); err != nil {
		return r, err
	}
	r.adopt = adopt
	if r.noop, err = w.once(ctx); err != nil {
		return r, err
	}
	// The no-op pass is one listing and rotatord's own work: the time it
	// logs leaves out the process start, and one listing made by the SDK
	// against the same simulator shows what the listing alone costs.
	if r.noopPass, err = passDuration(r.noop.log); err != nil {
		return r, err
	}
	list, err := newLister(ctx, w.sim.Endpoint, w.sim.Key, w.sim.Secret)
	if err != nil {
		return r, err
	}
	if r.daemonNoop, r.listing, err = daemonNoop(ctx, w, noopPasses, list); err != nil {
		return r, fmt.Errorf("the daemon's no-op passes: %w", err)
	}
	if r.backToBack, err = timeListing(ctx, w.sim.Endpoint, w.sim.Key, w.sim.Secret, noopPasses); err != nil {
		return r, fmt.Errorf("timing a listing: %w", err)
	}
	if r.coldListing, err = coldListing(ctx, w.sim.Endpoint, w.sim.Key, w.sim.Secret, 5); err != nil {
		return r, err
	}
	b.logf("n=%d: forced pass %.2fs, bound %.2fs (%.2fx), %.1f requests per rotation; no-op pass %.3fs (once); the daemon's %.3fs, one listing between its passes %.3fs, back to back %.3fs", n,
		r.forced.wall.Seconds(), r.bound().Seconds(), r.vsBound(), r.critPerRot, r.noopPass.Seconds(), r.daemonNoop.Seconds(), r.listing.Seconds(), r.backToBack.Seconds())
	if r.served.unknown != "" {
		b.logf("n=%d: how the simulator served the forced pass is not known: %s", n, r.served.unknown)
	} else {
		b.logf("n=%d: the simulator served %d calls of the forced pass, %.2f at once on average (%d allowed), %.2f ms each from arrival to answer (latency %s)", n,
			r.served.calls, r.served.inFlight, b.policy().effConcurrency(), ms(r.served.perCall), p.latency)
	}
	w.sim.stop()

	if p.durability {
		b.logf("n=%d: rotatord, state on tmpfs", n)
		ws, _, err := b.prepare(ctx, fmt.Sprintf("n%d-shm", n), simSpec{managed: n, latency: p.latency}, filepath.Join(p.shmDir, fmt.Sprintf("n%d", n)), b.policy())
		if err != nil {
			return r, err
		}
		shm, err := ws.once(ctx, "--force")
		ws.sim.stop()
		if err != nil {
			return r, err
		}
		r.shmForced = &shm
		_ = os.RemoveAll(ws.stateDir)
	}

	if p.naive {
		b.logf("n=%d: sequential SDK loop", n)
		dir := filepath.Join(p.workDir, fmt.Sprintf("n%d-naive", n))
		s, err := startSim(b.exosim, filepath.Join(dir, "sim"), simSpec{managed: n, latency: p.latency})
		if err != nil {
			return r, err
		}
		defer s.stop()
		out := filepath.Join(dir, "out")
		if err := os.MkdirAll(out, 0o700); err != nil {
			return r, err
		}
		before, err := s.calls()
		if err != nil {
			return r, err
		}
		start := time.Now()
		r.naiveRotated, err = naiveRotate(ctx, s.Endpoint, s.Key, s.Secret, out)
		r.naiveWall = time.Since(start)
		if err != nil {
			return r, fmt.Errorf("naive loop: %w", err)
		}
		after, err := s.calls()
		if err != nil {
			return r, err
		}
		r.naiveRequests = after.sub(before).total()
		if live, _, err := s.liveManaged(); err != nil || live != n || r.naiveRotated != n {
			return r, fmt.Errorf("naive loop: rotated %d, %d managed keys alive, want %d (%v)", r.naiveRotated, live, n, err)
		}
		s.stop()
	}
	return r, nil
}

// daemonResult is what `rotatord run` costs.
type daemonResult struct {
	idleNames    int
	idleCPU      float64 // share of one core
	idleCPUTime  time.Duration
	idleRSS      int64
	idleWindow   time.Duration
	metricsNames int
	scrape       scrapeResult
	deletion     *deletionResult // nil: skipped
	pass         *daemonPass     // nil: skipped
}

// measureDaemon watches `rotatord run` idle and times its /metrics.
func (b *bencher) measureDaemon(ctx context.Context) (daemonResult, error) {
	d := daemonResult{idleNames: b.p.idleNames, metricsNames: b.p.metricsNames, idleWindow: b.p.idle}
	for _, job := range []struct {
		n    int
		work func(*runner) error
	}{
		{b.p.idleNames, func(dm *runner) error {
			b.logf("daemon: idle with %d names for %s", b.p.idleNames, b.p.idle)
			var err error
			d.idleCPUTime, d.idleCPU, d.idleRSS, err = dm.idle(ctx, b.p.idle)
			return err
		}},
		{b.p.metricsNames, func(dm *runner) error {
			b.logf("daemon: /metrics with %d names", b.p.metricsNames)
			var err error
			d.scrape, err = dm.scrape(b.p.scrapes)
			return err
		}},
	} {
		if err := b.withDaemon(ctx, job.n, job.work); err != nil {
			return d, err
		}
	}
	if b.p.daemonPassN > 0 {
		b.logf("daemon: the first pass over %d names, grace_period 1h", b.p.daemonPassN)
		dp, err := b.measureDaemonPass(ctx)
		if err != nil {
			return d, fmt.Errorf("daemon pass: %w", err)
		}
		d.pass = &dp
	}
	if b.p.deleteNames > 0 {
		b.logf("daemon: deletions after a grace period of %s, %d names", b.p.deleteGrace, b.p.deleteNames)
		del, err := b.measureDeletion(ctx)
		if err != nil {
			return d, fmt.Errorf("deletion delay: %w", err)
		}
		d.deletion = &del
	}
	return d, nil
}

// withDaemon runs `rotatord run` over a state with n managed names and a
// simulator that holds their keys, and calls work once it is ready.
func (b *bencher) withDaemon(ctx context.Context, n int, work func(*runner) error) error {
	name := fmt.Sprintf("daemon%d", n)
	w, _, err := b.prepare(ctx, name, simSpec{managed: n, latency: b.p.latency}, filepath.Join(b.p.workDir, name, "state"), b.policy())
	if err != nil {
		return err
	}
	defer w.sim.stop()
	defer os.RemoveAll(w.dir)
	dm, err := w.start(ctx)
	if err != nil {
		return err
	}
	defer dm.stop()
	return work(dm)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

func mb(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

func report(w io.Writer, p *params, rs []result, ex extras, d daemonResult, load0, load1 string) {
	conc := fmt.Sprintf("concurrency %d (rotatord's default)", p.concurrency)
	if p.setConc {
		conc = fmt.Sprintf("concurrency %d (-concurrency)", p.concurrency)
	}
	rate := fmt.Sprintf("adaptive rate up to %g/s (rotatord's default)", p.rateLimit)
	if p.setRate {
		rate = fmt.Sprintf("rate_limit %g/s (-rate-limit)", p.rateLimit)
	}
	fmt.Fprintf(w, "rotatord bench: latency %s on every request, %s, %s, grace_period 0, one file sink\n", p.latency, conc, rate)
	fmt.Fprintf(w, "load average %s at start, %s at end (%d CPUs)\n\n", load0, load1, numCPU())

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\treq/rot\tbound s\tpass s\tpass/bound\tadopt s\tnoop s\tnoop req\tnoop/list\tcpu ms/rot\tpeak RSS MB\ttmpfs pass s\tdurable share\tnaive s\tnaive/rotatord\tnaive req\trotatord req\tTCP conns\t")
	for _, r := range rs {
		shm, share := "-", "-"
		if r.shmForced != nil {
			shm = secs(r.shmForced.wall)
			share = fmt.Sprintf("%.1f%%", 100*r.fsyncShare())
		}
		naive, naiveRatio, naiveReq := "-", "-", "-"
		if r.naiveRotated > 0 {
			naive = secs(r.naiveWall)
			naiveRatio = fmt.Sprintf("%.2f", ratio(r.naiveWall, r.forced.wall))
			naiveReq = strconv.Itoa(r.naiveRequests)
		}
		conns := "-"
		if r.forced.conns >= 0 {
			conns = strconv.Itoa(r.forced.conns)
		}
		fmt.Fprintf(tw, "%d\t%.2f\t%s\t%s\t%.3f\t%s\t%s\t%d\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t\n",
			r.n, r.critPerRot, secs(r.bound()), secs(r.forced.wall), r.vsBound(),
			secs(r.adopt.wall), secs(r.noop.wall), r.noop.calls.total(), r.noopVsListing(),
			r.cpuPerRotation(), mb(r.forced.maxRSS),
			shm, share, naive, naiveRatio, naiveReq, r.forced.calls.total(), conns)
	}
	tw.Flush()

	last := rs[len(rs)-1]
	fmt.Fprintf(w, "\nforced pass at n=%d: API calls %s; latency bound %ss, rate bound %ss\n",
		last.n, formatCalls(last.forced.calls), secs(last.latBound), secs(last.rateBound))
	fmt.Fprintf(w, "critical path per rotation: create-api-key, get-api-key (confirm), delete-api-key (+ get-operation polls while pending), one after the other; list-api-keys once per pass\n")
	fmt.Fprintf(w, "durable floor on this disk: a file replaced durably %.3f ms of CPU, a log append synced %.3f ms: %.3f ms a rotation at least; rotatord %.3f ms (%.2fx)\n",
		ms(ex.floor.replace), ms(ex.floor.sync), ms(ex.floor.perRotation()), last.cpuPerRotation(), last.cpuVsFloor(ex.floor))
	fmt.Fprintf(w, "context switches of the forced pass: %.1f a rotation, %.1f CPU µs each (the work between included)\n",
		last.switchesPerRotation(), last.cpuPerSwitch())
	apiFloorCPU, apiFloorVsBound := math.NaN(), math.NaN()
	if a := ex.api; a != nil {
		apiFloorCPU, apiFloorVsBound = ms(a.perRotation()), a.vsBound()
		fmt.Fprintf(w, "API floor on this host: the official SDK alone, %d keys rotated (create, get, delete), %d at once: %.3f ms of CPU a rotation, %ss (%.3fx the latency bound %ss); with the durable floor %.3f ms a rotation; rotatord %.3f ms\n",
			a.n, a.workers, apiFloorCPU, secs(a.wall), apiFloorVsBound, secs(a.latBound), ms(ex.floor.perRotation())+apiFloorCPU, last.cpuPerRotation())
	}
	fmt.Fprintf(w, "no-op pass at n=%d, rotatord run: %.1f ms (median of %d scheduled passes, one a second), one listing by the SDK %.1f ms (median of %d in one process, each a quarter of a second after one of those passes): %.2fx; %.1f ms for the SDK's listings back to back (%.2fx)\n",
		last.n, ms(last.daemonNoop), noopPasses, ms(last.listing), noopPasses, last.noopVsListing(), ms(last.backToBack), ratio(last.daemonNoop, last.backToBack))
	fmt.Fprintf(w, "no-op pass at n=%d, rotatord once: %.1f ms as it logs it (without process start), the SDK's first listing in a fresh process %.1f ms (median of 5): %.2fx\n",
		last.n, ms(last.noopPass), ms(last.coldListing), last.onceNoopVsColdListing())

	rateRatio, serverRatio, serverShare, serverRefused := math.NaN(), math.NaN(), math.NaN(), math.NaN()
	if r := ex.rate; r != nil {
		rateRatio = ratio(r.forced.wall, r.rateBound)
		fmt.Fprintf(w, "rate bound, n=%d, rate_limit %d: pass %ss, %d requests / %d/s = %ss (%.3fx); latency bound %ss\n",
			r.n, rateBoundLimit, secs(r.forced.wall), r.forced.calls.total(), rateBoundLimit, secs(r.rateBound), rateRatio, secs(r.latBound))
	}
	if s := ex.server; s != nil {
		serverRatio, serverShare, serverRefused = s.rateRatio(), s.refusedShare(), float64(s.refused())
		fmt.Fprintf(w, "server limit %g/s (429 above, Retry-After %ds), n=%d, default settings: pass %ss, %d calls served (%.1f/s, %.3fx the limit), %.0f answered 429 (%.1f%% of answers); API calls %s\n",
			s.limit, s.retryAfter, s.n, secs(s.forced.wall), s.succeeded(), float64(s.succeeded())/s.forced.wall.Seconds(), serverRatio,
			serverRefused, 100*serverShare, formatCalls(s.forced.calls))
	}
	flightRatio, flightShare := math.NaN(), math.NaN()
	if f := ex.inFlight; f != nil {
		flightRatio, flightShare = f.vsBound(), f.refusedShare()
		fmt.Fprintf(w, "server limit %d in flight (429 above), n=%d, default settings: pass %ss, bound %ss with %d in flight (%.3fx), %.0f answered 429 (%.1f%% of answers); API calls %s\n",
			f.inFlight, f.n, secs(f.forced.wall), secs(f.bound()), f.inFlight, flightRatio, float64(f.refused()), 100*flightShare, formatCalls(f.forced.calls))
	}
	bigOrg, bigVsSmall := math.NaN(), math.NaN()
	if big, small := ex.bigOrg, ex.smallOrg; big != nil {
		bigOrg, bigVsSmall = big.vsBound(), big.vsBound()/small.vsBound()
		fmt.Fprintf(w, "large organization, %d keys of which %d matched: pass %ss, bound %ss (%.3fx); the %d names alone %.3fx; adopt %ss against %ss\n",
			p.bigOrgKeys, big.n, secs(big.forced.wall), secs(big.bound()), bigOrg, small.n, small.vsBound(), secs(big.adopt.wall), secs(small.adopt.wall))
	}
	vault, vaultSteady := math.NaN(), math.NaN()
	if v := ex.vault; v != nil {
		vault, vaultSteady = v.first.cpuPerRotation(), v.steady.cpuPerRotation()
		f, st := v.first, v.steady
		fmt.Fprintf(w, "Vault KV v2 sink, n=%d: first writes (each also marks the secret as rotatord's): pass %ss (%.3fx the bound), %.2f CPU ms per rotation, %.1f context switches and %.1f Vault requests a rotation; steady state (the same names forced again): pass %ss (%.3fx), %.2f CPU ms per rotation, %.1f context switches and %.1f Vault requests a rotation; file sink at n=%d: %.2f CPU ms\n",
			f.n, secs(f.forced.wall), f.vsBound(), vault, f.switchesPerRotation(), v.firstReqs,
			secs(st.forced.wall), st.vsBound(), vaultSteady, st.switchesPerRotation(), v.steadyReqs,
			last.n, last.cpuPerRotation())
	} else if p.vaultN > 0 {
		fmt.Fprintf(w, "Vault KV v2 sink: not measured: %s\n", ex.vaultWhy)
	}
	tlsCPU, tlsVsBound := math.NaN(), math.NaN()
	if t := ex.tls; t != nil {
		tlsCPU, tlsVsBound = t.cpuPerRotation(), t.vsBound()
		// Counted from the simulator's log, not by countConns (see
		// served.conns).
		conns := strconv.Itoa(t.served.conns)
		if t.served.unknown != "" {
			conns = "?"
		}
		plain := plainBeside(rs, t.n)
		fmt.Fprintf(w, "over TLS, n=%d, %s: pass %ss, bound %ss (%.3fx), %.3f CPU ms per rotation, %.1f context switches a rotation, %s TCP connections; plain http (HTTP/1.1) at n=%d: %.3fx, %.3f CPU ms, %.1f context switches\n",
			t.n, protocol(t.served), secs(t.forced.wall), secs(t.bound()), tlsVsBound, tlsCPU, t.switchesPerRotation(), conns,
			plain.n, plain.vsBound(), plain.cpuPerRotation(), plain.switchesPerRotation())
	}

	fmt.Fprintf(w, "rotatord run, %d names, idle %s: RSS %s MB, CPU %.3f%% of a core (%d ms; /proc counts 10 ms ticks)\n",
		d.idleNames, d.idleWindow, mb(d.idleRSS), 100*d.idleCPU, d.idleCPUTime.Milliseconds())
	fmt.Fprintf(w, "GET /metrics, %d names: median %.1f ms over %d GETs as Prometheus scrapes (Go's default client: %.1f ms), %d bytes, %d key series\n",
		d.metricsNames, ms(d.scrape.median), p.scrapes, ms(d.scrape.plainMedian), d.scrape.bytes, d.scrape.series)
	daemonVsBound, daemonCPU, daemonRSS := math.NaN(), math.NaN(), math.NaN()
	if dp := d.pass; dp != nil {
		daemonVsBound, daemonCPU, daemonRSS = dp.vsBound(), dp.cpuPerRotation(), float64(dp.peakRSS)/(1<<20)
		fmt.Fprintf(w, "rotatord run, first pass over %d names, grace_period 1h: %ss, latency bound %ss (%.3fx); %.3f CPU ms per rotation (the process's, from its start); peak RSS %s MB\n",
			dp.n, secs(dp.wall), secs(dp.latBound), daemonVsBound, daemonCPU, mb(dp.peakRSS))
	}
	deletion := math.NaN()
	if del := d.deletion; del != nil {
		deletion = ms(del.maxDelay)
		fmt.Fprintf(w, "rotatord run, %d names, grace_period %s: old keys deleted %.0f ms (median) and %.0f ms (largest) after their grace period ended\n",
			del.names, del.grace, ms(del.medianDelay), deletion)
	}
	fmt.Fprintln(w)

	naiveWall, naiveReq := math.NaN(), math.NaN()
	if last.naiveRotated > 0 {
		naiveWall = ratio(last.naiveWall, last.forced.wall)
		naiveReq = float64(last.naiveRequests) / float64(last.forced.calls.total())
	}
	servedInFlight, servedPerCall := last.served.figures()
	fmt.Fprintf(w, "bench: n=%d pass_vs_bound=%.3f naive_vs_rotatord_wall=%.2f naive_vs_rotatord_requests=%.2f cpu_ms_per_rotation=%.3f peak_rss_mb=%.1f durable_share=%.3f idle_rss_mb=%.1f idle_cpu_pct=%.3f metrics_ms=%.1f metrics_default_client_ms=%.1f"+
		" rate_pass_vs_bound=%.3f server_limit_rate_ratio=%.3f server_limit_429_share=%.3f server_limit_429s=%.0f server_in_flight_vs_bound=%.3f server_in_flight_429_share=%.3f big_org_pass_vs_bound=%.3f big_org_vs_small_org=%.2f noop_vs_listing=%.2f once_noop_vs_cold_listing=%.2f deletion_delay_ms=%.0f vault_cpu_ms_per_rotation=%.3f vault_steady_cpu_ms_per_rotation=%.3f cpu_floor_ms_per_rotation=%.3f cpu_vs_floor=%.2f api_floor_ms_per_rotation=%.3f api_floor_vs_bound=%.3f daemon_pass_vs_bound=%.3f daemon_cpu_ms_per_rotation=%.3f daemon_peak_rss_mb=%.1f pass_server_in_flight=%.2f pass_server_ms_per_call=%.2f cswitch_per_rotation=%.1f cpu_us_per_cswitch=%.1f tls_cpu_ms_per_rotation=%.3f tls_pass_vs_bound=%.3f\n",
		last.n, last.vsBound(), naiveWall, naiveReq,
		last.cpuPerRotation(), float64(last.forced.maxRSS)/(1<<20),
		last.fsyncShare(), float64(d.idleRSS)/(1<<20), 100*d.idleCPU, ms(d.scrape.median), ms(d.scrape.plainMedian),
		rateRatio, serverRatio, serverShare, serverRefused, flightRatio, flightShare, bigOrg, bigVsSmall, last.noopVsListing(), last.onceNoopVsColdListing(), deletion, vault, vaultSteady, ms(ex.floor.perRotation()), last.cpuVsFloor(ex.floor),
		apiFloorCPU, apiFloorVsBound, daemonVsBound, daemonCPU, daemonRSS, servedInFlight, servedPerCall,
		last.switchesPerRotation(), last.cpuPerSwitch(), tlsCPU, tlsVsBound)
}

// plainBeside is the main pass to set the pass over TLS at n beside: the
// one of the same N (a rotation's CPU falls as N grows), or the largest
// N's when -n has no n.
func plainBeside(rs []result, n int) result {
	for _, r := range rs {
		if r.n == n {
			return r
		}
	}
	return rs[len(rs)-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func formatCalls(c callCounts) string {
	ops := make([]string, 0, len(c))
	for op := range c {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	var parts []string
	for _, op := range ops {
		parts = append(parts, fmt.Sprintf("%s=%d", op, c[op].Total))
	}
	return strings.Join(parts, " ")
}

func numCPU() int { return runtime.NumCPU() }
