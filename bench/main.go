// Command bench measures rotatord against the limit the API sets and
// against the loop an operator would write by hand, on the real rotatord
// and exosim binaries with a fixed latency added to every API request.
//
//	go run ./bench -n 100,1000,10000          # the full run (about 20 minutes)
//	go run ./bench -smoke                     # N=20, a 2s idle window: checks it runs
//
// For each N it seeds an exosim with N keys, lets `rotatord once` adopt them
// (state on disk), then times `rotatord once --force` (grace_period 0: every
// key is created, delivered to a file sink, confirmed and its predecessor
// deleted) and a `rotatord once` after it (nothing due). The same forced
// pass with the state directory on tmpfs gives the share of the pass spent
// making state durable. A sequential loop over the official SDK (bench
// naive.go) does the same rotation against a fresh exosim. Then `rotatord
// run` is measured idle (-idle-names names, -idle long) and its /metrics
// timed (-metrics-names names).
//
// The lower bound of a pass is set by the API: the requests a rotation
// makes one after the other (counted from the simulator's /_sim/calls),
// times the latency, times N, divided by the requests allowed in flight
// (exoscale.concurrency), plus the listing; or the total requests divided
// by the rate limit if that is larger. The rate limit is set high so that
// latency binds.
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

	"github.com/rotatord/rotatord/apiclient/exosim"
)

func main() {
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
}

// result is what one N measured.
type result struct {
	n              int
	adopt, forced  procResult
	noop           procResult
	critPerRot     float64 // requests one rotation makes one after the other
	latBound       time.Duration
	rateBound      time.Duration
	shmForced      *procResult
	naiveWall      time.Duration
	naiveRequests  int
	naiveRotated   int
	liveAfter, max int
}

func (r result) bound() time.Duration { return max(r.latBound, r.rateBound) }

