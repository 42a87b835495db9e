package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rotatord/rotatord/config"
)

// world is one rotatord setup: a simulator, a policy file, a state
// directory and a sink directory.
type world struct {
	dir      string // policy, secret and logs
	stateDir string
	outDir   string
	policy   string
	spec     policySpec
	sim      *sim
	bin      string
	runs     int
	env      []string // added to rotatord's environment (once and run)
}

// policySpec is what a world's policy file sets beyond the managed names.
type policySpec struct {
	concurrency int     // exoscale.concurrency; 0: left out, rotatord's default
	rateLimit   float64 // exoscale.rate_limit; 0: left out, rotatord's adaptive default
	maxAge      string
	gracePeriod string
	vault       *vaultSink // a Vault sink instead of the file sink
	schedule    string     // the policy's schedule; "": every 24h
}

// vaultSink is a Vault KV v2 sink: the server's address and a file
// holding its token.
type vaultSink struct {
	address, tokenFile string
}

// effConcurrency is the requests rotatord keeps in flight under spec.
func (ps policySpec) effConcurrency() int {
	if ps.concurrency > 0 {
		return ps.concurrency
	}
	return config.DefaultConcurrency
}

// effRateLimit is the most requests per second rotatord makes under spec:
// without rate_limit, the ceiling of its adaptive rate.
func (ps policySpec) effRateLimit() float64 {
	if ps.rateLimit > 0 {
		return ps.rateLimit
	}
	return config.DefaultRateLimit
}

