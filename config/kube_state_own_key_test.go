package config

import (
	"strings"
	"testing"
)

// The Kubernetes journal takes the Lease by default (no leader_election
// block written), and with it the rule that the own key's credential is
// one every replica reads. The refusal of a credential file must say why
// for the file as written: it has no leader_election to point at, only
// state.backend kubernetes.
func TestOwnKeyFileCredentialWithKubernetesStateNamesTheStateBackend(t *testing.T) {
	doc := `exoscale:
  credential_file: c.json
  own_key: {}
state: {backend: kubernetes, namespace: rotatord}
` + ownPolicies
	_, err := Parse([]byte(doc), "rotatord.yml", "/etc/rotatord")
	if err == nil {
		t.Fatal("an own key read from a replica's own file, with the Kubernetes journal, accepted")
	}
	var line string
	for _, l := range strings.Split(err.Error(), "\n") {
		if strings.Contains(l, "exoscale.own_key") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no problem at exoscale.own_key: %v", err)
	}
	if !strings.Contains(line, "state.backend") {
		t.Errorf("the refusal speaks of a leader_election the file does not have, not of its state.backend kubernetes: %s", line)
	}
}
