package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAccountCredentialProblemsDoNotPointAtTheEnvironment: the
// environment (EXOSCALE_API_KEY, EXOSCALE_API_SECRET) is the exoscale
// block's credential only, and an account without its secret is refused
// whatever the environment holds. Yet validate on the host told such an
// account "no API secret: set api_secret, api_secret_file or
// EXOSCALE_API_SECRET" (a fix that does not work), and judged a
// malformed EXOSCALE_API_KEY as the account's key.
func TestAccountCredentialProblemsDoNotPointAtTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "rotatord.yml")
	if err := os.WriteFile(path, []byte(`exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret: s3cr3t
accounts:
  - name: green
    api_key: EXO0123456789abcdef0123456a
  - name: blue
    api_secret: s3cr3t-blue
state_dir: `+filepath.Join(dir, "state")+`
policies:
  - name: ci
    account: green
    match: {name: "ci-*"}
    sinks: [{type: file, path: "`+filepath.Join(dir, "out", "{{.Name}}.json")+`"}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, env := range []map[string]string{
		{},
		{"EXOSCALE_API_KEY": "not-a-key", "EXOSCALE_API_SECRET": "from-env"},
	} {
		_, _, err := Validate(path, ValidateOptions{Host: true, Getenv: func(k string) string { return env[k] }})
		if err == nil {
			t.Fatalf("env %v: accounts without a secret or a key accepted", env)
		}
		msg := err.Error()
		for _, at := range []string{"accounts[0]", "accounts[1]"} {
			if !strings.Contains(msg, at+": no credential") {
				t.Errorf("env %v: %s not refused for its missing credential:\n%s", env, at, msg)
			}
		}
		for _, line := range strings.Split(msg, "\n") {
			if strings.Contains(line, "accounts[") && (strings.Contains(line, "EXOSCALE_API_KEY") || strings.Contains(line, "EXOSCALE_API_SECRET")) {
				t.Errorf("env %v: an account's problem names the environment, which only the exoscale block reads: %s", env, line)
			}
		}
	}
}
