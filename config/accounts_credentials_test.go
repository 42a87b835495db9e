package config

// Review of issue 13 (own-key rotation, several organizations): tests that
// try to break the config side of it. A failing test here is a defect.

import (
	"strings"
	"testing"
)

// Two accounts whose own keys live in one credential file: each account's
// own-key rotation overwrites the other's credential (the file store takes
// over what is there), so one of the two accounts loses the key it signs
// with at the next restart. The file should be refused.
func TestTwoAccountsShareOneCredentialFile(t *testing.T) {
	_, err := Parse([]byte(`exoscale:
  credential_file: cred.json
  own_key: {max_age: 7d}
accounts:
  - name: staging
    credential_file: cred.json
    own_key: {max_age: 7d}
state_dir: /var/lib/rotatord
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks: [{type: file, path: "/run/ci/{{.Name}}.json"}]
`), "rotatord.yml", "/etc/rotatord")
	if err == nil || !strings.Contains(err.Error(), "credential_file") {
		t.Errorf("two accounts rotating their own keys into /etc/rotatord/cred.json: got %v, want an error on accounts[0].credential_file", err)
	}
}

// A policy's file sink that writes the file rotatord reads its own
// credential from: each rotation of that policy's key would replace the
// admin credential (or be refused by the store's marker at every try).
func TestSinkTargetIsTheCredentialFile(t *testing.T) {
	_, err := Parse([]byte(`exoscale:
  credential_file: /etc/rotatord/cred.json
  own_key: {max_age: 7d}
state_dir: /var/lib/rotatord
policies:
  - name: deploy
    match: {name: "deploy-bot"}
    sinks: [{type: file, path: "/etc/rotatord/cred.json"}]
`), "rotatord.yml", "/etc/rotatord")
	if err == nil {
		t.Error("a file sink writing /etc/rotatord/cred.json, the credential file rotatord signs with, is accepted")
	}
}

// `own_key:` with nothing after it (YAML null) turns own-key rotation off
// without a word: the loader takes null as "not set", while the schema
// refuses null there, and an operator who wrote the block (expecting the
// documented defaults) hand-rotates nothing and is told nothing.
func TestOwnKeyNullIsSilentlyOff(t *testing.T) {
	cfg, err := Parse([]byte(`exoscale:
  credential_file: cred.json
  own_key:
state_dir: /var/lib/rotatord
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks: [{type: file, path: "/run/ci/{{.Name}}.json"}]
`), "rotatord.yml", "/etc/rotatord")
	if err == nil && cfg.Exoscale.OwnKey == nil {
		t.Error("own_key: (null) is accepted and leaves own-key rotation off; want the defaults or an error")
	}
}

// Two accounts signing with the same key are one organization managed by
// two engines with two journals: a name both accounts' policies select is
// rotated by each, neither knowing the other's keys (a third key, a key
// deleted under a consumer). The same api_key in two accounts should be
// refused.
func TestTwoAccountsWithTheSameKey(t *testing.T) {
	_, err := Parse([]byte(`exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret: s
accounts:
  - name: staging
    api_key: EXO0123456789abcdef01234567
    api_secret: s
state_dir: /var/lib/rotatord
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks: [{type: file, path: "/run/ci/{{.Name}}.json"}]
  - name: staging-ci
    account: staging
    match: {name: "ci-*"}
    sinks: [{type: file, path: "/run/staging/{{.Name}}.json"}]
`), "rotatord.yml", "/etc/rotatord")
	if err == nil {
		t.Error("two accounts with the same api_key (one organization, two journals) are accepted")
	}
}

// Held: account names that would leave the state directory, or take the
// exoscale block's name, are refused.
func TestAccountNamesRefused(t *testing.T) {
	for _, name := range []string{"default", "../x", "a/b", ".", "..", "Green", "", "-x", "_self"} {
		_, err := Parse([]byte(`exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret: s
accounts:
  - name: "`+name+`"
    api_key: EXO0123456789abcdef01234568
    api_secret: t
state_dir: /var/lib/rotatord
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks: [{type: file, path: "/run/ci/{{.Name}}.json"}]
`), "rotatord.yml", "/etc/rotatord")
		if err == nil {
			t.Errorf("account name %q accepted", name)
		}
	}
}
