package config

import (
	"strings"
	"testing"
)

// A policy file whose only work is rotatord's own key (no policies) is
// valid: own_key is opted into per organization, and an account of
// accounts: with own_key and no policy is accepted already.
func TestOwnKeyAloneNeedsNoPolicy(t *testing.T) {
	cfg, err := Parse([]byte(`exoscale:
  credential_file: cred.json
  own_key: {max_age: 7d}
state_dir: /var/lib/rotatord
`), "rotatord.yml", "/etc/rotatord")
	if err != nil {
		t.Fatalf("own_key without policies: %v", err)
	}
	if cfg.Exoscale.OwnKey == nil || len(cfg.Policies) != 0 {
		t.Errorf("own_key %+v, policies %d", cfg.Exoscale.OwnKey, len(cfg.Policies))
	}

	// Without own_key a file with nothing to rotate is still refused.
	_, err = Parse([]byte(`exoscale:
  credential_file: cred.json
state_dir: /var/lib/rotatord
policies: []
`), "rotatord.yml", "/etc/rotatord")
	if err == nil || !strings.Contains(err.Error(), "policies: at least one policy is required") {
		t.Errorf("no policies and no own_key: got %v", err)
	}
}
