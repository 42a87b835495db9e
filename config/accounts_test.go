package config

import (
	"strings"
	"testing"
)

const twoAccounts = `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret: s
accounts:
  - name: staging
    zone: de-fra-1
    credential_file: staging.json
    own_key: {max_age: 7d}
state_dir: /var/lib/rotatord
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks: [{type: file, path: "/run/ci/{{.Name}}.json"}]
  - name: staging-ci
    account: staging
    match: {name: "ci-*"}
    sinks: [{type: file, path: "/run/staging/{{.Name}}.json"}]
`

func TestAccounts(t *testing.T) {
	cfg, err := Parse([]byte(twoAccounts), "rotatord.yml", "/etc/rotatord")
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.AccountsInUse()
	if len(in) != 2 || in[0].Name != DefaultAccount || in[1].Name != "staging" {
		t.Fatalf("accounts in use %+v", in)
	}
	st := in[1]
	if st.ResolvedEndpoint() != "https://api-de-fra-1.exoscale.com/v2" || st.Timeout != DefaultTimeout ||
		st.CredentialFrom != CredentialFromFile || st.CredentialFile != "/etc/rotatord/staging.json" ||
		st.OwnKey == nil || st.OwnKey.GracePeriod != DefaultGracePeriod {
		t.Errorf("staging account %+v: want its own zone, the defaults and an absolute credential file", *st.Exoscale)
	}
	if cfg.Policies[0].AccountOf() != DefaultAccount || cfg.Policies[1].AccountOf() != "staging" {
		t.Errorf("policy accounts %q %q", cfg.Policies[0].AccountOf(), cfg.Policies[1].AccountOf())
	}
	if cfg.AccountStateDir("staging") != "/var/lib/rotatord/accounts/staging" || cfg.AccountStateDir(DefaultAccount) != "/var/lib/rotatord" {
		t.Errorf("state dirs %s %s", cfg.AccountStateDir("staging"), cfg.AccountStateDir(DefaultAccount))
	}
	if SelfPolicyName("staging") != "_self-staging" || SelfPolicyName(DefaultAccount) != "_self" {
		t.Error("self policy names")
	}

	// Accounts only: no default account when no policy uses it.
	only := strings.Replace(twoAccounts, "exoscale:\n  api_key: EXO0123456789abcdef01234567\n  api_secret: s\n", "", 1)
	only = strings.Replace(only, "  - name: ci\n    match", "  - name: ci\n    account: staging\n    match", 1)
	cfg, err = Parse([]byte(only), "rotatord.yml", "/etc/rotatord")
	if err != nil {
		t.Fatal(err)
	}
	if in := cfg.AccountsInUse(); len(in) != 1 || in[0].Name != "staging" {
		t.Errorf("accounts in use %+v, want staging alone", in)
	}
}

func TestAccountErrors(t *testing.T) {
	for _, tc := range []struct{ from, to, want string }{
		{"  - name: staging\n", "  - name: default\n", `accounts[0].name: "default" is the exoscale block's account`},
		{"  - name: staging\n", "  - name: Staging\n", `accounts[0].name: "Staging": want lower-case`},
		{"    account: staging\n", "    account: prod\n", `policies[1].account: no account named "prod" (known: default, staging)`},
		{"    credential_file: staging.json\n", "", "accounts[0]: no credential: set api_key"},
		{"    zone: de-fra-1\n", "    zone: mars-1\n", `accounts[0].zone: unknown zone "mars-1"`},
		{"    own_key: {max_age: 7d}\n", "    own_key: {max_age: 0s}\n", "accounts[0].own_key.max_age: must be > 0"},
		{"    credential_file: staging.json\n", "    credential_file: staging.json\n    api_key: EXO0123456789abcdef01234567\n", "accounts[0].api_key: conflicts with credential_from: file"},
		{"    zone: de-fra-1\n", "    zone: de-fra-1\n    colour: blue\n", `accounts[0].colour: unknown field "colour"`},
	} {
		cfgText := strings.Replace(twoAccounts, tc.from, tc.to, 1)
		if cfgText == twoAccounts {
			t.Fatalf("%q not found", tc.from)
		}
		_, err := Parse([]byte(cfgText), "rotatord.yml", "/etc/rotatord")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q -> %q:\n got %v\nwant %s", tc.from, tc.to, err, tc.want)
		}
	}
	// Two accounts of the same name.
	dup := strings.Replace(twoAccounts, "state_dir:", "  - name: staging\n    api_key: EXO0123456789abcdef01234567\n    api_secret: t\nstate_dir:", 1)
	if _, err := Parse([]byte(dup), "rotatord.yml", "/etc/rotatord"); err == nil || !strings.Contains(err.Error(), `accounts[1].name: duplicate account name "staging" (first used at accounts[0])`) {
		t.Errorf("duplicate: %v", err)
	}
}
