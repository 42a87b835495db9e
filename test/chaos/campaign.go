// Command chaos is rotatord's crash and fault campaign. It starts the real
// exosim binary with a seeded organization and fault injection, runs the
// real `rotatord run` binary against it with a fast schedule, and at seeded
// random moments: kills it (SIGKILL, or SIGTERM in the middle of a
// rotation), reloads a changed policy file (SIGHUP), breaks sink
// directories, turns simulator faults on and off (late-applied creates,
// stale reads, failing and undeletable deletes, creates applied and then
// answered 429), creates and deletes keys as someone else, restores the
// state directory from an older copy, and restarts rotatord with its clock
// offset; and kills it during the Retry-After wait of a create answered 429
// or after a step of that rotation. A sampler authenticates what every sink
// holds every 100-300 ms the whole time.
//
// It checks that no consumer ever holds a dead credential (no outage), that
// at the end every live key rotatord made is held by a sink (no leak), that
// no name ever has more than two live keys (the keys made by creates
// answered 429 counted apart: at the end every one of them must be gone),
// that keys no policy manages are untouched, and that no secret escaped
// into logs, state or metrics.
//
//	go run ./test/chaos -cycles 200 -seed 42
//
// With -ha it runs two or three replicas with leader election and the
// journal in a real kube-apiserver instead, and checks for overlapping
// leaders and measures failovers (ha.go).
//
// The same seed gives the same schedule of actions. It prints the problems
// found, each with its key story and the recent log lines of that name,
// then one summary line, and exits 1 if any check failed.
package main

import (
	"bufio"
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
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rotatord/rotatord/sinks/vault/vaulttest"
)

// Config of a campaign.
type Config struct {
	Seed      uint64
	Cycles    int
	Names     int           // managed key names, spread over three policies
	MaxUp     time.Duration // longest a rotatord lives before it is stopped
	BinDir    string        // holds rotatord and exosim; built when empty
	WorkDir   string        // kept for inspection when set; else a temp dir
	Verbose   io.Writer     // progress lines, or nil
	Untouched int           // keys no policy matches
	// Vault: "auto" (use a Vault dev server when a binary is found, or
	// fail without one when ROTATORD_REQUIRE_VAULT=1), "on" or "off".
	Vault string
	// HA runs Replicas `rotatord run` processes with leader election and
	// the journal in a real API server (ha.go), with these Lease settings.
	HA                                        bool
	Replicas                                  int
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// WideningReloadsOnly keeps reloads from narrowing a policy (match,
	// exclude, role_id, a policy removed): they only add the extra sink.
	WideningReloadsOnly bool
	// Mangle puts a proxy between rotatord and exosim whose answers are
	// another stand-in's (mangle.go).
	Mangle bool
	// Grace is the consumers' policies' grace_period; nil: 2s.
	Grace *time.Duration
}

// Summary is what the campaign observed.
type Summary struct {
	Seed                 uint64
	Cycles, Kills, Terms int
	Reloads, Restores    int
	ClockOffsets         int
	LateCreates          int // creates the simulator applied late
	Zombies              int // keys that became undeletable zombies
	External             int // keys created or deleted by someone else
	SinkFaults           int
	Samples              int // sampler rounds
	Rotations            int // "rotation delivered" log lines
	Outages              int
	Leaks                int
	MaxKeysPerName       int
	MaxOwnKeys           int // live keys of rotatord's own key's name at one moment
	OwnRotations         int // own-key rotations delivered
	OwnStepKills         int // kills right after a step of an own-key rotation
	Answered429          int // keys made by creates the simulator applied and answered 429
	Answered429Kills     int // kills during the Retry-After wait of such a create or after a step of its rotation
	UntouchedOK          bool
	SecretsInLogs        int
	JournalLogsScanned   int // write-ahead logs a stop left in the state directory, searched for secrets
	Vault                bool
	Problems             []string
	ExcusedDead          int // sinks seen holding a key deleted by someone else

	// HA mode (ha.go).
	HA                                    bool
	Replicas                              int
	LeaderKills, LeaderTerms, LeaderStops int // SIGKILL, SIGTERM, SIGSTOP sent to the leader
	StandbyKills, APIRestarts             int
	Failovers                             int     // leader disturbances after which another replica called the API
	FailoverMs                            []int64 // each failover's time
	LeaseTerms                            int     // leadership terms in the audit log
	OverlappingLeaders                    int     // writes after a later leader's term began
	Stranded                              int     // rotations in flight the leader's policies do not match
	Notes                                 []string

	mangled string // the mangler's counters (-mangle), for the summary line
}

