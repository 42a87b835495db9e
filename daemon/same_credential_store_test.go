package daemon

import (
	"strings"
	"testing"

	"github.com/rotatord/rotatord/config"
)

const vaultCredentialConfig = `exoscale:
  credential_from: vault
  credential_vault:
    address: https://vault.example:8200
    path: infra/rotatord
    auth: {method: kubernetes, role: rotatord}
  own_key: {}
state_dir: /var/lib/rotatord
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks: [{type: file, path: "/run/out/{{.Name}}.json"}]
`

// A reload repairs an emptied own-key store only when the new file names
// the same store. Two readings of one file name the same Vault secret
// (the parsed path templates are no part of that), whatever the auth; a
// changed path is another secret.
func TestSameCredentialStoreOfAVaultSecret(t *testing.T) {
	parse := func(body string) *config.Config {
		t.Helper()
		c, err := config.Parse([]byte(body), "rotatord.yml", "/etc/rotatord")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := parse(vaultCredentialConfig), parse(vaultCredentialConfig)
	if !sameCredentialStore(a, b, config.DefaultAccount) {
		t.Error("one Vault secret, read twice from the same file, is taken for another store: an emptied one is not repaired at a reload")
	}
	reauth := parse(strings.Replace(vaultCredentialConfig, "role: rotatord", "role: rotatord-2", 1))
	if !sameCredentialStore(a, reauth, config.DefaultAccount) {
		t.Error("a Vault secret whose auth changed is taken for another store")
	}
	moved := parse(strings.Replace(vaultCredentialConfig, "path: infra/rotatord", "path: infra/rotatord-2", 1))
	if sameCredentialStore(a, moved, config.DefaultAccount) {
		t.Error("another Vault path is taken for the same store")
	}
}
