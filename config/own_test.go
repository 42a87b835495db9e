package config

import (
	"strings"
	"testing"
	"time"
)

const ownPolicies = `state_dir: /var/lib/rotatord
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks: [{type: file, path: "/run/ci/{{.Name}}.json"}]
`

func TestOwnKeyConfig(t *testing.T) {
	cfg, err := Parse([]byte(`exoscale:
  credential_file: cred.json
  own_key: {max_age: 7d}
`+ownPolicies), "rotatord.yml", "/etc/rotatord")
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Exoscale
	if e.CredentialFrom != CredentialFromFile || e.CredentialFile != "/etc/rotatord/cred.json" {
		t.Errorf("credential_from %q file %q", e.CredentialFrom, e.CredentialFile)
	}
	if e.OwnKey == nil || e.OwnKey.MaxAge.Duration() != 7*24*time.Hour || e.OwnKey.GracePeriod != DefaultGracePeriod ||
		e.OwnKey.Schedule != DefaultSchedule || e.OwnKey.CronSchedule() == nil {
		t.Errorf("own_key %+v: want max_age 7d and the defaults", e.OwnKey)
	}
	if src := cfg.CredentialSource(); src.PairFile != "/etc/rotatord/cred.json" || src.Key != "" {
		t.Errorf("credential source %+v", src)
	}

	cfg, err = Parse([]byte(`exoscale:
  credential_from: vault
  credential_vault:
    address: https://vault.example:8200
    path: infra/rotatord
    auth: {method: kubernetes, role: rotatord}
  own_key: {}
`+ownPolicies), "rotatord.yml", "/etc/rotatord")
	if err != nil {
		t.Fatal(err)
	}
	if v := cfg.Exoscale.CredentialVault; v == nil || v.Mount != DefaultVaultMount || v.Type != SinkVault || v.Path != "infra/rotatord" {
		t.Errorf("credential_vault %+v", v)
	}
	if o := cfg.Exoscale.OwnKey; o == nil || o.MaxAge != DefaultMaxAge {
		t.Errorf("own_key {} %+v: want the defaults", o)
	}
}

func TestOwnKeyConfigErrors(t *testing.T) {
	for _, tc := range []struct{ exoscale, want string }{
		{"  api_key: EXO0123456789abcdef01234567\n  api_secret: s\n  own_key: {max_age: 7d}\n",
			"exoscale.own_key: needs credential_from"},
		{"  credential_from: file\n", "exoscale.credential_file: required with credential_from: file"},
		{"  credential_from: vault\n", "exoscale.credential_vault: required with credential_from: vault"},
		{"  credential_from: disk\n", `exoscale.credential_from: unknown value "disk"`},
		{"  credential_file: c.json\n  api_key: EXO0123456789abcdef01234567\n", "exoscale.api_key: conflicts with credential_from: file"},
		{"  credential_file: c.json\n  credential_vault: {path: x}\n", "exoscale.credential_vault: only with credential_from: vault"},
		{"  credential_from: vault\n  credential_vault: {path: \"a/{{.Name}}\", auth: {method: token}}\n", "exoscale.credential_vault.path: \"a/{{.Name}}\": one secret, not a template"},
		{"  credential_from: vault\n  credential_vault: {path: a, format: json}\n", "exoscale.credential_vault.format: not a setting of the credential's Vault secret"},
		{"  credential_from: vault\n  credential_vault: {type: file, path: a}\n", "exoscale.credential_vault.type: must be vault"},
		{"  credential_file: c.json\n  own_key: {max_age: 0s}\n", "exoscale.own_key.max_age: must be > 0"},
		{"  credential_file: c.json\n  own_key: {grace_period: -1h}\n", "exoscale.own_key.grace_period: must not be negative"},
		{"  credential_file: c.json\n  own_key: {schedule: never}\n", `exoscale.own_key.schedule: bad schedule "never"`},
	} {
		_, err := Parse([]byte("exoscale:\n"+tc.exoscale+ownPolicies), "rotatord.yml", "/etc/rotatord")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %s", tc.exoscale, err, tc.want)
		}
	}
}
