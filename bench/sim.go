package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// keyPrefix names the keys the benchmark manages; the policy matches it.
const keyPrefix = "bench-"

// simOps are the operations a pass or the naive loop can call: each gets
// the same added latency.
var simOps = []string{
	exosim.OpListAPIKeys, exosim.OpCreateAPIKey, exosim.OpGetAPIKey,
	exosim.OpDeleteAPIKey, exosim.OpGetOperation, exosim.OpListIAMRoles,
}

// sim is a running exosim binary seeded with n keys named bench-00000...
type sim struct {
	cmd      *exec.Cmd
	done     chan error
	stopOnce sync.Once
	URL      string
	Endpoint string
	Key      string
	Secret   string
	latency  time.Duration // added to every API request
	// caFile is the certificate the simulator serves HTTPS with (and a
	// rotatord talking to it must trust); "": plain http.
	caFile string
	client *http.Client // for the bench's own calls to /_sim/
}

type simInfo struct {
	URL       string `json:"url"`
	Endpoint  string `json:"endpoint"`
	APIKey    string `json:"api_key"`
	APISecret string `json:"api_secret"`
}

// keyName is the name of the i-th managed key.
func keyName(i int) string { return fmt.Sprintf("%s%05d", keyPrefix, i) }

// otherPrefix names keys of the organization that no policy matches.
const otherPrefix = "other-"

// simSpec is what a simulator starts with.
type simSpec struct {
	managed int           // keys bench-00000...: the policy matches them
	others  int           // keys other-00000...: the policy does not
	latency time.Duration // added to every API request
	// limitRate is the gateway's limit (exosim -limit-rate): API calls per
	// second let through, the others answered 429; 0: none.
	limitRate float64
	// limitInFlight is the gateway's limit on API calls served at once
	// (exosim -limit-in-flight), the others answered 429; 0: none.
	limitInFlight int
	// limitRetryAfter is the Retry-After of the gateway's 429s, seconds
	// (exosim -limit-retry-after); 0: exosim's default, 1.
	limitRetryAfter int
	// tlsCert and tlsKey are the PEM files the simulator serves HTTPS
	// with (exosim -tls-cert, -tls-key); "": plain http.
	tlsCert, tlsKey string
}

