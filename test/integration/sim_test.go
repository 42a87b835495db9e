package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// httpClient is used for every request the tests make. Keep-alives are off
// so that no idle connection outlives a test (goleak checks).
var httpClient = &http.Client{
	Timeout:   15 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// Role ids of the seed every test starts from.
const (
	roleAdmin    = "5e0f2c1a-7d3b-4c8e-9a10-000000000001"
	roleCI       = "5e0f2c1a-7d3b-4c8e-9a10-000000000002"
	roleReadonly = "5e0f2c1a-7d3b-4c8e-9a10-000000000003"
	adminName    = "rotatord-admin"
)

// seedKey is a key the simulator starts with; role is a role name.
type seedKey struct{ name, role string }

// defaultKeys are the keys of most tests: two CI keys and a backup agent.
var defaultKeys = []seedKey{
	{"ci-runner", "ci"},
	{"ci-deploy", "ci"},
	{"backup-agent", "readonly"},
}

// sim is a running exosim process.
type sim struct {
	t        *testing.T
	URL      string // base URL, for /_sim/
	Endpoint string // API URL ending in /v2
	Admin    credential
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
}

type credential struct {
	Key    string `json:"api_key"`
	Secret string `json:"api_secret"`
}

// simKey is an entry of GET /_sim/keys.
type simKey struct {
	Key    string `json:"key"`
	Name   string `json:"name"`
	RoleID string `json:"role_id"`
	Secret string `json:"secret"`
	Alive  bool   `json:"alive"`
}

// callStats is an entry of GET /_sim/calls.
type callStats struct {
	Total    int            `json:"total"`
	ByStatus map[string]int `json:"by_status"`
}

// startSim writes a seed with keys (plus the admin) into dir, starts the
// real exosim on a free loopback port and waits for its info file.
func startSim(t *testing.T, dir string, keys []seedKey) *sim {
	t.Helper()
	var seed strings.Builder
	fmt.Fprintf(&seed, "roles:\n")
	fmt.Fprintf(&seed, "  - {id: %s, name: admin, description: rotatord itself}\n", roleAdmin)
	fmt.Fprintf(&seed, "  - {id: %s, name: ci, description: CI pipelines}\n", roleCI)
	fmt.Fprintf(&seed, "  - {id: %s, name: readonly}\n", roleReadonly)
	fmt.Fprintf(&seed, "admin:\n  name: %s\n  role: admin\n", adminName)
	fmt.Fprintf(&seed, "keys:\n")
	for _, k := range keys {
		fmt.Fprintf(&seed, "  - {name: %s, role: %s}\n", k.name, k.role)
	}
	seedPath := filepath.Join(dir, "seed.yml")
	writeFile(t, seedPath, seed.String(), 0o600)

	infoPath := filepath.Join(dir, "exosim-info.json")
	logPath := filepath.Join(dir, "exosim.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(exosimBin, "-listen", "127.0.0.1:0", "-seed", seedPath, "-info-file", infoPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start exosim: %v", err)
	}
	s := &sim{t: t, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.stop)

	deadline := time.Now().Add(20 * time.Second)
	for {
		data, err := os.ReadFile(infoPath)
		if err == nil {
			var info struct {
				URL      string `json:"url"`
				Endpoint string `json:"endpoint"`
				credential
			}
			if err := json.Unmarshal(data, &info); err != nil {
				t.Fatalf("exosim info file: %v", err)
			}
			s.URL, s.Endpoint, s.Admin = info.URL, info.Endpoint, info.credential
			if fi, err := os.Stat(infoPath); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("exosim info file: mode %v, %v; want 0600", fi.Mode().Perm(), err)
			}
			break
		}
		select {
		case <-s.done:
			t.Fatalf("exosim exited before writing its info file:\n%s", readFile(t, logPath))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("exosim wrote no info file within 20s:\n%s", readFile(t, logPath))
		}
	}
	if s.URL == "" || s.Endpoint == "" || s.Admin.Key == "" || s.Admin.Secret == "" {
		t.Fatalf("exosim info file incomplete: %+v", s)
	}
	return s
}

// stop ends exosim with SIGTERM (SIGKILL if it hangs).
func (s *sim) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.t.Errorf("exosim did not stop within 10s of SIGTERM; killing it")
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// do calls the control surface and decodes a 200 answer into out.
func (s *sim) do(method, path string, body any, out any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("%s %s: %s: %s", method, path, resp.Status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// keys returns every key the simulator ever issued or was seeded with.
func (s *sim) keys() []simKey {
	s.t.Helper()
	var keys []simKey
	s.do(http.MethodGet, "/_sim/keys", nil, &keys)
	return keys
}

// live returns the alive keys named name.
func (s *sim) live(name string) []simKey {
	s.t.Helper()
	var out []simKey
	for _, k := range s.keys() {
		if k.Name == name && k.Alive {
			out = append(out, k)
		}
	}
	return out
}

// key returns the key with id, alive or not.
func (s *sim) key(id string) (simKey, bool) {
	s.t.Helper()
	for _, k := range s.keys() {
		if k.Key == id {
			return k, true
		}
	}
	return simKey{}, false
}

// only returns the single live key of name, failing the test otherwise.
func (s *sim) only(name string) simKey {
	s.t.Helper()
	live := s.live(name)
	if len(live) != 1 {
		s.t.Fatalf("%s: %d live keys, want 1: %v", name, len(live), ids(live))
	}
	return live[0]
}

func (s *sim) calls() map[string]callStats {
	s.t.Helper()
	out := map[string]callStats{}
	s.do(http.MethodGet, "/_sim/calls", nil, &out)
	return out
}

func (s *sim) maxLive() map[string]int {
	s.t.Helper()
	out := map[string]int{}
	s.do(http.MethodGet, "/_sim/max-live-per-name", nil, &out)
	return out
}

// setFaults replaces every fault, e.g. `{"create-api-key": {"latency": "3s"}}`.
func (s *sim) setFaults(faultsJSON string) {
	s.t.Helper()
	s.do(http.MethodPut, "/_sim/faults", json.RawMessage(faultsJSON), nil)
}

func (s *sim) clearFaults() {
	s.t.Helper()
	s.do(http.MethodDelete, "/_sim/faults", nil, nil)
}

// authenticates reports whether key and secret sign requests the API accepts.
func (s *sim) authenticates(key, secret string) bool {
	s.t.Helper()
	var out struct {
		OK bool `json:"ok"`
	}
	s.do(http.MethodPost, "/_sim/authenticate", credential{Key: key, Secret: secret}, &out)
	return out.OK
}

// checkMaxLive fails the test if any of names ever had more than max live
// keys at once.
func (s *sim) checkMaxLive(max int, names ...string) {
	s.t.Helper()
	got := s.maxLive()
	for _, n := range names {
		if got[n] > max {
			s.t.Errorf("%s: %d keys were alive at once, want at most %d", n, got[n], max)
		}
	}
}

func ids(keys []simKey) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k.Key)
	}
	return out
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// writeFileAtomic replaces path so that a concurrent reader (a reload)
// sees the old or the new content, never a partial one.
func writeFileAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	writeFile(t, tmp, content, 0o600)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(data)
}
