package config

import "testing"

// Issue #15 writes the Kubernetes journal as state: {backend: kubernetes,
// namespace} alone. The Lease is that journal's lock, so such a file takes
// leader_election's defaults instead of being refused.
func TestKubernetesStateTakesTheLeaseByDefault(t *testing.T) {
	doc := `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret_file: secret
state: {backend: kubernetes, namespace: rotatord}
policies:
  - name: ci
    match: {name: ci-*}
    sinks:
      - {type: kubernetes, namespace: apps, name: "exoscale-{{.Name}}"}
`
	cfg, _, err := Validate(writePolicy(t, doc), ValidateOptions{Getenv: env(nil)})
	if err != nil {
		t.Fatalf("state backend kubernetes without leader_election refused: %v", err)
	}
	le := cfg.LeaderElection
	if le == nil {
		t.Fatal("no leader election: nothing would keep a second process off the journal")
	}
	if le.LeaseName != DefaultLeaseName || le.LeaseDuration.Duration() != DefaultLeaseDuration ||
		le.RenewDeadline.Duration() != DefaultRenewDeadline || le.RetryPeriod.Duration() != DefaultRetryPeriod {
		t.Errorf("leader election %+v, want the defaults", *le)
	}
}