// Line is the one-line summary.
func (s Summary) Line() string {
	return fmt.Sprintf("chaos: seed=%d cycles=%d kills=%d terms=%d reloads=%d restores=%d clock_offsets=%d "+
		"late_creates=%d zombies=%d external=%d sink_faults=%d samples=%d vault=%t rotations=%d "+
		"own_rotations=%d own_step_kills=%d answered_429=%d answered_429_kills=%d outages=%d leaks=%d max_keys_per_name=%d max_own_keys=%d untouched_ok=%t secrets_in_logs=%d journal_logs_scanned=%d",
		s.Seed, s.Cycles, s.Kills, s.Terms, s.Reloads, s.Restores, s.ClockOffsets,
		s.LateCreates, s.Zombies, s.External, s.SinkFaults, s.Samples, s.Vault, s.Rotations,
		s.OwnRotations, s.OwnStepKills, s.Answered429, s.Answered429Kills, s.Outages, s.Leaks, s.MaxKeysPerName, s.MaxOwnKeys, s.UntouchedOK, s.SecretsInLogs, s.JournalLogsScanned) + s.haLine() + s.mangled
}

// haLine is the HA mode's part of the summary line.
func (s Summary) haLine() string {
	if !s.HA {
		return ""
	}
	return fmt.Sprintf(" replicas=%d leader_kills=%d leader_terms=%d leader_stops=%d standby_kills=%d api_restarts=%d lease_terms=%d failovers=%d overlapping_leaders=%d stranded_rotations=%d failover_ms=%s",
		s.Replicas, s.LeaderKills, s.LeaderTerms, s.LeaderStops, s.StandbyKills, s.APIRestarts, s.LeaseTerms, s.Failovers, s.OverlappingLeaders, s.Stranded, minMedMax(s.FailoverMs))
}

// OK reports whether every check passed.
func (s Summary) OK() bool {
	return s.Outages == 0 && s.Leaks == 0 && s.OverlappingLeaders == 0 && s.Stranded == 0 && s.MaxKeysPerName <= 2 && s.MaxOwnKeys <= 2 && s.UntouchedOK && s.SecretsInLogs == 0 && len(s.Problems) == 0
}

// policyDef is one policy of the campaign; reloads change them (variant).
type policyDef struct {
	name, prefix, role string
	sinks              []sinkDef
}

var policies = []policyDef{
	{"ci", "ci-", "ci", []sinkDef{{id: "ci-json", format: "json", ext: ".json"}, {id: "ci-env", format: "env", ext: ".env"}}},
	{"apps", "app-", "app", []sinkDef{{id: "apps-toml", format: "exoscale-toml", ext: ".toml"}, {id: "apps-tpl", format: "template", ext: ".conf"}}},
	{"backup", "bk-", "backup", []sinkDef{{id: "bk-json", format: "json", ext: ".json"}, {id: "bk-tpl", format: "template", ext: ".tpl"}}},
}

// extraSink is a template sink a reload adds to apps mid-run (once added,
// it stays: a consumer reads it from then on).
var extraSink = sinkDef{id: "apps-extra", format: "template", ext: ".txt", extra: true}

var vaultSink = sinkDef{id: "vault", format: "vault"}

// The admin key is named so that the backup policy matches it: rotatord
// must never delete the key it signs with.
const adminName = "bk-admin"