func (r result) passVsBound() float64 { return ratio(r.forced.wall, r.bound()) }

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
		smoke = fs.Bool("smoke", false, "quick check: -n 20, -idle 2s, idle and metrics with 20 names")
		p     params
	)
	fs.DurationVar(&p.latency, "latency", 20*time.Millisecond, "latency the simulator adds to every API request")
	fs.IntVar(&p.concurrency, "concurrency", 4, "exoscale.concurrency of the policy (requests in flight)")
	fs.Float64Var(&p.rateLimit, "rate-limit", 100000, "exoscale.rate_limit of the policy (requests per second)")
	fs.DurationVar(&p.idle, "idle", 60*time.Second, "how long `rotatord run` is watched idle")
	fs.IntVar(&p.idleNames, "idle-names", 1000, "managed names of the idle `rotatord run`")
	fs.IntVar(&p.metricsNames, "metrics-names", 10000, "managed names when timing /metrics")
	fs.IntVar(&p.scrapes, "scrapes", 9, "GETs of /metrics (the median is reported)")
	fs.BoolVar(&p.naive, "naive", true, "also run the sequential SDK loop")
	fs.BoolVar(&p.durability, "durability", true, "also run the forced pass with the state on tmpfs (-shm)")
	fs.StringVar(&p.binDir, "bin", "", "directory holding prebuilt rotatord and exosim (default: go build them)")
	fs.StringVar(&p.workDir, "dir", "", "work directory on disk (default: a new one under $TMPDIR)")
	fs.StringVar(&p.shmDir, "shm", "/dev/shm", "a tmpfs directory for the state in the durability comparison")
	fs.BoolVar(&p.keep, "keep", false, "keep the work directory (logs, state, sink files)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *smoke {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["n"] {
			*nList = "20"
		}
		if !set["idle"] {
			p.idle = 2 * time.Second
		}
		if !set["idle-names"] {
			p.idleNames = 20
		}
		if !set["metrics-names"] {
			p.metricsNames = 20
		}
		if !set["scrapes"] {
			p.scrapes = 3
		}
	}
	for _, f := range strings.Split(*nList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 99999 {
			return fmt.Errorf("-n: %q is not a number from 1 to 99999", f)
		}
		p.ns = append(p.ns, n)
	}
	if p.concurrency < 1 || p.rateLimit <= 0 || p.latency < 0 || p.scrapes < 1 {
		return errors.New("-concurrency, -rate-limit and -scrapes must be positive, -latency not negative")
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
	idle, err := b.measureDaemon(ctx)
	if err != nil {
		return err
	}
	load1 := loadavg()

	report(stdout, &p, results, idle, load0, load1)
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

// prepare starts a simulator with n keys and lets rotatord adopt them.
func (b *bencher) prepare(ctx context.Context, name string, n int, stateDir string) (*world, procResult, error) {
	dir := filepath.Join(b.p.workDir, name)
	s, err := startSim(b.exosim, filepath.Join(dir, "sim"), n, b.p.latency)
	if err != nil {
		return nil, procResult{}, err
	}
	w, err := newWorld(b.rotatord, dir, stateDir, s, b.p)
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
	r := result{n: n}
	p := b.p

	b.logf("n=%d: rotatord, state on disk", n)
	w, adopt, err := b.prepare(ctx, fmt.Sprintf("n%d-disk", n), n, filepath.Join(p.workDir, fmt.Sprintf("n%d-disk", n), "state"))
	if err != nil {
		return r, err
	}
	defer w.sim.stop()
	r.adopt = adopt
	if r.forced, err = w.once(ctx, "--force"); err != nil {
		return r, err
	}
	if got := r.forced.calls[exosim.OpCreateAPIKey]; got != n {
		return r, fmt.Errorf("forced pass made %d creates for %d names (%s)", got, n, r.forced.outcome)
	}
	if r.liveAfter, r.max, err = w.sim.liveManaged(); err != nil {
		return r, err
	}
	if r.liveAfter != n || r.max > 2 {
		return r, fmt.Errorf("after the forced pass %d managed keys are alive (want %d), at most %d of a name at once (want 2)", r.liveAfter, n, r.max)
	}
	if r.noop, err = w.once(ctx); err != nil {
		return r, err
	}
	c := r.forced.calls
	// Per rotation, one after the other: create, get (confirm), delete,
	// and any operation polls. The listing happens once per pass.
	crit := c[exosim.OpCreateAPIKey] + c[exosim.OpGetAPIKey] + c[exosim.OpDeleteAPIKey] + c[exosim.OpGetOperation]
	r.critPerRot = float64(crit) / float64(n)
	lists := c[exosim.OpListAPIKeys]
	r.latBound = time.Duration(float64(p.latency) * (float64(lists) + float64(crit)/float64(p.concurrency)))
	r.rateBound = time.Duration(float64(c.total()) / p.rateLimit * float64(time.Second))
	b.logf("n=%d: forced pass %.2fs, bound %.2fs (%.2fx), %.1f requests per rotation", n,
		r.forced.wall.Seconds(), r.bound().Seconds(), r.passVsBound(), r.critPerRot)
	w.sim.stop()

	if p.durability {
		b.logf("n=%d: rotatord, state on tmpfs", n)
		ws, _, err := b.prepare(ctx, fmt.Sprintf("n%d-shm", n), n, filepath.Join(p.shmDir, fmt.Sprintf("n%d", n)))
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
		s, err := startSim(b.exosim, filepath.Join(dir, "sim"), n, p.latency)
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
	scrapeMedian time.Duration
	scrapeBytes  int
	scrapeSeries int
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
			d.scrapeMedian, d.scrapeBytes, d.scrapeSeries, err = dm.scrape(b.p.scrapes)
			return err
		}},
	} {
		if err := b.withDaemon(ctx, job.n, job.work); err != nil {
			return d, err
		}
	}
	return d, nil
}