// newWorld writes the policy for sim. stateDir is where the state goes
// (on disk, or on tmpfs to measure what durability costs).
func newWorld(bin, dir, stateDir string, s *sim, ps policySpec) (*world, error) {
	w := &world{dir: dir, stateDir: stateDir, outDir: filepath.Join(dir, "out"), policy: filepath.Join(dir, "policy.yml"), spec: ps, sim: s, bin: bin}
	for _, d := range []string{dir, w.outDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(w.secretFile(), []byte(s.Secret+"\n"), 0o600); err != nil {
		return nil, err
	}
	if s.caFile != "" {
		// rotatord has no CA setting for the Exoscale endpoint: Go's
		// crypto/x509 reads the roots from SSL_CERT_FILE on Linux.
		w.env = append(w.env, "SSL_CERT_FILE="+s.caFile)
	}
	return w, w.writePolicy()
}

func (w *world) secretFile() string { return filepath.Join(w.dir, "admin-secret") }

// writePolicy writes the policy file of w.spec. Settings the spec leaves
// at zero are left out of the file, so that rotatord's defaults apply:
// what an operator who writes none of them gets.
func (w *world) writePolicy() error {
	var exo strings.Builder
	if w.spec.rateLimit > 0 {
		fmt.Fprintf(&exo, "  rate_limit: %g\n", w.spec.rateLimit)
	}
	if w.spec.concurrency > 0 {
		fmt.Fprintf(&exo, "  concurrency: %d\n", w.spec.concurrency)
	}
	sink := fmt.Sprintf("      - type: file\n        path: %s/{{.Name}}.json\n", w.outDir)
	if v := w.spec.vault; v != nil {
		sink = fmt.Sprintf(`      - type: vault
        address: %s
        path: "bench/{{.Name}}"
        auth:
          method: token
          token_file: %s
`, v.address, v.tokenFile)
	}
	schedule := w.spec.schedule
	if schedule == "" {
		schedule = "@every 24h"
	}
	policy := fmt.Sprintf(`exoscale:
  endpoint: %s
  api_key: %s
  api_secret_file: %s
  timeout: 60s
%sstate_dir: %s
listen: 127.0.0.1:0
policies:
  - name: bench
    match:
      name: "%s*"
    schedule: "%s"
    max_age: %s
    grace_period: %s
    sinks:
%s`, w.sim.Endpoint, w.sim.Key, w.secretFile(), exo.String(), w.stateDir, keyPrefix, schedule, w.spec.maxAge, w.spec.gracePeriod, sink)
	return os.WriteFile(w.policy, []byte(policy), 0o600)
}

// procResult is what one finished rotatord process cost.
type procResult struct {
	wall   time.Duration
	cpu    time.Duration // user + system
	maxRSS int64         // bytes
	// switches counts the times its threads left the CPU (voluntary and
	// involuntary context switches): on a virtual machine each costs tens
	// of microseconds of CPU, so it explains most of cpu.
	switches int64
	calls    callCounts // simulator calls made during the run
	conns    int        // TCP connections the run opened to the API (-1: unknown)
	outcome  string     // stdout summary: actions counted
	log      string     // path of its log (stderr)
}

// once runs `rotatord once [extra...]` to completion.
func (w *world) once(ctx context.Context, extra ...string) (procResult, error) {
	w.runs++
	logPath := filepath.Join(w.dir, fmt.Sprintf("once-%d.log", w.runs))
	logf, err := os.Create(logPath)
	if err != nil {
		return procResult{}, err
	}
	defer logf.Close()
	before, err := w.sim.calls()
	if err != nil {
		return procResult{}, err
	}
	conns := countConns(w.sim)
	args := append([]string{"once", "--config", w.policy}, extra...)
	cmd := exec.CommandContext(ctx, w.bin, args...)
	if len(w.env) > 0 {
		cmd.Env = append(os.Environ(), w.env...)
	}
	var stdout strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, logf
	start := time.Now()
	err = startProcess(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	wall := time.Since(start)
	opened := conns.result()
	if err != nil {
		return procResult{}, fmt.Errorf("rotatord %s: %v (log: %s)", strings.Join(args, " "), err, logPath)
	}
	after, err := w.sim.calls()
	if err != nil {
		return procResult{}, err
	}
	r := procResult{
		wall:    wall,
		cpu:     cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
		calls:   after.sub(before),
		outcome: summarizeOutcomes(stdout.String()),
		conns:   opened,
		log:     logPath,
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.maxRSS = int64(ru.Maxrss) * 1024 // kilobytes on Linux
		r.switches = ru.Nvcsw + ru.Nivcsw
	}
	return r, nil
}

// summarizeOutcomes counts the ACTION column of `once` output.
func summarizeOutcomes(out string) string {
	counts := map[string]int{}
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 4 {
			continue
		}
		counts[f[3]]++
	}
	var parts []string
	for a, n := range counts {
		parts = append(parts, fmt.Sprintf("%s=%d", a, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// runner is a running `rotatord run`.
type runner struct {
	cmd      *exec.Cmd
	done     chan error
	stopOnce sync.Once
	addr     string
	log      string
}

// start runs `rotatord run` and waits until its first pass has listed the
// keys (/readyz answers 200).
func (w *world) start(ctx context.Context) (*runner, error) {
	w.runs++
	logPath := filepath.Join(w.dir, fmt.Sprintf("run-%d.log", w.runs))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(w.bin, "run", "--config", w.policy)
	if len(w.env) > 0 {
		cmd.Env = append(os.Environ(), w.env...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := startProcess(cmd); err != nil {
		logf.Close()
		return nil, err
	}
	d := &runner{cmd: cmd, done: make(chan error, 1), log: logPath}
	go func() { d.done <- cmd.Wait(); logf.Close() }()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	line, err := waitLine(ctx, logPath, `"rotatord started"`)
	if err != nil {
		d.stop()
		return nil, err
	}
	var started struct {
		Listen string `json:"listen"`
	}
	if err := json.Unmarshal([]byte(line), &started); err != nil || started.Listen == "" {
		d.stop()
		return nil, fmt.Errorf("cannot read the listen address from %q", line)
	}
	d.addr = started.Listen
	for {
		resp, err := http.Get("http://" + d.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, nil
			}
		}
		select {
		case err := <-d.done:
			d.done <- err // for stop
			return nil, fmt.Errorf("rotatord run exited: %v (log: %s)", err, logPath)
		case <-ctx.Done():
			d.stop()
			return nil, fmt.Errorf("rotatord run not ready: %w (log: %s)", ctx.Err(), logPath)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (d *runner) stop() {
	if d == nil || d.cmd.Process == nil {
		return
	}
	d.stopOnce.Do(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(60 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	})
}

// procStat reads a process's CPU time (utime + stime) and resident set.
func procStat(pid int) (cpu time.Duration, rss int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name may hold spaces: fields start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	const clkTck = 100 // USER_HZ on Linux
	cpu = time.Duration(ut+st) * time.Second / clkTck

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, err := strconv.ParseInt(f[1], 10, 64)
				if err == nil {
					rss = kb * 1024
				}
			}
		}
	}
	return cpu, rss, nil
}

// idle measures a running daemon over d: CPU used in that window (as a
// share of one core) and the resident set at its end.
func (dm *runner) idle(ctx context.Context, d time.Duration) (cpu time.Duration, cpuShare float64, rss int64, err error) {
	pid := dm.cmd.Process.Pid
	cpu0, _, err := procStat(pid)
	if err != nil {
		return 0, 0, 0, err
	}
	t0 := time.Now()
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return 0, 0, 0, ctx.Err()
	}
	cpu1, rss, err := procStat(pid)
	if err != nil {
		return 0, 0, 0, err
	}
	return cpu1 - cpu0, float64(cpu1-cpu0) / float64(time.Since(t0)), rss, nil
}

// scrape GETs /metrics n times the way Prometheus's scraper does
// (prometheus/scrape/scrape.go, targetScraper): Accept-Encoding gzip with
// the transport's own decompression off, one gzip reader reset for each
// answer, the text written into a buffer kept from the scrape before.
// It returns the median time from the request to the last byte of the
// text, the size of the text and its per-name series. Go's default client
// (a new gzip reader and a buffer grown from nothing at every GET) is
// timed too, interleaved, for comparison: on this host its allocations
// (page faults in a small heap) moved its median between 6 and 12 ms for
// the same daemon.
func (dm *runner) scrape(n int) (s scrapeResult, err error) {
	url := "http://" + dm.addr + "/metrics"
	prom := &promScraper{client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableCompression: true}}}
	plain := &http.Client{Timeout: time.Minute}
	var times, plainTimes []time.Duration
	byProm := func() error {
		start := time.Now()
		text, err := prom.get(url)
		if err != nil {
			return err
		}
		times = append(times, time.Since(start))
		s.bytes = len(text)
		s.series = bytes.Count(text, []byte("rotatord_key_created_timestamp_seconds{"))
		return nil
	}
	byDefault := func() error {
		start := time.Now()
		resp, err := plain.Get(url)
		if err != nil {
			return err
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		plainTimes = append(plainTimes, time.Since(start))
		return nil
	}
	for i := range n {
		// Each client goes first in every other round.
		first, second := byProm, byDefault
		if i%2 == 1 {
			first, second = byDefault, byProm
		}
		if err := first(); err != nil {
			return s, err
		}
		if err := second(); err != nil {
			return s, err
		}
	}
	return scrapeResult{median: median(times), plainMedian: median(plainTimes), bytes: s.bytes, series: s.series}, nil
}

type scrapeResult struct {
	median      time.Duration // as Prometheus scrapes
	plainMedian time.Duration // with Go's default client
	bytes       int           // the text, decompressed
	series      int           // rotatord_key_created_timestamp_seconds series
}

// promScraper keeps what Prometheus keeps between scrapes of a target.
type promScraper struct {
	client *http.Client
	br     *bufio.Reader
	zr     *gzip.Reader
	text   bytes.Buffer
}

// get returns the decompressed answer, valid until the next get.
func (p *promScraper) get(url string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// What Prometheus 3 sends with its default scrape protocols.
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1")
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p.text.Reset()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		_, err = io.Copy(&p.text, resp.Body)
		return p.text.Bytes(), err
	}
	if p.zr == nil {
		p.br = bufio.NewReader(resp.Body)
		if p.zr, err = gzip.NewReader(p.br); err != nil {
			return nil, err
		}
	} else {
		p.br.Reset(resp.Body)
		if err := p.zr.Reset(p.br); err != nil {
			return nil, err
		}
	}
	_, err = io.Copy(&p.text, p.zr)
	if cerr := p.zr.Close(); err == nil {
		err = cerr
	}
	return p.text.Bytes(), err
}

// logEntry holds the fields of rotatord's JSON log lines that the bench
// reads.
type logEntry struct {
	Msg            string  `json:"msg"`
	TS             string  `json:"ts"`
	Name           string  `json:"name"`
	DeleteOldAfter string  `json:"delete_old_after"`
	Duration       float64 `json:"duration"` // seconds
	Rotated        int     `json:"rotated"`
	Failed         int     `json:"failed"`
}

// logTime is the layout of times in rotatord's log (zap's ISO8601).
const logTime = "2006-01-02T15:04:05.000Z0700"

// readLog returns the lines of a rotatord log whose msg is msg.
func readLog(path, msg string) ([]logEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []logEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var e logEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Msg == msg {
			out = append(out, e)
		}
	}
	return out, sc.Err()
}

// passDuration is the duration of the one pass a `rotatord once` logged:
// the pass alone, without starting the process and loading the state.
func passDuration(logPath string) (time.Duration, error) {
	done, err := readLog(logPath, "pass done")
	if err != nil {
		return 0, err
	}
	if len(done) != 1 || done[0].Duration <= 0 {
		return 0, fmt.Errorf("%s: want one \"pass done\" line with a duration, found %d", logPath, len(done))
	}
	return time.Duration(done[0].Duration * float64(time.Second)), nil
}
