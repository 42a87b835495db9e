package config

import (
	"strings"
	"testing"
)

// The Lease holds its duration in int32 seconds (about 68 years): a longer
// lease_duration wraps around to a negative or short lease, which the API
// server refuses (no replica ever leads) or standbys read as expired (two
// leaders). validate names it instead.
func TestLeaseDurationLongerThanALeaseHoldsIsRefused(t *testing.T) {
	for _, lease := range []string{"100y", "137y"} {
		doc := `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret_file: secret
state: {backend: kubernetes, namespace: rotatord}
leader_election: {lease_duration: ` + lease + `}
policies:
  - name: ci
    match: {name: ci-*}
    sinks:
      - {type: kubernetes, namespace: apps, name: "exoscale-{{.Name}}"}
`
		_, _, err := Validate(writePolicy(t, doc), ValidateOptions{Getenv: env(nil)})
		if err == nil || !strings.Contains(err.Error(), "leader_election.lease_duration") || !strings.Contains(err.Error(), lease) {
			t.Errorf("lease_duration %s: want an error naming leader_election.lease_duration and %s, got %v", lease, lease, err)
		}
	}
}
