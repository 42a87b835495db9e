package daemon

import (
	"os"
	"strings"
	"testing"
)

// A reload of a policy file that leaves a policy as it was keeps its
// Fingerprint: a consumer check that a reload outlives then does not end
// the deletion (rotation.Engine.outsideInstall), and reloads of an
// unchanged file more often than the check takes cannot keep the old key
// alive for good. A reload that changes the policy (here its grace
// period), or the file around it, gives it another one: the check runs
// again under the new policy.
func TestReloadKeepsTheFingerprintOfAnUnchangedPolicyOnly(t *testing.T) {
	e := newAccountsEnv(t)
	d := e.open()
	fp := func(policy string) string {
		t.Helper()
		for _, as := range d.setup().accounts {
			for _, p := range as.policies {
				if p.Name == policy {
					if p.Fingerprint == "" {
						t.Fatalf("policy %s has no fingerprint", policy)
					}
					return p.Fingerprint
				}
			}
		}
		t.Fatalf("no policy %s", policy)
		return ""
	}
	ci, green := fp("ci"), fp("green-ci")
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if fp("ci") != ci || fp("green-ci") != green {
		t.Fatalf("a reload of the same file changed the fingerprints: ci %s to %s, green-ci %s to %s", ci, fp("ci"), green, fp("green-ci"))
	}
	b, _ := os.ReadFile(e.config)
	edited := strings.Replace(string(b), "grace_period: 0s\n    adopt: rotate\n    sinks: [{type: file, path: \"out/green-", "grace_period: 1h\n    adopt: rotate\n    sinks: [{type: file, path: \"out/green-", 1)
	if edited == string(b) {
		t.Fatal("the test's edit did not apply")
	}
	if err := os.WriteFile(e.config, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if fp("green-ci") == green {
		t.Errorf("green-ci's grace period changed, its fingerprint did not")
	}
	if fp("ci") != ci {
		t.Errorf("ci is as it was, its fingerprint changed")
	}
	if err := os.WriteFile(e.config, []byte(strings.Replace(edited, "rate_limit: 1000\n  max_retries: 0\naccounts:", "rate_limit: 999\n  max_retries: 0\naccounts:", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if fp("ci") == ci {
		t.Errorf("the file around ci changed, its fingerprint did not")
	}
}
