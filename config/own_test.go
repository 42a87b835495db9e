package config

import (
	"fmt"
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

func TestWindowsAndJitter(t *testing.T) {
	base := `state_dir: /var/lib/rotatord
exoscale: {api_key: EXO0123456789abcdef01234567, api_secret: s}
policies:
  - name: ci
    match: {name: "ci-*"}
    max_age: 30d
    jitter: %s
    windows:
%s    sinks: [{type: file, path: "/run/ci/{{.Name}}.json"}]
`
	cfg, err := Parse([]byte(fmt.Sprintf(base, "6h", "      - {days: [mon-fri], start: \"09:00\", end: \"16:00\", time_zone: Europe/Zurich}\n      - {days: [sat], start: \"22:00\", end: \"02:00\"}\n")), "rotatord.yml", "/etc")
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Policies[0]
	if w := p.WindowSet(); len(w) != 2 || w[0].Zone.String() != "Europe/Zurich" || w[1].Zone.String() != "UTC" || p.Jitter.Duration() != 6*time.Hour {
		t.Errorf("windows %+v jitter %s", w, p.Jitter)
	}
	for _, tc := range []struct{ jitter, windows, want string }{
		{"1h", "      - {days: [monday], start: \"09:00\", end: \"16:00\"}\n", `policies[0].windows[0].days: unknown day "monday"`},
		{"1h", "      - {days: [mon], start: \"9:00\", end: \"16:00\"}\n", `policies[0].windows[0].start: invalid time of day "9:00"`},
		{"1h", "      - {days: [mon], start: \"09:00\", end: \"16:00\", time_zone: Mars/Olympus}\n", `policies[0].windows[0].time_zone: unknown time zone "Mars/Olympus"`},
		{"1h", "      - {start: \"09:00\", end: \"16:00\"}\n", `policies[0].windows[0].days: no days`},
		{"-1h", "", "policies[0].jitter: must not be negative"},
		{"31d", "", "policies[0].jitter: 31d is more than max_age 30d"},
	} {
		_, err := Parse([]byte(fmt.Sprintf(base, tc.jitter, tc.windows)), "rotatord.yml", "/etc")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("jitter %s windows %q:\n got %v\nwant %s", tc.jitter, tc.windows, err, tc.want)
		}
	}
}
