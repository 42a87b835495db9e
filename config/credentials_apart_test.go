package config

// Review 13b: tries to break credentialsApart (commit 8d1ae04). A failing
// test here is a defect.

import (
	"testing"
)

const credentialsApartPolicies = `state_dir: /var/lib/rotatord
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks: [{type: file, path: "/run/ci/{{.Name}}.json"}]
`

// credentialsApart compares credential_file strings as written: an
// absolute path is not cleaned, so "/etc/rotatord/./cred.json" (or
// "//cred.json") is a different string for the same file, and two
// accounts rotate their own keys into one file again.
func TestSharedCredentialFileUncleanPath(t *testing.T) {
	_, err := Parse([]byte(`exoscale:
  credential_file: /etc/rotatord/cred.json
  own_key: {max_age: 7d}
accounts:
  - name: staging
    credential_file: /etc/rotatord/./cred.json
    own_key: {max_age: 7d}
`+credentialsApartPolicies), "rotatord.yml", "/etc/rotatord")
	if err == nil {
		t.Error("two accounts whose credential_file is /etc/rotatord/cred.json and /etc/rotatord/./cred.json (one file) are accepted")
	}
}

// The same for a file sink writing over the credential file.
func TestSinkOnCredentialFileUncleanPath(t *testing.T) {
	_, err := Parse([]byte(`exoscale:
  credential_file: /etc/rotatord/cred.json
  own_key: {max_age: 7d}
state_dir: /var/lib/rotatord
policies:
  - name: deploy
    match: {name: "deploy-bot"}
    sinks: [{type: file, path: "/etc/rotatord//cred.json"}]
`), "rotatord.yml", "/etc/rotatord")
	if err == nil {
		t.Error("a file sink writing /etc/rotatord//cred.json, the credential file, is accepted")
	}
	_, err = Parse([]byte(`exoscale:
  credential_file: cred.json
  own_key: {max_age: 7d}
state_dir: /var/lib/rotatord
policies:
  - name: deploy
    match: {name: "deploy-bot"}
    sinks: [{type: file, path: "./cred.json"}]
`), "rotatord.yml", "/etc/rotatord")
	if err == nil {
		t.Error("a file sink writing ./cred.json (relative to the config directory: the credential file) is accepted")
	}
}

// Shared credentials are refused for files and literal keys only: two
// accounts reading (and, with own_key, rotating) one Vault secret are
// accepted, though each account's own-key rotation overwrites the
// other's credential. Kubernetes, per the same commit, keeps its
// credential in Vault.
func TestTwoAccountsShareOneVaultCredential(t *testing.T) {
	_, err := Parse([]byte(`exoscale:
  credential_from: vault
  credential_vault:
    address: https://vault.example:8200
    path: infra/rotatord
    auth: {method: kubernetes, role: rotatord}
  own_key: {}
accounts:
  - name: staging
    credential_from: vault
    credential_vault:
      address: https://vault.example:8200
      path: infra/rotatord
      auth: {method: kubernetes, role: rotatord}
    own_key: {}
`+credentialsApartPolicies), "rotatord.yml", "/etc/rotatord")
	if err == nil {
		t.Error("two accounts with one credential_vault secret (infra/rotatord) are accepted")
	}
}

// A policy's Vault sink writing the secret rotatord reads its credential
// from: each rotation of that policy's key replaces the admin credential.
// The file case is refused; the Vault case is not.
func TestVaultSinkOnVaultCredential(t *testing.T) {
	_, err := Parse([]byte(`exoscale:
  credential_from: vault
  credential_vault:
    address: https://vault.example:8200
    path: infra/rotatord
    auth: {method: kubernetes, role: rotatord}
  own_key: {}
state_dir: /var/lib/rotatord
policies:
  - name: deploy
    match: {name: "deploy-bot"}
    sinks:
      - type: vault
        address: https://vault.example:8200
        path: infra/rotatord
        auth: {method: kubernetes, role: rotatord}
`), "rotatord.yml", "/etc/rotatord")
	if err == nil {
		t.Error("a vault sink writing infra/rotatord, the secret rotatord signs with, is accepted")
	}
}