// withDaemon runs `rotatord run` over a state with n managed names and a
// simulator that holds their keys, and calls work once it is ready.
func (b *bencher) withDaemon(ctx context.Context, n int, work func(*runner) error) error {
	name := fmt.Sprintf("daemon%d", n)
	w, _, err := b.prepare(ctx, name, n, filepath.Join(b.p.workDir, name, "state"))
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

func report(w io.Writer, p *params, rs []result, d daemonResult, load0, load1 string) {
	fmt.Fprintf(w, "rotatord bench: latency %s on every request, concurrency %d, rate_limit %g/s, grace_period 0, one file sink\n",
		p.latency, p.concurrency, p.rateLimit)
	fmt.Fprintf(w, "load average %s at start, %s at end (%d CPUs)\n\n", load0, load1, numCPU())

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\treq/rot\tbound s\tpass s\tpass/bound\tadopt s\tnoop s\tnoop req\tcpu ms/rot\tpeak RSS MB\ttmpfs pass s\tdurable share\tnaive s\tnaive/rotatord\tnaive req\trotatord req\tTCP conns\t")
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
		fmt.Fprintf(tw, "%d\t%.2f\t%s\t%s\t%.3f\t%s\t%s\t%d\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t\n",
			r.n, r.critPerRot, secs(r.bound()), secs(r.forced.wall), r.passVsBound(),
			secs(r.adopt.wall), secs(r.noop.wall), r.noop.calls.total(),
			float64(r.forced.cpu.Microseconds())/1000/float64(r.n), mb(r.forced.maxRSS),
			shm, share, naive, naiveRatio, naiveReq, r.forced.calls.total(), conns)
	}
	tw.Flush()

	last := rs[len(rs)-1]
	fmt.Fprintf(w, "\nforced pass at n=%d: API calls %s; latency bound %ss, rate bound %ss\n",
		last.n, formatCalls(last.forced.calls), secs(last.latBound), secs(last.rateBound))
	fmt.Fprintf(w, "critical path per rotation: create-api-key, get-api-key (confirm), delete-api-key (+ get-operation polls while pending), one after the other; list-api-keys once per pass\n")
	fmt.Fprintf(w, "rotatord run, %d names, idle %s: RSS %s MB, CPU %.3f%% of a core (%d ms; /proc counts 10 ms ticks)\n",
		d.idleNames, d.idleWindow, mb(d.idleRSS), 100*d.idleCPU, d.idleCPUTime.Milliseconds())
	fmt.Fprintf(w, "GET /metrics, %d names: median %.1f ms over %d GETs, %d bytes, %d key series\n\n",
		d.metricsNames, float64(d.scrapeMedian.Microseconds())/1000, p.scrapes, d.scrapeBytes, d.scrapeSeries)

	naiveWall, naiveReq := math.NaN(), math.NaN()
	if last.naiveRotated > 0 {
		naiveWall = ratio(last.naiveWall, last.forced.wall)
		naiveReq = float64(last.naiveRequests) / float64(last.forced.calls.total())
	}
	fmt.Fprintf(w, "bench: n=%d pass_vs_bound=%.3f naive_vs_rotatord_wall=%.2f naive_vs_rotatord_requests=%.2f cpu_ms_per_rotation=%.3f peak_rss_mb=%.1f durable_share=%.3f idle_rss_mb=%.1f idle_cpu_pct=%.3f metrics_ms=%.1f\n",
		last.n, last.passVsBound(), naiveWall, naiveReq,
		float64(last.forced.cpu.Microseconds())/1000/float64(last.n), float64(last.forced.maxRSS)/(1<<20),
		last.fsyncShare(), float64(d.idleRSS)/(1<<20), 100*d.idleCPU, float64(d.scrapeMedian.Microseconds())/1000)
}

func formatCalls(c callCounts) string {
	ops := make([]string, 0, len(c))
	for op := range c {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	var parts []string
	for _, op := range ops {
		parts = append(parts, fmt.Sprintf("%s=%d", op, c[op]))
	}
	return strings.Join(parts, " ")
}

func numCPU() int { return runtime.NumCPU() }
