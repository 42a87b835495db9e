package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue #12: "One validate run reports every problem it can know, each
// with file:line; what depends on the host (sink directories, ...) is
// checked and reported". A file sink's missing directory was not reported
// when the same sink had any other problem (a mode, an unknown owner),
// and a Vault sink's unreadable token_file was not reported when its auth
// block had another problem: the operator fixed the first, ran validate
// again, and only then learnt of the second.
func TestValidateReportsHostProblemsBesideOtherProblems(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "k"), []byte("EXOaaaaaaaaaaaaaaaaaaaaaaaa"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "s"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := `exoscale:
  api_key_file: k
  api_secret_file: s
state_dir: st
policies:
  - name: ci
    match: {name: ci-*}
    sinks:
      - type: file
        path: /nonexistent-host-beside-a/{{.Name}}.json
        mode: "0604"
      - type: file
        path: /nonexistent-host-beside-b/{{.Name}}.json
        owner: nosuchuser-audit3
      - type: vault
        address: https://vault.example:8200
        path: "x/{{.Name}}"
        auth: {method: token, token_file: /nonexistent-host-beside-c/token, role: x}
`
	path := filepath.Join(dir, "p.yml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Validate(path, ValidateOptions{Host: true, Getenv: func(string) string { return "" }})
	if err == nil {
		t.Fatal("valid")
	}
	msg := err.Error()
	t.Logf("problems:\n%s", msg)
	for _, want := range []string{"nonexistent-host-beside-a", "nonexistent-host-beside-b", "nonexistent-host-beside-c"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the problem with %s is not reported in the same run", want)
		}
	}
}
