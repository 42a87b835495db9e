package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue #12: validate means "run will start". `rotatord validate` used to
// resolve the exoscale block's credential from api_key/api_secret or
// EXOSCALE_API_KEY/_SECRET whatever the file said, even when that block
// reads its credential from Vault (credential_from: vault, the shipped
// Kubernetes example) and when no policy uses the default account
// (accounts: only). run starts with both files; validate exited 1 with
// "exoscale: api_key: not set", without a line, and so did the systemd
// unit's ExecReload. A file that does use the environment's credential
// must still fail without it, on its line.
func TestValidateDoesNotDemandTheEnvironmentCredentialItDoesNotUse(t *testing.T) {
	for _, k := range []string{"EXOSCALE_API_KEY", "EXOSCALE_API_SECRET"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
	dir := t.TempDir()
	tok := writeFile(t, filepath.Join(dir, "token"), "s.token")
	cred := writeFile(t, filepath.Join(dir, "green.json"), `{"api_key":"EXObbbbbbbbbbbbbbbbbbbbbbbb","api_secret":"green-admin-secret"}`)
	files := map[string]string{
		"vault": `exoscale:
  credential_from: vault
  credential_vault:
    address: https://vault.example:8200
    mount: kv
    path: infra/rotatord
    auth: {method: token, token_file: ` + tok + `}
  own_key: {max_age: 7d, grace_period: 1h}
state_dir: ` + filepath.Join(dir, "st-vault") + `
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks: [{type: file, path: "` + dir + `/{{.Name}}.json"}]
`,
		"accounts-only": `accounts:
  - name: green
    endpoint: http://127.0.0.1:1/v2
    credential_file: ` + cred + `
state_dir: ` + filepath.Join(dir, "st-acc") + `
policies:
  - name: green-ci
    account: green
    match: {name: "ci-*"}
    sinks: [{type: file, path: "` + dir + `/green-{{.Name}}.json"}]
`,
	}
	for name, doc := range files {
		path := writeFile(t, filepath.Join(dir, name+".yml"), doc)
		code, stdout, stderr := runCLI("validate", path)
		if code != 0 {
			t.Errorf("%s: validate = %d, stdout %q, stderr %q; want valid", name, code, stdout, strings.TrimSpace(stderr))
		}
	}

	needsEnv := writeFile(t, filepath.Join(dir, "env.yml"), `exoscale:
  zone: ch-gva-2
state_dir: `+filepath.Join(dir, "st-env")+`
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks: [{type: file, path: "`+dir+`/env-{{.Name}}.json"}]
`)
	code, _, stderr := runCLI("validate", needsEnv)
	if want := needsEnv + ":1: exoscale: no API key"; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("a file that uses the environment's credential, without it: validate = %d, stderr %q; want 1 and %q", code, stderr, want)
	}
}
