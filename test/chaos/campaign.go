// Command chaos is rotatord's crash and fault campaign. It starts the real
// exosim binary with a seeded organization and fault injection, runs the
// real `rotatord run` binary against it with a fast schedule, kills it with
// SIGKILL at seeded random moments and restarts it, and checks after every
// kill and at the end that no consumer lost its credential (no outage), no
// key rotatord made is left behind (no leak), and no secret escaped.
//
//	go run ./test/chaos -cycles 200 -seed 42
//
// It prints one summary line and exits 1 if any check failed.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Config of a campaign.
type Config struct {
	Seed      uint64
	Cycles    int
	Names     int           // managed key names, spread over three policies
	MaxUp     time.Duration // longest a rotatord lives before its SIGKILL
	BinDir    string        // holds rotatord and exosim; built when empty
	WorkDir   string        // kept for inspection when set; else a temp dir
	Verbose   io.Writer     // progress lines, or nil
	Untouched int           // keys no policy matches
}

// Summary is what the campaign observed.
type Summary struct {
	Seed           uint64
	Cycles, Kills  int
	Rotations      int // keys rotatord created that some sink received
	Outages        int
	Leaks          int
	MaxKeysPerName int
	UntouchedOK    bool
	SecretsInLogs  int
	Problems       []string
}

// Line is the one-line summary.
func (s Summary) Line() string {
	return fmt.Sprintf("chaos: seed=%d cycles=%d kills=%d rotations=%d outages=%d leaks=%d max_keys_per_name=%d untouched_ok=%t secrets_in_logs=%d",
		s.Seed, s.Cycles, s.Kills, s.Rotations, s.Outages, s.Leaks, s.MaxKeysPerName, s.UntouchedOK, s.SecretsInLogs)
}

// OK reports whether every check passed.
func (s Summary) OK() bool {
	return s.Outages == 0 && s.Leaks == 0 && s.MaxKeysPerName <= 2 && s.UntouchedOK && s.SecretsInLogs == 0 && len(s.Problems) == 0
}

var policies = []struct{ name, prefix, role string }{
	{"ci", "ci-", "ci"},
	{"apps", "app-", "app"},
	{"backup", "bk-", "backup"},
}

type campaign struct {
	cfg     Config
	rnd     *rand.Rand
	dir     string
	simURL  string
	admin   struct{ Key, Secret string }
	sim     *exec.Cmd
	sum     Summary
	names   []string        // managed key names
	seeded  map[string]bool // key ids present before rotatord ran
	inSink  map[string]bool // every key id ever seen in a sink
	logPath string
	listen  string
}

