package config

import (
	"strings"
	"testing"
)

// Two Vault sinks of one policy with one namespace, mount and path on two
// addresses are refused: the state journal knows a sink by its target,
// which leaves the address out, and the pass refuses every name of such
// a policy. Two policies may (their records are apart).
func TestVaultSinksOfOnePolicyWithOnePathOnTwoAddressesAreRefused(t *testing.T) {
	sink := func(addr string) string {
		return `
      - type: vault
        address: ` + addr + `
        path: creds/{{.Name}}
        auth: {method: kubernetes, role: rotatord}`
	}
	policy := func(name, sinks string) string {
		return `
  - name: ` + name + `
    match:
      name: ` + name + `-*
    sinks:` + sinks
	}
	doc := func(policies string) []byte {
		return []byte(`exoscale:
  api_key_file: /etc/rotatord/key
  api_secret_file: /etc/rotatord/secret
state_dir: /var/lib/rotatord
policies:` + policies + "\n")
	}
	_, err := Parse(doc(policy("ci", sink("https://vault-1.example:8200")+sink("https://vault-2.example:8200"))), "rotatord.yml", "/etc/rotatord")
	if err == nil || !strings.Contains(err.Error(), "policies[0].sinks[1]") || !strings.Contains(err.Error(), "another address") {
		t.Errorf("one policy, one path on two Vault addresses: %v, want refused at policies[0].sinks[1]", err)
	}
	_, err = Parse(doc(policy("ci", sink("https://vault-1.example:8200"))+policy("ops", sink("https://vault-2.example:8200"))), "rotatord.yml", "/etc/rotatord")
	if err != nil && strings.Contains(err.Error(), "another address") {
		t.Errorf("two policies, one path on two Vault addresses: refused: %v", err)
	}
}
