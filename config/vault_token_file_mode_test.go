package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A Vault token or secret_id file every user of the host can read gives
// them the token's rights in Vault (every secret the sink writes):
// validate warns on the field, as it does for a credential_file readable
// by others. 0640 with a group (Vault Agent's sink files) is no warning.
func TestValidateWarnsOfAWorldReadableVaultTokenFile(t *testing.T) {
	for _, tt := range []struct {
		name, auth, file string
		mode             os.FileMode
		warn             bool
	}{
		{"token_file 0644", "{method: token, token_file: $F}", "token", 0o644, true},
		{"token_file 0640", "{method: token, token_file: $F}", "token", 0o640, false},
		{"secret_id_file 0604", "{method: approle, role_id: r, secret_id_file: $F}", "secret_id", 0o604, true},
		{"secret_id_file 0600", "{method: approle, role_id: r, secret_id_file: $F}", "secret_id", 0o600, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			f := filepath.Join(dir, tt.file)
			writeFileMode(t, f, "hvs.x\n", tt.mode)
			path := filepath.Join(dir, "p.yml")
			if err := os.WriteFile(path, []byte(`exoscale:
  api_key: EXOabc
  api_secret: s
state_dir: `+filepath.Join(dir, "state")+`
policies:
  - name: ci
    match: {name: ci-*}
    sinks:
      - type: vault
        address: https://vault.example:8200
        path: "rotatord/{{.Name}}"
        auth: `+strings.ReplaceAll(tt.auth, "$F", f)+`
`), 0o600); err != nil {
				t.Fatal(err)
			}
			got := hostWarningsOn(t, path, "auth.")
			if tt.warn && (len(got) != 1 || !strings.Contains(got[0], "policies[0].sinks[0].auth."+tt.file+"_file") || !strings.Contains(got[0], "every user")) {
				t.Errorf("warnings %q, want one on auth.%s_file saying every user can read it", got, tt.file)
			}
			if !tt.warn && len(got) != 0 {
				t.Errorf("warnings %q, want none", got)
			}
		})
	}
}
