package config

// Review of issue 15: leader_election settings the validation lets through.

import (
	"strings"
	"testing"
)

// client-go writes the Lease's duration in whole seconds,
// int(lease_duration / time.Second), and standbys judge the Lease by that
// number. lease_duration 900ms is written as 0, which the API server
// refuses: no replica ever leads. 1.9s is written as 1s, shorter than
// the leader's claim (renew_deadline 1.8s minus its margin): two leaders
// (internal/leader TestFractionalLeaseDurationGivesTwoLeaders).
// The validation (retry_period >= 100ms, renew_deadline >= 2x
// retry_period, lease_duration > renew_deadline) accepts both.
func TestFractionalLeaseDurationAccepted(t *testing.T) {
	for _, le := range []string{
		"{lease_duration: 900ms, renew_deadline: 800ms, retry_period: 200ms}",
		"{lease_duration: 1900ms, renew_deadline: 1800ms, retry_period: 500ms}",
	} {
		checkLeaseDuration(t, le)
	}
}

func checkLeaseDuration(t *testing.T, le string) {
	doc := `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret_file: secret
state: {backend: kubernetes, namespace: rotatord}
leader_election: ` + le + `
policies:
  - name: ci
    match: {name: ci-*}
    sinks:
      - {type: kubernetes, namespace: apps, name: "exoscale-{{.Name}}"}
`
	file := writePolicy(t, doc)
	_, _, err := Validate(file, ValidateOptions{Getenv: env(nil)})
	if err == nil || !strings.Contains(err.Error(), "leader_election.lease_duration") {
		t.Errorf("leader_election %s accepted (client-go writes the Lease's duration in whole seconds): %v", le, err)
	}
}
