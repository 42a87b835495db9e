package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An operator who edits the web configuration file (TLS, basic auth)
// checks it before restarting, as `promtool check web-config` does for
// Prometheus: `validate --web.config.file F` checks it as run does at
// start, its mode and the TLS files it names included, beside the policy
// file. Without it, the only check was run refusing to start.
func TestValidateChecksTheWebConfigFile(t *testing.T) {
	dir := t.TempDir()
	policy := writeFile(t, filepath.Join(dir, "policy.yml"), `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret: not-checked-here
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks:
      - {type: file, path: "/srv/ci/{{.Name}}.json"}
`)
	good := writeFile(t, filepath.Join(dir, "web.yml"), "basic_auth_users:\n  prometheus: $2y$10$kGbQzNvCOnSuE.mu1XWzceqpAPORcYIVqSXUzHsYnYIkpUiJd7gHO\n")
	bad := writeFile(t, filepath.Join(dir, "bad-web.yml"), "tls_server_config:\n  nope: 1\n")
	open := writeFile(t, filepath.Join(dir, "open-web.yml"), "basic_auth_users: {}\n")
	if err := os.Chmod(open, 0o666); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runCLI("validate", "--file-only", "--web.config.file", good, policy)
	if code != 0 || !strings.Contains(stdout, good) {
		t.Errorf("validate with a good web config = %d, stdout %q, stderr %q; want 0 and a line naming %s", code, stdout, stderr, good)
	}
	for _, tc := range []struct{ file, want string }{
		{bad, `unknown field "nope" in tls_server_config`},
		{open, "write"}, // every user may write it
	} {
		for _, args := range [][]string{
			{"validate", "--file-only", "--web.config.file", tc.file, policy},
			{"--web.config.file", tc.file, "validate", "--file-only", policy}, // the flag before the command
		} {
			code, stdout, stderr := runCLI(args...)
			if code != 1 || !strings.Contains(stderr, tc.file) || !strings.Contains(stderr, tc.want) || strings.Contains(stdout, "valid web") {
				t.Errorf("rotatord %q = %d, stdout %q, stderr %q; want 1 and an error naming %s and saying %q", args, code, stdout, stderr, tc.file, tc.want)
			}
		}
	}
	if code, _, stderr := runCLI("validate", "--web.config.file", "", policy); code != 2 || !strings.Contains(stderr, "empty") {
		t.Errorf("validate --web.config.file \"\" = %d, stderr %q; want a usage error (2) about the empty name", code, stderr)
	}
}

// validate prints every problem: one in the policy file does not hide
// one in the web configuration file, which the operator would otherwise
// meet only after fixing the first (or at run's start).
func TestValidateReportsTheWebConfigFileWhenThePolicyFileFails(t *testing.T) {
	dir := t.TempDir()
	broken := writeFile(t, filepath.Join(dir, "broken.yml"), "policies: [\n")
	// Valid alone, but its sink's directory is missing on this host.
	missingDir := writeFile(t, filepath.Join(dir, "policy.yml"), `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret: not-checked-here
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks:
      - {type: file, path: "`+filepath.Join(dir, "no-such-dir")+`/{{.Name}}.json"}
`)
	open := writeFile(t, filepath.Join(dir, "open-web.yml"), "basic_auth_users: {}\n")
	if err := os.Chmod(open, 0o666); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"validate", "--file-only", "--web.config.file", open, broken},
		{"validate", "--web.config.file", open, missingDir},
	} {
		policy := args[len(args)-1]
		code, stdout, stderr := runCLI(args...)
		if code != 1 || !strings.Contains(stderr, policy) || !strings.Contains(stderr, open+": mode 0666") || stdout != "" {
			t.Errorf("rotatord %q = %d, stdout %q, stderr %q; want 1, the policy file's problem and the web config file's", args, code, stdout, stderr)
		}
	}
}
