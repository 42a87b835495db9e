package config

import (
	"strings"
	"testing"
)

// Issue #12: messages echo values as written. leader_election's durations
// were echoed in Go's spelling ("2m0s" for "2m", "1.5s" for "1500ms"), so an operator could not find the value in the file.
func TestLeaderElectionDurationsEchoedAsWritten(t *testing.T) {
	for _, c := range []struct{ le, field, want, notWant string }{
		{"{lease_duration: 1500ms}", "leader_election.lease_duration", "1500ms", "1.5s"},
		{"{retry_period: 0.05s}", "leader_election.retry_period", "0.05s is too short", "50ms"},
		{"{lease_duration: 90s, renew_deadline: 40s, retry_period: 30s}", "leader_election.renew_deadline", "40s must be at least twice retry_period 30s", "1m"},
		{"{lease_duration: 60s, renew_deadline: 2m, retry_period: 2s}", "leader_election.lease_duration", "60s must be longer than renew_deadline 2m:", "2m0s"},
		{"{renew_deadline: 30s}", "leader_election.lease_duration", "must be longer than renew_deadline 30s", "30s0"},
	} {
		doc := `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret_file: secret
state: {backend: kubernetes, namespace: rotatord}
leader_election: ` + c.le + `
policies:
  - name: ci
    match: {name: ci-*}
    sinks:
      - {type: kubernetes, namespace: apps, name: "exoscale-{{.Name}}"}
`
		_, _, err := Validate(writePolicy(t, doc), ValidateOptions{Getenv: env(nil)})
		if err == nil {
			t.Errorf("%s: accepted", c.le)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.field) || !strings.Contains(msg, c.want) || strings.Contains(msg, c.notWant) {
			t.Errorf("%s: want %s with %q (not %q), got:\n%s", c.le, c.field, c.want, c.notWant, msg)
		}
	}
}
