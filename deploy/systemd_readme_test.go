package deploy

import (
	"strings"
	"testing"
)

// readmeSection returns the README's section under the heading line
// (e.g. "### systemd"), up to the next heading of the same or a higher
// level.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	text := string(readFile(t, "../README.md"))
	start := strings.Index(text, "\n"+heading+"\n")
	if start < 0 {
		t.Fatalf("README.md: no %q section", heading)
	}
	level := strings.Fields(heading)[0]
	rest := text[start+len(heading)+2:]
	inCode := false
	off := 0
	for _, line := range strings.SplitAfter(rest, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if !inCode && strings.HasPrefix(line, "#") {
			if h := strings.Fields(line)[0]; strings.Trim(h, "#") == "" && len(h) <= len(level) {
				return rest[:off]
			}
		}
		off += len(line)
	}
	return rest
}

// The README's systemd installation installs what the shipped unit and
// example policy file use: the credential file the example names, under
// the unit's state directory, owned by rotatord with mode 0600, and no
// LoadCredential= files the unit no longer loads (installed as written
// before, the service failed to start: the example's credential file did
// not exist, and the secret was left in /etc/rotatord/credentials).
func TestReadmeSystemdInstallMatchesTheUnit(t *testing.T) {
	cfg := parsePolicy(t, readFile(t, unitConfig), unitConfig)
	section := readmeSection(t, "### systemd")
	if strings.Contains(section, "/etc/rotatord/credentials") || strings.Contains(section, "/run/credentials") {
		t.Errorf("README systemd section installs or describes LoadCredential= files, which %s no longer loads", unitFile)
	}
	if !strings.Contains(section, cfg.Exoscale.CredentialFile) {
		t.Errorf("README systemd section never installs %s, the credential file %s names", cfg.Exoscale.CredentialFile, unitConfig)
	}
	found := false
	for _, line := range strings.Split(section, "\n") {
		if strings.Contains(line, cfg.Exoscale.CredentialFile) && strings.Contains(line, "-m 0600") && strings.Contains(line, "-o rotatord") {
			found = true
		}
	}
	if !found {
		t.Errorf("README systemd section: no command installs %s with mode 0600, owned by rotatord", cfg.Exoscale.CredentialFile)
	}
}