// Run runs a campaign.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if cfg.Cycles <= 0 {
		cfg.Cycles = 20
	}
	if cfg.Names <= 0 {
		cfg.Names = 30
	}
	if cfg.MaxUp <= 0 {
		cfg.MaxUp = 3 * time.Second
	}
	if cfg.Untouched <= 0 {
		cfg.Untouched = 3
	}
	c := &campaign{
		cfg: cfg, rnd: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		seeded: map[string]bool{}, inSink: map[string]bool{},
	}
	c.sum.Seed, c.sum.UntouchedOK = cfg.Seed, true
	dir := cfg.WorkDir
	if dir == "" {
		d, err := os.MkdirTemp("", "rotatord-chaos-")
		if err != nil {
			return c.sum, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	c.dir = dir
	if err := c.setup(ctx); err != nil {
		return c.sum, err
	}
	defer c.stopSim()

	for i := 0; i < cfg.Cycles && ctx.Err() == nil; i++ {
		if err := c.cycle(ctx, i); err != nil {
			return c.sum, err
		}
	}
	if err := c.finish(ctx); err != nil {
		return c.sum, err
	}
	return c.sum, nil
}

func (c *campaign) logf(format string, args ...any) {
	if c.cfg.Verbose != nil {
		fmt.Fprintf(c.cfg.Verbose, format+"\n", args...)
	}
}

func (c *campaign) problem(format string, args ...any) {
	p := fmt.Sprintf(format, args...)
	c.sum.Problems = append(c.sum.Problems, p)
	c.logf("PROBLEM: %s", p)
}

func (c *campaign) bin(name string) string { return filepath.Join(c.cfg.BinDir, name) }

func (c *campaign) setup(ctx context.Context) error {
	if c.cfg.BinDir == "" {
		c.cfg.BinDir = filepath.Join(c.dir, "bin")
		for _, name := range []string{"rotatord", "exosim"} {
			cmd := exec.CommandContext(ctx, "go", "build", "-o", c.bin(name), "./cmd/"+name)
			cmd.Dir = moduleRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("build %s: %v\n%s", name, err, out)
			}
		}
	}
	for _, d := range []string{"state", "logs"} {
		if err := os.MkdirAll(filepath.Join(c.dir, d), 0o700); err != nil {
			return err
		}
	}
	for _, p := range policies {
		if err := os.MkdirAll(filepath.Join(c.dir, "sinks", p.name), 0o700); err != nil {
			return err
		}
	}
	c.logPath = filepath.Join(c.dir, "logs", "rotatord.log")

	// The organization: three roles and policies, managed names spread
	// over them, keys no policy matches, and the admin.
	var seed strings.Builder
	seed.WriteString("roles:\n")
	roleIDs := map[string]string{}
	for i, p := range policies {
		id := fmt.Sprintf("%08d-0000-4000-8000-%012d", i+1, i+1)
		roleIDs[p.role] = id
		fmt.Fprintf(&seed, "  - {id: %s, name: %s}\n", id, p.role)
	}
	seed.WriteString("keys:\n")
	for i := 0; i < c.cfg.Names; i++ {
		p := policies[i%len(policies)]
		name := fmt.Sprintf("%s%02d", p.prefix, i)
		c.names = append(c.names, name)
		fmt.Fprintf(&seed, "  - {name: %s, role: %s}\n", name, p.role)
	}
	for i := 0; i < c.cfg.Untouched; i++ {
		fmt.Fprintf(&seed, "  - {name: manual-%02d, role: ci}\n", i)
	}
	seedPath := filepath.Join(c.dir, "seed.yml")
	if err := os.WriteFile(seedPath, []byte(seed.String()), 0o600); err != nil {
		return err
	}

	// 5% of calls answer 5xx, 1% 429, 2% of creates lose their answer,
	// deletes stay pending for two polls, and latency so kills land
	// inside rotations.
	faults := `{
  "list-api-keys":  {"latency": "20ms", "error_rate": 0.05, "rate_limit_rate": 0.01, "retry_after": 1},
  "create-api-key": {"latency": "60ms", "error_rate": 0.05, "rate_limit_rate": 0.01, "retry_after": 1, "lose_response_rate": 0.02},
  "get-api-key":    {"latency": "20ms", "error_rate": 0.05, "rate_limit_rate": 0.01, "retry_after": 1},
  "delete-api-key": {"latency": "40ms", "error_rate": 0.05, "rate_limit_rate": 0.01, "retry_after": 1, "pending_polls": 2},
  "get-operation":  {"latency": "10ms", "error_rate": 0.05}
}`
	faultsPath := filepath.Join(c.dir, "faults.json")
	if err := os.WriteFile(faultsPath, []byte(faults), 0o600); err != nil {
		return err
	}
	infoPath := filepath.Join(c.dir, "exosim.json")
	c.sim = exec.Command(c.bin("exosim"), "-listen", "127.0.0.1:0", "-seed", seedPath, "-faults", faultsPath,
		"-info-file", infoPath, "-rand-seed", fmt.Sprint(c.cfg.Seed))
	c.sim.Stdout, c.sim.Stderr = io.Discard, io.Discard
	if err := c.sim.Start(); err != nil {
		return err
	}
	var info struct {
		URL, Endpoint     string
		APIKey, APISecret string
	}
	if err := waitFor(ctx, 10*time.Second, func() bool {
		b, err := os.ReadFile(infoPath)
		return err == nil && json.Unmarshal(b, &struct {
			URL       *string `json:"url"`
			Endpoint  *string `json:"endpoint"`
			APIKey    *string `json:"api_key"`
			APISecret *string `json:"api_secret"`
		}{&info.URL, &info.Endpoint, &info.APIKey, &info.APISecret}) == nil && info.URL != ""
	}); err != nil {
		return fmt.Errorf("exosim did not start: %w", err)
	}
	c.simURL = info.URL
	c.admin.Key, c.admin.Secret = info.APIKey, info.APISecret
	if err := os.WriteFile(filepath.Join(c.dir, "admin-secret"), []byte(info.APISecret), 0o600); err != nil {
		return err
	}
	keys, err := c.keys()
	if err != nil {
		return err
	}
	for _, k := range keys {
		c.seeded[k.Key] = true
	}
	c.listen = freeAddr()
	return c.writePolicy("3s")
}