// startSim writes a seed with the keys of spec and a faults file adding
// latency to every operation, and starts the exosim binary on them.
func startSim(bin, dir string, spec simSpec) (*sim, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var seed strings.Builder
	seed.WriteString("roles:\n")
	fmt.Fprintf(&seed, "  - {id: %s, name: admin}\n  - {id: %s, name: ci}\n", exosim.AdminRoleID, exosim.CIRoleID)
	seed.WriteString("keys:\n")
	for i := range spec.managed {
		fmt.Fprintf(&seed, "  - {name: %s, role: ci}\n", keyName(i))
	}
	for i := range spec.others {
		fmt.Fprintf(&seed, "  - {name: %s%05d, role: ci}\n", otherPrefix, i)
	}
	seedPath := filepath.Join(dir, "seed.yml")
	if err := os.WriteFile(seedPath, []byte(seed.String()), 0o600); err != nil {
		return nil, err
	}
	faults := map[string]map[string]string{}
	if spec.latency > 0 {
		for _, op := range simOps {
			faults[op] = map[string]string{"latency": spec.latency.String()}
		}
	}
	fb, _ := json.Marshal(faults)
	faultsPath := filepath.Join(dir, "faults.json")
	if err := os.WriteFile(faultsPath, fb, 0o600); err != nil {
		return nil, err
	}
	infoPath := filepath.Join(dir, "exosim.json")
	_ = os.Remove(infoPath)
	logf, err := os.Create(filepath.Join(dir, "exosim.log"))
	if err != nil {
		return nil, err
	}
	args := []string{"-seed", seedPath, "-faults", faultsPath, "-info-file", infoPath}
	if spec.limitRate > 0 {
		args = append(args, "-limit-rate", strconv.FormatFloat(spec.limitRate, 'g', -1, 64))
	}
	if spec.limitRetryAfter > 0 {
		args = append(args, "-limit-retry-after", strconv.Itoa(spec.limitRetryAfter))
	}
	if spec.limitInFlight > 0 {
		args = append(args, "-limit-in-flight", strconv.Itoa(spec.limitInFlight))
	}
	client := http.DefaultClient
	if spec.tlsCert != "" {
		args = append(args, "-tls-cert", spec.tlsCert, "-tls-key", spec.tlsKey)
		if client, err = trustingClient(spec.tlsCert); err != nil {
			logf.Close()
			return nil, err
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &sim{cmd: cmd, done: make(chan error, 1), latency: spec.latency, caFile: spec.tlsCert, client: client}
	go func() { s.done <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(infoPath)
		if err == nil {
			var info simInfo
			if json.Unmarshal(b, &info) == nil && info.Endpoint != "" {
				s.URL, s.Endpoint, s.Key, s.Secret = info.URL, info.Endpoint, info.APIKey, info.APISecret
				if s.caFile != "" && !strings.HasPrefix(s.URL, "https://") {
					// The pass would measure plain http under the TLS name.
					s.stop()
					return nil, fmt.Errorf("exosim was given a certificate but serves %s", s.URL)
				}
				return s, nil
			}
		}
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("exosim exited at start: %v (log: %s)", err, filepath.Join(dir, "exosim.log"))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("exosim did not write its info file within 60s")
		}
	}
}

// stop ends the simulator and waits for it. It is idempotent.
func (s *sim) stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// callCounts is /_sim/calls: per operation, its calls and the statuses
// they were answered with (0: no answer).
type callCounts map[string]exosim.CallStats

func (s *sim) calls() (callCounts, error) {
	resp, err := s.client.Get(s.URL + "/_sim/calls")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out callCounts
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// sub returns c minus before, per operation and status.
func (c callCounts) sub(before callCounts) callCounts {
	out := callCounts{}
	for op, s := range c {
		b := before[op]
		d := exosim.CallStats{Total: s.Total - b.Total, ByStatus: map[int]int{}}
		for status, n := range s.ByStatus {
			if k := n - b.ByStatus[status]; k != 0 {
				d.ByStatus[status] = k
			}
		}
		if d.Total != 0 {
			out[op] = d
		}
	}
	return out
}

// n is the calls of one operation.
func (c callCounts) n(op string) int { return c[op].Total }

// ok is the calls of one operation answered 2xx.
func (c callCounts) ok(op string) int {
	n := 0
	for status, k := range c[op].ByStatus {
		if status >= 200 && status < 300 {
			n += k
		}
	}
	return n
}

func (c callCounts) total() int {
	t := 0
	for _, s := range c {
		t += s.Total
	}
	return t
}

// status is the calls of every operation answered with a status from lo
// to hi included.
func (c callCounts) status(lo, hi int) int {
	n := 0
	for _, s := range c {
		for status, k := range s.ByStatus {
			if status >= lo && status <= hi {
				n += k
			}
		}
	}
	return n
}

// liveManaged counts the alive keys of the managed names and the highest
// number of keys a name ever had alive at once.
func (s *sim) liveManaged() (live, maxPerName int, err error) {
	resp, err := s.client.Get(s.URL + "/_sim/keys")
	if err != nil {
		return 0, 0, err
	}
	var keys []exosim.KeyRecord
	err = json.NewDecoder(resp.Body).Decode(&keys)
	resp.Body.Close()
	if err != nil {
		return 0, 0, err
	}
	for _, k := range keys {
		if k.Alive && strings.HasPrefix(k.Name, keyPrefix) {
			live++
		}
	}
	resp, err = s.client.Get(s.URL + "/_sim/max-live-per-name")
	if err != nil {
		return 0, 0, err
	}
	var m map[string]int
	err = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	for name, n := range m {
		if strings.HasPrefix(name, keyPrefix) && n > maxPerName {
			maxPerName = n
		}
	}
	return live, maxPerName, err
}

// waitLine waits until a line of the file at path contains substr, and
// returns that line.
func waitLine(ctx context.Context, path, substr string) (string, error) {
	for {
		if f, err := os.Open(path); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 64*1024), 1<<20)
			for sc.Scan() {
				if strings.Contains(sc.Text(), substr) {
					f.Close()
					return sc.Text(), nil
				}
			}
			f.Close()
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for %q in %s: %w", substr, path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// clientPorts returns the client ends (address:port, as /proc/net/tcp
// writes them) of the TCP connections to the simulator's port, in any
// state, from either end's socket; nil where there is no /proc/net/tcp.
// Both ends: whichever closes first waits in TIME_WAIT, and the other is
// gone at once. A create's connection over HTTP/1.1 ("Connection:
// close") is closed by the server first; one over HTTP/2, by the client.
func (s *sim) clientPorts() map[string]bool {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil
	}
	_, portText, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil
	}
	var out map[string]bool
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		if out == nil {
			out = map[string]bool{}
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			// sl local_address rem_address st ...
			if len(f) < 4 {
				continue
			}
			local, remote := hexPort(f[1]), hexPort(f[2])
			switch {
			case remote == port: // the client's end
				out[f[1]] = true
			case local == port && remote != 0: // the server's, not the listener
				out[f[2]] = true
			}
		}
	}
	return out
}

// hexPort is the port of an address of /proc/net/tcp (hex, after the
// last colon); -1 when it cannot be read.
func hexPort(addr string) int {
	i := strings.LastIndexByte(addr, ':')
	p, err := strconv.ParseInt(addr[i+1:], 16, 32)
	if err != nil {
		return -1
	}
	return int(p)
}

