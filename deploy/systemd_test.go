package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/config"
)

const (
	unitFile        = "systemd/rotatord.service"
	unitDropIn      = "systemd/rotatord.service.d/sinks.conf"
	unitConfig      = "systemd/rotatord.yml"
	installedBinary = "/usr/local/bin/rotatord"
	// stopTimeout is how long rotatord lets a rotation in flight finish
	// after SIGTERM (daemon.Options.ShutdownTimeout's default).
	stopTimeout = 30 * time.Second
)

// unit is a parsed systemd unit file: section → key → values in order.
type unit map[string]map[string][]string

// parseUnit parses the syntax of systemd.syntax(7): sections, key=value
// lines, comments, and lines continued with a backslash.
func parseUnit(data []byte) (unit, error) {
	u := unit{}
	var section, pending string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if pending != "" {
			line = pending + " " + line
			pending = ""
		}
		if strings.HasSuffix(line, `\`) {
			pending = strings.TrimSpace(strings.TrimSuffix(line, `\`))
			continue
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				return nil, fmt.Errorf("line %d: want key=value inside a section: %q", n, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	return u, sc.Err()
}

// last returns the value in force for a key, and whether it is set.
func (u unit) last(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// list returns the space-separated items of a list setting, where an
// empty assignment resets the list.
func (u unit) list(section, key string) []string {
	var out []string
	for _, v := range u[section][key] {
		if v == "" {
			out = nil
			continue
		}
		out = append(out, strings.Fields(v)...)
	}
	return out
}

func loadUnit(t *testing.T, name string) unit {
	t.Helper()
	u, err := parseUnit(readFile(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return u
}

func TestSystemdUnit(t *testing.T) {
	u := loadUnit(t, unitFile)
	tests := []struct {
		key  string
		want string
	}{
		{"Type", "notify"},
		{"NotifyAccess", "main"},
		{"TimeoutStartSec", "5min"},
		{"User", "rotatord"},
		{"Group", "rotatord"},
		{"Restart", "on-failure"},
		{"StateDirectory", "rotatord"},
		{"StateDirectoryMode", "0700"},
		{"UMask", "0077"},
		{"ProtectSystem", "strict"},
		{"ProtectHome", "yes"},
		{"PrivateTmp", "yes"},
		{"PrivateDevices", "yes"},
		{"NoNewPrivileges", "yes"},
		{"CapabilityBoundingSet", ""},
		{"AmbientCapabilities", ""},
		{"ProtectKernelTunables", "yes"},
		{"ProtectKernelModules", "yes"},
		{"ProtectKernelLogs", "yes"},
		{"ProtectControlGroups", "yes"},
		{"ProtectClock", "yes"},
		{"RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
		{"RestrictNamespaces", "yes"},
		{"RestrictSUIDSGID", "yes"},
		{"LockPersonality", "yes"},
		{"MemoryDenyWriteExecute", "yes"},
		{"SystemCallArchitectures", "native"},
		{"ExecStart", installedBinary + " run --config.file=/etc/rotatord/rotatord.yml"},
	}
	for _, tt := range tests {
		got, ok := u.last("Service", tt.key)
		if !ok || got != tt.want {
			t.Errorf("[Service] %s=%q (set: %v), want %q", tt.key, got, ok, tt.want)
		}
	}
	for _, key := range []string{"DynamicUser", "PrivateUsers", "Environment", "EnvironmentFile", "ReadWritePaths"} {
		if v, ok := u.last("Service", key); ok {
			t.Errorf("[Service] %s=%s: not expected in the shipped unit", key, v)
		}
	}
	if got := u.list("Service", "SystemCallFilter"); !slices.Contains(got, "@system-service") {
		t.Errorf("SystemCallFilter=%v, want @system-service", got)
	}
	if got := u["Service"]["ExecReload"]; len(got) == 0 || got[len(got)-1] != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload=%q, want it to end with /bin/kill -HUP $MAINPID", got)
	}
	if v, _ := u.last("Service", "TimeoutStopSec"); mustDuration(t, v) <= stopTimeout {
		t.Errorf("TimeoutStopSec=%s, want more than the %s rotatord gives a rotation in flight", v, stopTimeout)
	}
	if got, _ := u.last("Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("WantedBy=%q, want multi-user.target", got)
	}
}

// TestSystemdConfig checks the example policy file against the unit and
// its drop-in: the credentials it names are the ones the unit loads, its
// state_dir is the unit's StateDirectory, and every file sink writes in a
// directory the sandbox leaves writable, with a group the service has.
func TestSystemdConfig(t *testing.T) {
	u := loadUnit(t, unitFile)
	dropIn := loadUnit(t, unitDropIn)
	cfg := parsePolicy(t, readFile(t, unitConfig), unitConfig)

	// rotatord rotates its own key: its credential is a file it can
	// write, under the state directory (the one writable path the unit
	// gives), not a read-only LoadCredential= copy.
	if got := u["Service"]["LoadCredential"]; len(got) > 0 {
		t.Errorf("LoadCredential=%v: a read-only copy; own-key rotation writes the credential file", got)
	}
	stateDirName, _ := u.last("Service", "StateDirectory")
	if want := "/var/lib/" + stateDirName + "/"; !strings.HasPrefix(cfg.Exoscale.CredentialFile, want) {
		t.Errorf("%s: exoscale.credential_file %q, want a file under %s", unitConfig, cfg.Exoscale.CredentialFile, want)
	}
	if cfg.Exoscale.OwnKey == nil {
		t.Errorf("%s: no exoscale.own_key: the example rotates rotatord's own key", unitConfig)
	}
	if cfg.Exoscale.APIKey != "" || !cfg.Exoscale.APISecret.IsZero() || cfg.Exoscale.APIKeyFile != "" {
		t.Errorf("%s: api_key or api_key_file: the example must use the credential file", unitConfig)
	}

	stateDir, _ := u.last("Service", "StateDirectory")
	if want := "/var/lib/" + stateDir; cfg.StateDir != want {
		t.Errorf("%s: state_dir %q, want %q (the unit's StateDirectory=)", unitConfig, cfg.StateDir, want)
	}
	if cfg.Listen != config.DefaultListen {
		t.Errorf("%s: listen %q, want the loopback default %q", unitConfig, cfg.Listen, config.DefaultListen)
	}

	var writable []string
	for _, p := range dropIn.list("Service", "ReadWritePaths") {
		writable = append(writable, strings.TrimPrefix(p, "-"))
	}
	groups := dropIn.list("Service", "SupplementaryGroups")
	for _, p := range cfg.Policies {
		for i, s := range p.Sinks {
			if s.Type != config.SinkFile {
				continue
			}
			target, err := s.RenderPath("some-key")
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Dir(target)
			if !slices.ContainsFunc(writable, func(w string) bool { return within(dir, w) }) {
				t.Errorf("policy %s sink %d writes in %s, which is not under ReadWritePaths=%v of %s", p.Name, i, dir, writable, unitDropIn)
			}
			if s.Group != "" && !slices.Contains(groups, s.Group) {
				t.Errorf("policy %s sink %d: group %q is not in SupplementaryGroups=%v of %s", p.Name, i, s.Group, groups, unitDropIn)
			}
		}
	}
}

// TestSystemdAnalyzeVerify runs systemd-analyze verify on the unit and its
// drop-in. verify wants the programs the unit runs to exist, so it checks a
// copy whose rotatord path points at a stand-in executable.
func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze := systemdAnalyze(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "rotatord")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unitText := strings.ReplaceAll(string(readFile(t, unitFile)), installedBinary+" ", bin+" ")
	if err := os.WriteFile(filepath.Join(dir, "rotatord.service"), []byte(unitText), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "rotatord.service.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rotatord.service.d", "sinks.conf"), readFile(t, unitDropIn), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, dir, analyze, "verify", "--man=no", filepath.Join(dir, "rotatord.service"))
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// verify exits 0 on warnings such as an unknown key: any line about our
	// files is a failure.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "rotatord") || strings.Contains(line, "sinks.conf") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
	if out != "" {
		t.Logf("systemd-analyze verify:\n%s", out)
	}
}

func TestParseUnit(t *testing.T) {
	u, err := parseUnit([]byte("# c\n[Service]\nA=1\nA=\nA=2 3\nB=x \\\n  y\n; c\n[Install]\nC=\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := u.list("Service", "A"); !slices.Equal(got, []string{"2", "3"}) {
		t.Errorf("A = %q", got)
	}
	if got, _ := u.last("Service", "B"); got != "x y" {
		t.Errorf("B = %q", got)
	}
	if got, ok := u.last("Install", "C"); !ok || got != "" {
		t.Errorf("C = %q, %v", got, ok)
	}
	if _, err := parseUnit([]byte("A=1\n")); err == nil {
		t.Error("a key outside a section: no error")
	}
}

// mustDuration parses a systemd time span of the forms the unit uses
// (45s, 1min 30s, 90).
func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	r := strings.NewReplacer("min", "m", " ", "")
	s = r.Replace(s)
	if s != "" && strings.Trim(s, "0123456789") == "" {
		s += "s"
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("time span %q: %v", s, err)
	}
	return d
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
