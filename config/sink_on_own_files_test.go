package config

import (
	"strings"
	"testing"
)

// TestFileSinkOnRotatordsOwnFilesIsAProblem: a file sink never writes the
// policy file, anything inside state_dir or the files api_key_file and
// api_secret_file name (the daemon refuses each write), yet validate
// called such a file valid, so `validate` passed a file whose rotations
// all fail at run. A sink path relative to the policy file
// (./rotatord.yml, ./state/x.json) makes the mistake one keystroke away.
// validate compares the literal paths, as it does with credential_file.
func TestFileSinkOnRotatordsOwnFilesIsAProblem(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{"./rotatord.yml", "the policy file"},
		{"/etc/rotatord/rotatord.yml", "the policy file"},
		{"./state/journal.json", "inside state_dir"},
		{"../rotatord/state/x.json", "inside state_dir"},
		{"./key", "api_key_file"},
		{"/etc/rotatord/secret", "api_secret_file"},
	} {
		doc := `exoscale: {api_key_file: /etc/rotatord/key, api_secret_file: ./secret}
state_dir: ./state
policies:
  - name: ci
    match: {name: ci}
    sinks: [{type: file, path: "` + c.path + `"}]
`
		_, err := Parse([]byte(doc), "/etc/rotatord/rotatord.yml", "/etc/rotatord")
		if err == nil || !strings.Contains(err.Error(), "policies[0].sinks[0].path") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("file sink path %s: want a problem naming %s, got %v", c.path, c.want, err)
		}
	}
	// A file beside them is fine.
	doc := "exoscale: {api_key_file: /etc/rotatord/key, api_secret_file: ./secret}\nstate_dir: ./state\npolicies:\n  - name: ci\n    match: {name: ci}\n    sinks: [{type: file, path: ./out/ci.json}]\n"
	if _, err := Parse([]byte(doc), "/etc/rotatord/rotatord.yml", "/etc/rotatord"); err != nil {
		t.Errorf("file sink beside the policy file refused: %v", err)
	}
}