type campaign struct {
	cfg    Config
	rnd    *rand.Rand // the schedule: only the main goroutine draws from it
	dir    string
	simURL string
	apiURL string // rotatord's endpoint: simURL, or the mangler's
	mangle *mangler
	admin  cred
	// adminRole is the role of rotatord's own key: its replacements keep it.
	adminRole string
	sim       *exec.Cmd
	vault     *vaulttest.Server
	roles     map[string]string // role name -> id
	names     []string          // managed key names
	policy    map[string]policyDef
	// untouched are seeded keys no policy variant ever manages: other
	// roles under a managed glob, excluded names, unmatched names.
	untouched map[string]string // key id -> why
	seeded    map[string]bool   // key ids present before rotatord ran
	logPath   string
	listen    string
	variant   variant
	snapshot  bool // a state backup exists
	httpc     *http.Client
	metrics   string

	extraAdded atomic.Bool // the extra sink is in the policy file

	ha *haState // HA mode only

	fmu     sync.RWMutex // sink directory faults against sink reads
	faulted map[string]*sinkFault

	mu         sync.Mutex // everything below, and sum
	sum        Summary
	everHeld   map[string]bool            // key ids some sink ever held
	heldNow    map[string]map[string]bool // sink path -> key ids it held at the last sample
	sinkSeen   map[string]bool            // sink paths that ever had content
	outageSeen map[string]bool            // "path key" pairs already counted
	extDeleted map[string]bool            // keys the campaign deleted as someone else
	extCreated map[string]bool
	leaked     map[string]bool
	excused    map[string]bool
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
	if cfg.Vault == "" {
		cfg.Vault = "auto"
	}
	c := &campaign{
		cfg: cfg, rnd: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		seeded: map[string]bool{}, everHeld: map[string]bool{}, heldNow: map[string]map[string]bool{},
		sinkSeen: map[string]bool{}, outageSeen: map[string]bool{}, extDeleted: map[string]bool{},
		extCreated: map[string]bool{}, leaked: map[string]bool{}, excused: map[string]bool{},
		faulted: map[string]*sinkFault{}, untouched: map[string]string{}, policy: map[string]policyDef{},
		httpc: &http.Client{Timeout: 10 * time.Second},
	}
	for _, p := range policies {
		c.policy[p.name] = p
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
	defer c.stopVault()
	cycle, settle := c.cycle, c.settle
	if cfg.HA {
		haDefaults(&c.cfg)
		if err := checkHAConfig(c.cfg); err != nil {
			return c.sum, err
		}
		c.sum.HA, c.sum.Replicas = true, c.cfg.Replicas
		cycle, settle = c.haCycle, c.haSettle
		defer c.stopHA()
		if err := c.setupHA(ctx); err != nil {
			return c.sum, err
		}
	}
	if err := c.setup(ctx); err != nil {
		return c.sum, err
	}
	defer c.stopSim()
	defer c.mangle.close()

	sctx, stopSampler := context.WithCancel(ctx)
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		c.sampler(sctx)
	}()
	pollerDone := make(chan struct{})
	go func() {
		defer close(pollerDone)
		if c.ha != nil {
			c.requestPoller(sctx)
		}
	}()
	err := func() error {
		if c.ha != nil {
			if err := c.pollRequests(); err != nil {
				return err
			}
		}
		for i := 0; i < cfg.Cycles && ctx.Err() == nil; i++ {
			if err := cycle(ctx, i); err != nil {
				return err
			}
		}
		return settle(ctx)
	}()
	stopSampler()
	<-samplerDone
	<-pollerDone
	if err == nil {
		err = c.finalChecks(ctx)
	}
	if cfg.WorkDir != "" {
		c.keepSimRecord()
	}
	if err == nil && c.ha != nil {
		c.haAnalyze(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sum.mangled = c.mangle.line()
	return c.sum, err
}

// keepSimRecord writes, into a kept work directory, what the simulator
// knows at the end: every key it ever had (secrets left out) and its log
// of creates and deletes, to reconstruct a problem's story afterwards.
func (c *campaign) keepSimRecord() {
	keys, err := c.keys()
	if err == nil {
		for i := range keys {
			keys[i].Secret = ""
		}
		b, _ := json.MarshalIndent(keys, "", "  ")
		_ = os.WriteFile(filepath.Join(c.dir, "logs", "sim-keys.json"), b, 0o600)
	}
	var l json.RawMessage
	if c.getJSON("/_sim/requests?writes=1", &l) == nil {
		_ = os.WriteFile(filepath.Join(c.dir, "logs", "sim-writes.json"), l, 0o600)
	}
}

func (c *campaign) logf(format string, args ...any) {
	if c.cfg.Verbose != nil {
		fmt.Fprintf(c.cfg.Verbose, format+"\n", args...)
	}
}

// problem records a failed check. The caller must not hold c.mu.
func (c *campaign) problem(format string, args ...any) {
	p := fmt.Sprintf(format, args...)
	c.mu.Lock()
	c.sum.Problems = append(c.sum.Problems, p)
	c.mu.Unlock()
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
		for _, s := range p.sinks {
			if err := os.MkdirAll(filepath.Join(c.dir, "sinks", s.id), 0o700); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(c.dir, "sinks", extraSink.id), 0o700); err != nil {
		return err
	}
	c.logPath = filepath.Join(c.dir, "logs", "rotatord.log")
	if err := c.setupVault(); err != nil {
		return err
	}

	// The organization: a role per policy, plus readonly (other roles
	// under a managed glob) and deploy (a role change that matches none).
	var seed strings.Builder
	seed.WriteString("admin: {name: " + adminName + "}\nroles:\n")
	c.roles = map[string]string{}
	for i, r := range []string{"ci", "app", "backup", "readonly", "deploy"} {
		id := fmt.Sprintf("%08d-0000-4000-8000-%012d", i+1, i+1)
		c.roles[r] = id
		fmt.Fprintf(&seed, "  - {id: %s, name: %s}\n", id, r)
	}
	seed.WriteString("keys:\n")
	for i := 0; i < c.cfg.Names; i++ {
		p := policies[i%len(policies)]
		name := fmt.Sprintf("%s%02d", p.prefix, i)
		c.names = append(c.names, name)
		fmt.Fprintf(&seed, "  - {name: %s, role: %s}\n", name, p.role)
	}
	untouched := map[string]string{}
	for i := 0; i < c.cfg.Untouched; i++ {
		for name, role := range map[string]string{
			fmt.Sprintf("manual-%02d", i):  "ci",       // no policy's glob
			fmt.Sprintf("ci-ro-%02d", i):   "readonly", // ci's glob, another role
			fmt.Sprintf("ci-keep-%02d", i): "ci",       // ci's glob and role, excluded
		} {
			untouched[name] = role
			fmt.Fprintf(&seed, "  - {name: %s, role: %s}\n", name, role)
		}
	}
	seedPath := filepath.Join(c.dir, "seed.yml")
	if err := os.WriteFile(seedPath, []byte(seed.String()), 0o600); err != nil {
		return err
	}
	faultsPath := filepath.Join(c.dir, "faults.json")
	if err := os.WriteFile(faultsPath, []byte(baseFaults), 0o600); err != nil {
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
		URL       string `json:"url"`
		APIKey    string `json:"api_key"`
		APISecret string `json:"api_secret"`
	}
	if err := waitFor(ctx, 10*time.Second, func() bool {
		b, err := os.ReadFile(infoPath)
		return err == nil && json.Unmarshal(b, &info) == nil && info.URL != ""
	}); err != nil {
		return fmt.Errorf("exosim did not start: %w", err)
	}
	c.simURL, c.apiURL = info.URL, info.URL
	if c.cfg.Mangle {
		m, err := startMangler(info.URL, c.cfg.Seed)
		if err != nil {
			return err
		}
		c.mangle, c.apiURL = m, m.url
	}
	c.admin = cred{info.APIKey, info.APISecret}
	// rotatord's credential: a file it rewrites when it rotates its own
	// key (own_key in the policy).
	credJSON, _ := json.Marshal(map[string]string{"api_key": info.APIKey, "api_secret": info.APISecret})
	if err := os.WriteFile(c.credentialPath(), credJSON, 0o600); err != nil {
		return err
	}
	if c.ha != nil {
		if err := c.haSeedCredential(ctx); err != nil {
			return err
		}
	}
	keys, err := c.keys()
	if err != nil {
		return err
	}
	for _, k := range keys {
		c.seeded[k.Key] = true
		if k.Key == c.admin.Key {
			c.adminRole = k.RoleID
		}
		if _, ok := untouched[k.Name]; ok {
			c.untouched[k.Key] = k.Name
		}
	}
	// rotatord's own key is matched by policy backup too: own_key rotates
	// it, never that policy (checkOwnKey).
	c.listen = freeAddr()
	return c.writePolicy(variant{}, "3s")
}

func (c *campaign) setupVault() error {
	mode := c.cfg.Vault
	if mode == "off" {
		return nil
	}
	bin, why := vaulttest.Find()
	if bin == "" {
		if mode == "on" || vaulttest.Required() {
			return fmt.Errorf("vault sink wanted but %s", why)
		}
		c.logf("vault sink off: %s", why)
		return nil
	}
	srv, err := vaulttest.Start(bin, filepath.Join(c.dir, "logs"))
	if err != nil {
		return fmt.Errorf("start vault: %w", err)
	}
	c.vault = srv
	c.sum.Vault = true
	return os.WriteFile(filepath.Join(c.dir, "vault-token"), []byte(vaulttest.RootToken), 0o600)
}

func (c *campaign) stopVault() {
	if c.vault != nil {
		c.vault.Stop()
	}
}

// sinksOf returns every sink a consumer of name may read: the sinks of its
// policy, the extra sink once a reload added it, and Vault.
func (c *campaign) sinksOf(name string) []sinkDef {
	p := c.policyOf(name)
	out := slices.Clone(p.sinks)
	if p.name == "ci" && c.ha != nil {
		out = append(out, secretSink)
	}
	if p.name == "apps" {
		if c.extraAdded.Load() {
			out = append(out, extraSink)
		}
		if c.vault != nil {
			out = append(out, vaultSink)
		}
	}
	return out
}

func (c *campaign) policyOf(name string) policyDef {
	for _, p := range policies {
		if strings.HasPrefix(name, p.prefix) {
			return p
		}
	}
	return policies[0]
}

// managed reports whether name is one of the campaign's managed names.
func (c *campaign) managed(name string) bool { return slices.Contains(c.names, name) }

// startRotatord starts rotatord with args (run by default) and an
// optional clock offset.
func (c *campaign) startRotatord(offset time.Duration, args ...string) (*exec.Cmd, error) {
	return c.startRotatordWith(filepath.Join(c.dir, "policy.yml"), c.logPath, offset, args...)
}

// startRotatordWith starts rotatord with a policy file and a log file.
func (c *campaign) startRotatordWith(config, logPath string, offset time.Duration, args ...string) (*exec.Cmd, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	if len(args) == 0 {
		args = []string{"run"}
	}
	args = append(args, "--config", config)
	cmd := exec.Command(c.bin("rotatord"), args...)
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// The campaign's 1 s schedule is below the minimum rotatord allows
	// outside tests.
	cmd.Env = append(os.Environ(), "ROTATORD_TEST_MIN_SCHEDULE=1s")
	if offset != 0 {
		cmd.Env = append(cmd.Env, "ROTATORD_TEST_CLOCK_OFFSET="+offset.String())
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}

type simKey struct {
	Key, Name, Secret string
	RoleID            string `json:"role_id"`
	Alive             bool   `json:"alive"`
	Applied           bool   `json:"applied"`
	Zombie            bool   `json:"zombie"`
	External          bool   `json:"external"`
	// AnsweredRateLimited: made by a create the simulator applied and
	// answered 429; its secret reached nobody, rotatord must delete it.
	AnsweredRateLimited bool       `json:"answered_rate_limited"`
	DeletedBy           string     `json:"deleted_by"`
	CreatedAt           time.Time  `json:"created_at"`
	DeletedAt           *time.Time `json:"deleted_at"`
	AppliedAt           *time.Time `json:"applied_at"`
	ZombieSince         *time.Time `json:"zombie_since"`
}

func (c *campaign) keys() ([]simKey, error) {
	var ks []simKey
	return ks, c.getJSON("/_sim/keys", &ks)
}

func (c *campaign) getJSON(path string, v any) error {
	resp, err := c.httpc.Get(c.simURL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (c *campaign) simDo(method, path string, body any, out any) error {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.simURL+path, r)
	if err != nil {
		return err
	}
	resp, err := c.httpc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// authenticate asks the simulator whether a credential works now, and why
// not. It uses the unfaulted control surface: the API's injected 5xx and
// latency would make a working key look dead.
func (c *campaign) authenticate(cr cred) (bool, string, error) {
	var r struct {
		OK     bool   `json:"ok"`
		Reason string `json:"reason"`
	}
	err := c.simDo(http.MethodPost, "/_sim/authenticate", map[string]string{"api_key": cr.Key, "api_secret": cr.Secret}, &r)
	return r.OK, r.Reason, err
}

// story describes a name for a problem report: every key the simulator
// knows of it, what each sink holds now, and rotatord's recent log lines
// about it.
func (c *campaign) story(ctx context.Context, name string) string {
	var b strings.Builder
	keys, _ := c.keys()
	fmt.Fprintf(&b, "\n    keys of %s:", name)
	for _, k := range keys {
		if k.Name != name {
			continue
		}
		fmt.Fprintf(&b, "\n      %s role=%s created=%s", k.Key, c.roleName(k.RoleID), k.CreatedAt.Format("15:04:05.000"))
		if k.AppliedAt != nil {
			fmt.Fprintf(&b, " applied=%s", k.AppliedAt.Format("15:04:05.000"))
		}
		if k.DeletedAt != nil {
			fmt.Fprintf(&b, " deleted=%s by=%s", k.DeletedAt.Format("15:04:05.000"), k.DeletedBy)
		}
		if k.ZombieSince != nil {
			fmt.Fprintf(&b, " zombie_since=%s", k.ZombieSince.Format("15:04:05.000"))
		}
		c.mu.Lock()
		for flag, set := range map[string]bool{"seeded": c.seeded[k.Key], "external": k.External || c.extCreated[k.Key], "ever-held": c.everHeld[k.Key]} {
			if set {
				b.WriteString(" " + flag)
			}
		}
		c.mu.Unlock()
	}
	b.WriteString("\n    sinks now:")
	c.fmu.RLock()
	for _, sd := range c.sinksOf(name) {
		cr, found, err := c.readSink(ctx, sd, name)
		state := "empty"
		switch {
		case err != nil:
			state = "unreadable: " + err.Error()
		case found:
			state = cr.Key
		}
		if f := c.faulted[sd.id]; f != nil {
			state += " (directory faulted: " + f.kind + ")"
		}
		fmt.Fprintf(&b, "\n      %s (%s): %s", sd.id, sd.format, state)
	}
	c.fmu.RUnlock()
	b.WriteString("\n    recent rotatord log lines:")
	for _, l := range c.logLines(name, 14) {
		b.WriteString("\n      " + l)
	}
	return b.String()
}

func (c *campaign) roleName(id string) string {
	for n, i := range c.roles {
		if i == id {
			return n
		}
	}
	return id
}

// logLines returns the last n lines of rotatord's logs that mention s
// (in HA mode, each prefixed with its process, log after log).
func (c *campaign) logLines(s string, n int) []string {
	var out []string
	files := c.logFiles()
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		prefix := ""
		if len(files) > 1 {
			prefix = strings.TrimSuffix(filepath.Base(path), ".log") + ": "
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"`+s+`"`) {
				out = append(out, prefix+sc.Text())
				if len(out) > n {
					out = out[1:]
				}
			}
		}
		f.Close()
	}
	return out
}

// maxKeysPerName is, over the whole campaign, the most keys of one managed
// name alive at the same moment: keys made by someone else do not count,
// a zombie stops counting once it is one (rotatord tried to delete it), and
// neither do keys made by creates the API applied and answered 429 (a third
// key rotatord did not choose to make: between the 429 and its search's
// deletion the name has it too; the final checks want every one gone).
func maxKeysPerName(keys []simKey, managed func(string) bool) (int, string) {
	best, bestName := 0, ""
	for name, n := range keysPerName(keys, managed) {
		if n > best || (n == best && name < bestName) {
			best, bestName = n, name
		}
	}
	return best, bestName
}

// keysPerName is, per managed name, the most live keys at one moment.
func keysPerName(keys []simKey, managed func(string) bool) map[string]int {
	type ev struct {
		t time.Time
		d int
	}
	by := map[string][]ev{}
	for _, k := range keys {
		if k.External || k.AnsweredRateLimited || !managed(k.Name) {
			continue
		}
		by[k.Name] = append(by[k.Name], ev{k.CreatedAt, +1})
		switch {
		case k.ZombieSince != nil:
			by[k.Name] = append(by[k.Name], ev{*k.ZombieSince, -1})
		case k.DeletedAt != nil:
			by[k.Name] = append(by[k.Name], ev{*k.DeletedAt, -1})
		}
	}
	out := map[string]int{}
	for name, evs := range by {
		sort.Slice(evs, func(i, j int) bool {
			if evs[i].t.Equal(evs[j].t) {
				return evs[i].d < evs[j].d // an end before a start at one instant
			}
			return evs[i].t.Before(evs[j].t)
		})
		n := 0
		for _, e := range evs {
			n += e.d
			out[name] = max(out[name], n)
		}
	}
	return out
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

// credentialPath is rotatord's credential file.
func (c *campaign) credentialPath() string { return filepath.Join(c.dir, "credential.json") }

// ownCred reads the credential rotatord signs with from its file.
func (c *campaign) ownCred() (cred, error) {
	if c.ha != nil && c.vault != nil {
		return c.haOwnCred(context.Background())
	}
	b, err := os.ReadFile(c.credentialPath())
	if err != nil {
		return cred{}, err
	}
	var f struct {
		Key    string `json:"api_key"`
		Secret string `json:"api_secret"`
	}
	if err := json.Unmarshal(b, &f); err != nil || f.Key == "" || f.Secret == "" {
		return cred{}, fmt.Errorf("credential file: not a JSON object with api_key and api_secret")
	}
	return cred{f.Key, f.Secret}, nil
}
