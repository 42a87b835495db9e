package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue #12: validate means "run will start". `rotatord validate` always
// resolves the exoscale block's credential from api_key/api_secret or
// EXOSCALE_API_KEY/_SECRET, even when that block reads its credential
// from Vault (credential_from: vault, the shipped Kubernetes example),
// and even when no policy uses the default account (accounts: only).
// Both files are valid for run (it starts, plan works), but validate
// exits 1 with "exoscale: api_key: not set", without a line, and so
// does the systemd unit's ExecReload.
func TestAudit3ValidateDoesNotDemandTheEnvironmentCredential(t *testing.T) {
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
}