// connCounter counts the TCP connections opened to the simulator while it
// runs, by sampling: a client port not there at the previous sample is a
// new connection. A closed connection stays in TIME_WAIT for a minute, on
// the end that closed first (clientPorts reads both ends), so sampling
// every half second sees every one.
type connCounter struct {
	sim  *sim
	stop chan struct{}
	done chan int
}

func countConns(s *sim) *connCounter {
	c := &connCounter{sim: s, stop: make(chan struct{}), done: make(chan int, 1)}
	prev := s.clientPorts()
	if prev == nil {
		c.done <- -1
		return c
	}
	go func() {
		n := 0
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			stopping := false
			select {
			case <-t.C:
			case <-c.stop:
				stopping = true
			}
			cur := s.clientPorts()
			for p := range cur {
				if !prev[p] {
					n++
				}
			}
			prev = cur
			if stopping {
				c.done <- n
				return
			}
		}
	}()
	return c
}

// result takes a last sample and returns the count (-1: unknown).
func (c *connCounter) result() int {
	close(c.stop)
	return <-c.done
}

// served is how the simulator saw the API calls of a stretch of time: how
// many it was serving at once on average, and how long each took from its
// arrival to its answer. It splits a pass's distance to its latency bound
// in two: requests held longer than the latency (the simulator's share:
// its timer, its own work, a CPU it shares with the client) and fewer in
// flight than allowed (mostly the client's share: its work between an
// answer and the next request; also the simulator's writing of the answer
// and reading of the next request).
type served struct {
	unknown  string // why the figures are not known; "" when they are
	calls    int
	inFlight float64       // mean calls being served, from the first arrival to the last answer
	perCall  time.Duration // mean time from arrival to answer
	// overTLS and h2 count the calls that came over TLS and in HTTP/2:
	// what the pass over TLS measured. Counted also when unknown says
	// the log lost the pass's first calls (they are then of its tail).
	overTLS, h2 int
	// conns counts the connections the calls came on (their clients'
	// addresses), however they were closed: one that leaves no
	// TIME_WAIT (closed with a reset) is missed by countConns, which
	// saw 1 of the 21 of an HTTP/2 pass at n=20.
	conns int
}

// servedSince reads the simulator's request log (/_sim/requests) and
// sums up the answered calls that arrived at or after start.
func (s *sim) servedSince(start time.Time) (served, error) {
	resp, err := s.client.Get(s.URL + "/_sim/requests")
	if err != nil {
		return served{}, err
	}
	defer resp.Body.Close()
	var log exosim.RequestLog
	if err := json.NewDecoder(resp.Body).Decode(&log); err != nil {
		return served{}, fmt.Errorf("/_sim/requests: %w", err)
	}
	if log.Dropped > 0 && (len(log.Requests) == 0 || !log.Requests[0].Received.Before(start)) {
		// The bounded log let go of calls that may be the pass's first:
		// what is left would describe the pass's tail only.
		out := sumServed(log.Requests, start)
		out.unknown = fmt.Sprintf("the simulator's request log dropped %d calls, some of them maybe of the pass (it keeps %d)", log.Dropped, exosim.MaxRequests)
		return out, nil
	}
	out := sumServed(log.Requests, start)
	if out.calls == 0 {
		out.unknown = "no answered call of the pass in the simulator's request log"
	}
	return out, nil
}

// figures returns the mean calls in flight and milliseconds a call, NaN
// when they are not known.
func (s served) figures() (inFlight, msPerCall float64) {
	if s.unknown != "" || s.calls == 0 {
		return math.NaN(), math.NaN()
	}
	return s.inFlight, float64(s.perCall.Microseconds()) / 1000
}

// sumServed is servedSince's arithmetic.
func sumServed(reqs []exosim.Request, start time.Time) served {
	var (
		out         served
		busy        time.Duration
		first, last time.Time
		remotes     = map[string]bool{}
	)
	for _, r := range reqs {
		if r.Received.Before(start) || r.Status == 0 || r.Answered.IsZero() {
			continue
		}
		out.calls++
		if r.TLS {
			out.overTLS++
		}
		if r.Proto == "HTTP/2.0" {
			out.h2++
		}
		remotes[r.Remote] = true
		busy += r.Answered.Sub(r.Received)
		if first.IsZero() || r.Received.Before(first) {
			first = r.Received
		}
		if r.Answered.After(last) {
			last = r.Answered
		}
	}
	if out.calls == 0 || !last.After(first) {
		return served{}
	}
	out.conns = len(remotes)
	out.inFlight = float64(busy) / float64(last.Sub(first))
	out.perCall = busy / time.Duration(out.calls)
	return out
}