func (c *campaign) writePolicy(maxAge string) error {
	var b strings.Builder
	fmt.Fprintf(&b, `exoscale:
  endpoint: %s/v2
  api_key: %s
  api_secret_file: admin-secret
  timeout: 5s
  max_retries: 2
  rate_limit: 200
state_dir: state
listen: %s
policies:
`, c.simURL, c.admin.Key, c.listen)
	for _, p := range policies {
		fmt.Fprintf(&b, `  - name: %s
    match: {name: "%s*"}
    schedule: "@every 1s"
    max_age: %s
    grace_period: 2s
    adopt: rotate
    sinks:
      - type: file
        path: "sinks/%s/{{.Name}}.json"
`, p.name, p.prefix, maxAge, p.name)
	}
	return os.WriteFile(filepath.Join(c.dir, "policy.yml"), []byte(b.String()), 0o600)
}

// cycle starts rotatord, lets it work a seeded random while, kills it with
// SIGKILL, and checks the invariants that hold at every moment.
func (c *campaign) cycle(ctx context.Context, i int) error {
	up := time.Duration(c.rnd.Int64N(int64(c.cfg.MaxUp-100*time.Millisecond))) + 100*time.Millisecond
	cmd, err := c.startRotatord()
	if err != nil {
		return err
	}
	select {
	case <-time.After(up):
	case <-ctx.Done():
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	c.sum.Kills++
	c.sum.Cycles++
	c.logf("cycle %d: killed after %v", i, up.Round(time.Millisecond))
	return c.checkNow(false)
}

func (c *campaign) startRotatord(args ...string) (*exec.Cmd, error) {
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	if len(args) == 0 {
		args = []string{"run"}
	}
	args = append(args, "--config", filepath.Join(c.dir, "policy.yml"))
	cmd := exec.Command(c.bin("rotatord"), args...)
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}

type simKey struct {
	Key, Name, Secret string
	RoleID            string `json:"role_id"`
	Alive             bool
}

func (c *campaign) keys() ([]simKey, error) {
	var ks []simKey
	return ks, c.getJSON("/_sim/keys", &ks)
}

func (c *campaign) getJSON(path string, v any) error {
	resp, err := http.Get(c.simURL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (c *campaign) authenticates(key, secret string) bool {
	body, _ := json.Marshal(map[string]string{"api_key": key, "api_secret": secret})
	resp, err := http.Post(c.simURL+"/_sim/authenticate", "application/json", bytes.NewReader(body))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var r struct{ OK bool }
	return json.NewDecoder(resp.Body).Decode(&r) == nil && r.OK
}

// sinkHolds reads the json sink file of a name: the key id and secret.
func (c *campaign) sinkHolds(name string) (key, sec string, ok bool) {
	p := policies[0]
	for _, q := range policies {
		if strings.HasPrefix(name, q.prefix) {
			p = q
		}
	}
	path := filepath.Join(c.dir, "sinks", p.name, name+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", false
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		c.problem("sink file %s has mode %04o", path, fi.Mode().Perm())
	}
	var v struct {
		APIKey    string `json:"api_key"`
		APISecret string `json:"api_secret"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		c.problem("sink file %s does not parse: %v", path, err)
		return "", "", false
	}
	return v.APIKey, v.APISecret, true
}

// checkNow checks what must hold whenever rotatord is not running. At the
// end (final) every name must have exactly one live key, held by its sink.
func (c *campaign) checkNow(final bool) error {
	keys, err := c.keys()
	if err != nil {
		return err
	}
	live := map[string][]simKey{}
	for _, k := range keys {
		if k.Alive {
			live[k.Name] = append(live[k.Name], k)
		}
	}
	// No outage: every sink that holds a credential holds a working one.
	for _, name := range c.names {
		key, sec, ok := c.sinkHolds(name)
		if !ok {
			if final {
				c.problem("%s: no credential in its sink at the end", name)
				c.sum.Outages++
			}
			continue
		}
		c.inSink[key] = true
		if !c.authenticates(key, sec) {
			c.sum.Outages++
			c.problem("%s: the sink's key %s does not authenticate", name, key)
		}
	}
	// No leak: keys rotatord created that never reached a sink, beyond
	// the one rotation per name that may be in flight.
	for _, name := range c.names {
		stray := 0
		for _, k := range live[name] {
			if !c.seeded[k.Key] && !c.inSink[k.Key] {
				stray++
			}
		}
		limit := 1
		if final {
			limit = 0
			if n := len(live[name]); n != 1 {
				c.sum.Leaks += n - 1
				c.problem("%s: %d live keys at the end, want 1", name, n)
			}
		}
		if stray > limit {
			c.sum.Leaks += stray - limit
			c.problem("%s: %d live keys created by rotatord that no sink ever held", name, stray)
		}
	}
	// Never more than two live keys per name at any moment the simulator saw.
	var maxLive map[string]int
	if err := c.getJSON("/_sim/max-live-per-name", &maxLive); err != nil {
		return err
	}
	for _, name := range c.names {
		if n := maxLive[name]; n > c.sum.MaxKeysPerName {
			c.sum.MaxKeysPerName = n
		}
	}
	// Untouched: keys no policy matches, and rotatord's own key.
	for _, k := range keys {
		managed := false
		for _, p := range policies {
			managed = managed || strings.HasPrefix(k.Name, p.prefix)
		}
		if !managed && (!k.Alive || !c.seeded[k.Key]) {
			c.sum.UntouchedOK = false
			c.problem("unmanaged key %s (%s) was touched", k.Key, k.Name)
		}
	}
	if maxLive["manual-00"] > 1 || !c.authenticates(c.admin.Key, c.admin.Secret) {
		c.sum.UntouchedOK = false
	}
	return nil
}

// finish switches the faults off, stops rotations from coming due, runs
// passes until every interrupted rotation is settled and the grace
// periods are over, then checks everything, secrets included.
func (c *campaign) finish(ctx context.Context) error {
	req, _ := http.NewRequest(http.MethodDelete, c.simURL+"/_sim/faults", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if err := c.writePolicy("1h"); err != nil {
		return err
	}
	// A daemon run, to scrape /metrics, then `once` passes past the grace.
	cmd, err := c.startRotatord()
	if err != nil {
		return err
	}
	var metrics string
	waitFor(ctx, 20*time.Second, func() bool {
		resp, err := http.Get("http://" + c.listen + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		metrics = string(b)
		return strings.Contains(metrics, "rotatord_passes_total")
	})
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		c.problem("rotatord run did not exit cleanly on SIGTERM: %v", err)
	}
	for i := 0; i < 4; i++ {
		once, err := c.startRotatord("once")
		if err != nil {
			return err
		}
		_ = once.Wait()
		time.Sleep(2100 * time.Millisecond) // the grace period
	}
	if err := c.checkNow(true); err != nil {
		return err
	}

	keys, err := c.keys()
	if err != nil {
		return err
	}
	// No secret the simulator ever issued in logs, state or metrics.
	var blobs []string
	logs, _ := os.ReadFile(c.logPath)
	c.sum.Rotations = strings.Count(string(logs), `"msg":"rotation delivered"`)
	blobs = append(blobs, string(logs), metrics)
	filepath.Walk(filepath.Join(c.dir, "state"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			blobs = append(blobs, string(b))
		}
		return nil
	})
	for _, k := range append(keys, simKey{Key: c.admin.Key, Secret: c.admin.Secret}) {
		for _, b := range blobs {
			if k.Secret != "" && strings.Contains(b, k.Secret) {
				c.sum.SecretsInLogs++
				c.problem("the secret of %s appears in logs, state or metrics", k.Key)
			}
		}
	}
	if metrics == "" {
		c.problem("could not scrape /metrics")
	}
	return nil
}

func (c *campaign) stopSim() {
	if c.sim != nil && c.sim.Process != nil {
		_ = c.sim.Process.Signal(syscall.SIGTERM)
		_ = c.sim.Wait()
	}
}

func waitFor(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:9108"
	}
	defer ln.Close()
	return ln.Addr().String()
}

// moduleRoot finds the directory holding go.mod, for `go build`.
func moduleRoot() string {
	dir, _ := os.Getwd()
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	return dir
}
