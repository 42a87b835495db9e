package config

import (
	"strings"
	"testing"
)

// TestCredentialFileIsNoTemplate: credential_file is one file. rotatord
// builds its store as a file sink, whose path is a template: a path with
// "{{" would be rendered (with the key name at a write, with none at the
// start's read), so the credential would be written to one file and read
// from another. It is refused, as credential_vault.path is.
func TestCredentialFileIsNoTemplate(t *testing.T) {
	_, err := Parse([]byte(`exoscale:
  credential_file: "/var/lib/rotatord/{{.Name}}.json"
  own_key: {}
state_dir: /var/lib/rotatord
`), "rotatord.yml", "/etc/rotatord")
	if err == nil || !strings.Contains(err.Error(), "exoscale.credential_file") || !strings.Contains(err.Error(), "not a template") {
		t.Errorf("got %v, want exoscale.credential_file refused as a template", err)
	}
}
