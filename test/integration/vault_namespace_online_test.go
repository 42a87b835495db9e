package integration

import (
	"strings"
	"testing"
)

// A Vault sink with a namespace, on Vault's community edition (which
// ignores X-Vault-Namespace: the secrets land in the root namespace):
// `validate --online`, the command an operator runs to check a policy
// file against the real servers, must say so, as run's log does. Its
// sink line named the namespace and said ok.
func TestValidateOnlineSaysACommunityVaultIgnoresTheNamespace(t *testing.T) {
	t.Parallel()
	v := startVault(t)
	e := newEnv(t)
	e.writePolicy(`  - name: ci
    match: {name: ci-runner}
    sinks:
` + strings.Replace(v.sink(), "        path:", "        namespace: team-a\n        path:", 1))

	r := e.rotatord("validate", "--online")
	if r.code != 0 {
		t.Fatalf("validate --online exited %d\n%s", r.code, r)
	}
	if !strings.Contains(r.stdout, "ignores the namespace") {
		t.Errorf("validate --online does not say that this Vault ignores the namespace\n%s", r)
	}
}
