package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/secret"
)

const zoneList = "ch-gva-2, ch-dk-2, de-fra-1, de-muc-1, at-vie-1, at-vie-2, bg-sof-1, hr-zag-1"

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		give string
		want string
	}{
		{give: "invalid-empty.yml", want: "testdata/invalid-empty.yml: empty file: want a mapping with at least policies"},
		{give: "invalid-comments-only.yml", want: "testdata/invalid-comments-only.yml: empty file: want a mapping with at least policies"},
		{give: "invalid-multiple-documents.yml", want: "testdata/invalid-multiple-documents.yml:8: a second YAML document starts here: a policy file holds exactly one"},
		{give: "invalid-top-level-sequence.yml", want: "testdata/invalid-top-level-sequence.yml:1: top level is a sequence: want a mapping with at least policies"},
		// yaml.v3 reports a syntax error on the line of the enclosing block.
		{give: "invalid-syntax.yml", want: "testdata/invalid-syntax.yml:5: did not find expected key"}, // the mis-indented "sinks:"
		{give: "invalid-duplicate-key.yml", want: `testdata/invalid-duplicate-key.yml:8: policies[0].sinks[0].path: mapping key "path" already defined at line 7`},
		{give: "invalid-unknown-field.yml", want: "testdata/invalid-unknown-field.yml:1: colour: unknown field \"colour\" (known here: exoscale, state_dir, listen, policies, accounts, state, leader_election)"},
		{give: "invalid-unknown-nested-field.yml", want: "testdata/invalid-unknown-nested-field.yml:8: policies[0].sinks[0].permissions: unknown field \"permissions\" (known here: type, path, format, template, mode, owner, group, allow_world_readable, take_over, address, namespace, mount, auth, tls, ca_cert, tls_server_name, insecure_skip_verify, insecure_http, name, keys, key, labels, annotations, kubeconfig, context, restart)"},
		{give: "invalid-unknown-vault-auth-field.yml", want: "testdata/invalid-unknown-vault-auth-field.yml:8: policies[0].sinks[0].auth.role_id: required by method approle\n" +
			"testdata/invalid-unknown-vault-auth-field.yml:8: policies[0].sinks[0].auth.secret_id_file: required by method approle\n" +
			"testdata/invalid-unknown-vault-auth-field.yml:10: policies[0].sinks[0].auth.secret_id: unknown field \"secret_id\" (did you mean \"secret_id_file\"?)"},
		{give: "invalid-wrong-type.yml", want: "testdata/invalid-wrong-type.yml:2: exoscale.concurrency: want an integer, got \"four\""},
		{give: "invalid-zone.yml", want: `testdata/invalid-zone.yml:2: exoscale.zone: unknown zone "ch-gva-3" (known: ` + zoneList + `)`},
		{give: "invalid-endpoint.yml", want: `testdata/invalid-endpoint.yml:2: exoscale.endpoint: endpoint "http://127.0.0.1:8080/v1": path must end in /v2`},
		{give: "invalid-api-key-and-file.yml", want: "testdata/invalid-api-key-and-file.yml:3: exoscale.api_key_file: api_key and api_key_file are both set: choose one"},
		{give: "invalid-api-secret-and-file.yml", want: "testdata/invalid-api-secret-and-file.yml:3: exoscale.api_secret_file: api_secret and api_secret_file are both set: choose one"},
		{give: "invalid-timeout.yml", want: "testdata/invalid-timeout.yml:2: exoscale.timeout: must be > 0, got 0s"},
		{give: "invalid-timeout-without-unit.yml", want: `testdata/invalid-timeout-without-unit.yml:2: exoscale.timeout: invalid duration "30": a number needs a unit (30s, 30m, 30h or 30d)`},
		{give: "invalid-rate-limit.yml", want: "testdata/invalid-rate-limit.yml:2: exoscale.rate_limit: must be a finite number > 0, got 0"},
		{give: "invalid-concurrency.yml", want: "testdata/invalid-concurrency.yml:2: exoscale.concurrency: must be from 1 to 64, got 65"},
		{give: "invalid-max-retries.yml", want: "testdata/invalid-max-retries.yml:2: exoscale.max_retries: must be from 0 to 10, got -1"},
		{give: "invalid-state-dir.yml", want: "testdata/invalid-state-dir.yml:1: state_dir: required"},
		{give: "invalid-listen.yml", want: "testdata/invalid-listen.yml:1: listen: address 9108: missing port in address (want host:port, such as 127.0.0.1:9108 or :9108)"},
		{give: "invalid-listen-port.yml", want: `testdata/invalid-listen-port.yml:1: listen: port "metrics" of "127.0.0.1:metrics": want a number from 0 to 65535`},
		{give: "invalid-no-policies.yml", want: "testdata/invalid-no-policies.yml: policies: at least one policy is required (or an own_key)"},
		{give: "invalid-empty-policies.yml", want: "testdata/invalid-empty-policies.yml:1: policies: at least one policy is required (or an own_key)"},
		{give: "invalid-duplicate-policy-name.yml", want: `testdata/invalid-duplicate-policy-name.yml:8: policies[1].name: duplicate policy name "ci" (first used at policies[0])`},
		{give: "invalid-policy-name.yml", want: `testdata/invalid-policy-name.yml:2: policies[0].name: "CI Keys": want lower-case letters, digits, _ and - (up to 63, starting with a letter or digit), as it labels metrics and names state`},
		{give: "invalid-missing-match-name.yml", want: "testdata/invalid-missing-match-name.yml:3: policies[0].match.name: required"},
		{give: "invalid-glob.yml", want: `testdata/invalid-glob.yml:4: policies[0].match.name: bad glob "ci-[a-": syntax error in pattern`},
		{give: "invalid-exclude-glob.yml", want: `testdata/invalid-exclude-glob.yml:5: policies[0].match.exclude[1]: bad glob "ci-[]": syntax error in pattern`},
		{give: "invalid-role-id.yml", want: `testdata/invalid-role-id.yml:5: policies[0].match.role_id: "ci-role" is not a UUID (want the form 22222222-2222-2222-2222-222222222222)`},
		{give: "invalid-schedule.yml", want: `testdata/invalid-schedule.yml:5: policies[0].schedule: bad schedule "every hour": expected exactly 5 fields, found 2: [every hour]`},
		{give: "invalid-schedule-timezone.yml", want: `testdata/invalid-schedule-timezone.yml:5: policies[0].schedule: bad schedule "CRON_TZ=Europe/Zurich": time zone without a schedule after it`},
		{give: "invalid-max-age.yml", want: `testdata/invalid-max-age.yml:5: policies[0].max_age: invalid duration "30days" (want e.g. 90m, 12h, 30d, 1w or 1d12h)`},
		{give: "invalid-max-age-zero.yml", want: "testdata/invalid-max-age-zero.yml:5: policies[0].max_age: must be > 0, got 0d"},
		{give: "invalid-negative-grace-period.yml", want: "testdata/invalid-negative-grace-period.yml:5: policies[0].grace_period: must not be negative, got -1h"},
		{give: "invalid-adopt.yml", want: `testdata/invalid-adopt.yml:5: policies[0].adopt: unknown value "ignore" (want wait or rotate)`},
		{give: "invalid-only-template-sinks.yml", want: "testdata/invalid-only-template-sinks.yml:5: policies[0].sinks: 2 sinks and none that rotatord can read back (every one is format template): add a sink of another format or type, so an interrupted delivery can be resumed"},
		{give: "invalid-world-readable-mode.yml", want: "testdata/invalid-world-readable-mode.yml:8: policies[0].sinks[0].mode: 0644 lets every user read the credential: use 0640 and a group to share it, or set allow_world_readable: true"},
		{give: "invalid-endpoint-credentials.yml", want: `testdata/invalid-endpoint-credentials.yml:2: exoscale.endpoint: endpoint "https://xxxxx@api.example.com/v2": must not carry credentials, a query or a fragment`},
		{give: "invalid-http-endpoint.yml", want: "testdata/invalid-http-endpoint.yml:2: exoscale.endpoint: http://api.example.com/v2 is plain http to a host that is not loopback: secrets would cross the network in clear (use https, or set insecure_http: true for a test setup)"},
		{give: "invalid-http-vault-address.yml", want: "testdata/invalid-http-vault-address.yml:8: policies[0].sinks[0].address: http://vault.example.com:8200 is plain http to a host that is not loopback: secrets would cross the network in clear (use https, or set insecure_http: true for a test setup)"},
		{give: "invalid-no-sinks.yml", want: "testdata/invalid-no-sinks.yml:2: policies[0].sinks: at least one sink is required"},
		{give: "invalid-sink-type.yml", want: `testdata/invalid-sink-type.yml:6: policies[0].sinks[0].type: unknown sink type "s3" (want file, vault or kubernetes)`},
		{give: "invalid-missing-sink-type.yml", want: "testdata/invalid-missing-sink-type.yml:6: policies[0].sinks[0].type: required (file, vault or kubernetes)"},
		{give: "invalid-file-sink-without-path.yml", want: "testdata/invalid-file-sink-without-path.yml:6: policies[0].sinks[0].path: required"},
		{give: "invalid-path-template.yml", want: "testdata/invalid-path-template.yml:7: policies[0].sinks[0].path: template: path:1: bad character U+007D '}'"},
		{give: "invalid-path-template-field.yml", want: `testdata/invalid-path-template-field.yml:7: policies[0].sinks[0].path: unknown template field .KeyID (a path sees only .Name)`},
		{give: "invalid-glob-path-without-name.yml", want: `testdata/invalid-glob-path-without-name.yml:7: policies[0].sinks[0].path: does not use {{.Name}}, but match.name "ci-*" can select several keys, which would all write one file`},
		{give: "invalid-format.yml", want: `testdata/invalid-format.yml:8: policies[0].sinks[0].format: unknown format "yaml" (want json, env, exoscale-toml or template)`},
		{give: "invalid-template-format-without-template.yml", want: "testdata/invalid-template-format-without-template.yml:6: policies[0].sinks[0].template: required when format is template"},
		{give: "invalid-template-for-json.yml", want: "testdata/invalid-template-for-json.yml:8: policies[0].sinks[0].template: only for format template, but format is json"},
		{give: "invalid-content-template.yml", want: "testdata/invalid-content-template.yml:9: policies[0].sinks[0].template: template: template:1: unclosed action"},
		{give: "invalid-mode.yml", want: `testdata/invalid-mode.yml:8: policies[0].sinks[0].mode: invalid mode "rw-------" (want an octal string such as "0600")`},
		{give: "invalid-mode-too-large.yml", want: "testdata/invalid-mode-too-large.yml:8: policies[0].sinks[0].mode: 04600: want permission bits only, at most 0777"},
		{give: "invalid-world-writable-mode.yml", want: "testdata/invalid-world-writable-mode.yml:8: policies[0].sinks[0].mode: 0666 is world-writable: anyone could replace the credential"},
		{give: "invalid-unreadable-mode.yml", want: "testdata/invalid-unreadable-mode.yml:8: policies[0].sinks[0].mode: 0200 lets nobody read the credential"},
		{give: "invalid-vault-field-on-file-sink.yml", want: "testdata/invalid-vault-field-on-file-sink.yml:8: policies[0].sinks[0].address: only for type vault"},
		{give: "invalid-file-field-on-vault-sink.yml", want: "testdata/invalid-file-field-on-vault-sink.yml:8: policies[0].sinks[0].mode: only for type file"},
		{give: "invalid-vault-sink-without-path.yml", want: "testdata/invalid-vault-sink-without-path.yml:6: policies[0].sinks[0].path: required"},
		{give: "invalid-vault-auth-method.yml", want: `testdata/invalid-vault-auth-method.yml:9: policies[0].sinks[0].auth.method: unknown method "userpass" (want token, approle or kubernetes)`},
		{give: "invalid-duplicate-sink-path.yml", want: "testdata/invalid-duplicate-sink-path.yml:13: policies[1].sinks[0].path: same target as policies[0].sinks[0]: the two sinks would overwrite each other"},
		{
			give: "invalid-several-problems.yml",
			want: `testdata/invalid-several-problems.yml:2: exoscale.zone: unknown zone "mars-1" (known: ` + zoneList + `)
testdata/invalid-several-problems.yml:3: exoscale.concurrency: must be from 1 to 64, got 0
testdata/invalid-several-problems.yml:4: listen: address localhost: missing port in address (want host:port, such as 127.0.0.1:9108 or :9108)
testdata/invalid-several-problems.yml:9: policies[0].adopt: unknown value "later" (want wait or rotate)
testdata/invalid-several-problems.yml:13: policies[0].sinks[0].mode: 0777 is world-writable: anyone could replace the credential
testdata/invalid-several-problems.yml:14: policies[0].sinks[0].insecure_http: only for type vault
testdata/invalid-several-problems.yml:15: policies[1].name: duplicate policy name "ci" (first used at policies[0])
testdata/invalid-several-problems.yml:15: policies[1].sinks: at least one sink is required
testdata/invalid-several-problems.yml:17: policies[1].match.name: required`,
		},
	}

	// Every invalid file must be in the table, so none goes untested.
	files, err := filepath.Glob("testdata/invalid-*.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !slices.ContainsFunc(tests, func(tt struct{ give, want string }) bool { return tt.give == filepath.Base(f) }) {
			t.Errorf("%s has no case in TestLoadInvalid", f)
		}
	}

	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			cfg, err := Load(filepath.Join("testdata", tt.give))
			if err == nil {
				t.Fatalf("Load() = %+v, want error", cfg)
			}
			if cfg != nil {
				t.Errorf("Load() returned a config with its error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Load() error:\ngot:  %s\nwant: %s", got, tt.want)
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load() error is a %T, want *Errors", err)
			}
			if got, want := len(*errs), strings.Count(tt.want, "\n")+1; got != want {
				t.Errorf("Load() returned %d problems, want %d", got, want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such-file.yml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load() error = %v, want one wrapping os.ErrNotExist", err)
	}
}

func TestLoadValidFull(t *testing.T) {
	cfg, err := Load("testdata/valid-full.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}

	wantExoscale := Exoscale{
		Zone:          "de-fra-1",
		Endpoint:      "https://api-de-fra-1.exoscale.com/v2",
		APIKey:        "EXO0123456789abcdef01234567",
		APISecretFile: "/run/secrets/exoscale-secret",
		Timeout:       Duration(20 * time.Second),
		RateLimit:     5,
		Concurrency:   2,
		MaxRetries:    3,
		endpoint:      "https://api-de-fra-1.exoscale.com/v2",
	}
	if cfg.Exoscale != wantExoscale {
		t.Errorf("Exoscale = %+v\nwant %+v", cfg.Exoscale, wantExoscale)
	}
	if cfg.StateDir != "/var/lib/rotatord" || cfg.Listen != "127.0.0.1:9108" {
		t.Errorf("StateDir, Listen = %q, %q", cfg.StateDir, cfg.Listen)
	}
	if got, want := cfg.Endpoint(), "https://api-de-fra-1.exoscale.com/v2"; got != want {
		t.Errorf("Endpoint() = %q, want %q", got, want)
	}
	if len(cfg.Policies) != 2 {
		t.Fatalf("got %d policies, want 2", len(cfg.Policies))
	}

	ci := cfg.Policies[0]
	wantMatch := Match{Name: "ci-*", RoleID: "22222222-2222-2222-2222-222222222222", Exclude: []string{"ci-legacy-*", "ci-manual"}}
	if ci.Name != "ci" || !matchEqual(ci.Match, wantMatch) || ci.Schedule != "@every 30m" ||
		ci.MaxAge != Duration(30*24*time.Hour) || ci.GracePeriod != Duration(2*time.Hour) || ci.Adopt != AdoptRotate {
		t.Errorf("policies[0] = %+v", ci)
	}
	if len(ci.Sinks) != 3 {
		t.Fatalf("policies[0] has %d sinks, want 3", len(ci.Sinks))
	}
	if s := ci.Sinks[0]; s.Path != "/etc/ci/exoscale-{{.Name}}.json" || s.Format != FormatJSON || s.Mode != 0o640 || s.Owner != "ci" || s.Group != "1001" {
		t.Errorf("policies[0].sinks[0] = %+v", s)
	}
	if s := ci.Sinks[1]; s.Path != dir+"/secrets/{{.Name}}.env" || s.Format != FormatEnv || s.Mode != DefaultMode {
		t.Errorf("policies[0].sinks[1] = %+v", s)
	}
	if s := ci.Sinks[2]; s.Format != FormatTemplate || s.ContentTemplate() == nil || s.Template != "key = {{.APIKey}}\nsecret = {{.APISecret}}\n" {
		t.Errorf("policies[0].sinks[2] = %+v", s)
	}

	apps := cfg.Policies[1]
	if apps.Schedule != DefaultSchedule || apps.MaxAge != DefaultMaxAge || apps.GracePeriod != DefaultGracePeriod || apps.Adopt != DefaultAdopt {
		t.Errorf("policies[1] did not get the defaults: %+v", apps)
	}
	wantVault := Sink{
		Type:      SinkVault,
		Path:      "exoscale/{{.Name}}",
		Address:   "https://vault.example.com:8200",
		Namespace: "platform",
		Mount:     "kv",
		TakeOver:  true,
		Auth: VaultAuth{
			Method:       AuthAppRole,
			RoleID:       "rotatord",
			SecretIDFile: "/run/secrets/vault-secret-id",
			MountPath:    "approle-ops",
		},
		TLS: VaultTLS{CACert: "/etc/ssl/vault-ca.pem", ServerName: "vault.internal"},
	}
	if got := exported(apps.Sinks[1]); !reflect.DeepEqual(got, wantVault) {
		t.Errorf("policies[1].sinks[1] = %+v\nwant %+v", got, wantVault)
	}
	if got := apps.Sinks[2].Auth; got.Method != AuthKubernetes || got.Role != "rotatord" || got.ServiceAccountTokenFile != "/var/run/secrets/kubernetes.io/serviceaccount/token" {
		t.Errorf("policies[1].sinks[2].auth = %+v", got)
	}
	if s := apps.Sinks[3]; s.Mount != DefaultVaultMount || s.Auth.Method != AuthToken || s.Auth.TokenFile != "/run/secrets/vault-token" {
		t.Errorf("policies[1].sinks[3] = %+v", s)
	}
}

func matchEqual(a, b Match) bool {
	return a.Name == b.Name && a.RoleID == b.RoleID && slices.Equal(a.Exclude, b.Exclude)
}

// exported drops a Sink's parsed templates so sinks compare with reflect.DeepEqual.
func exported(s Sink) Sink {
	s.pathTmpl, s.contentTmpl, s.nameTmpl = nil, nil, nil
	return s
}

func TestDefaults(t *testing.T) {
	cfg, err := Load("testdata/valid-minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	wantExoscale := DefaultExoscale
	wantExoscale.endpoint = "https://api-ch-gva-2.exoscale.com/v2"
	if cfg.Exoscale != wantExoscale {
		t.Errorf("Exoscale = %+v, want %+v", cfg.Exoscale, wantExoscale)
	}
	if cfg.StateDir != DefaultStateDir || cfg.Listen != DefaultListen {
		t.Errorf("StateDir, Listen = %q, %q", cfg.StateDir, cfg.Listen)
	}
	if got, want := cfg.Endpoint(), "https://api-ch-gva-2.exoscale.com/v2"; got != want {
		t.Errorf("Endpoint() = %q, want %q", got, want)
	}
	p := cfg.Policies[0]
	if p.Schedule != DefaultSchedule || p.MaxAge != DefaultMaxAge || p.GracePeriod != DefaultGracePeriod || p.Adopt != DefaultAdopt {
		t.Errorf("policy = %+v", p)
	}
	if p.CronSchedule() == nil {
		t.Error("CronSchedule() = nil")
	}
	want := DefaultFileSink
	want.Path = "/etc/ci/{{.Name}}.json"
	if got := exported(p.Sinks[0]); !reflect.DeepEqual(got, want) {
		t.Errorf("sink = %+v, want %+v", got, want)
	}
	if p.Sinks[0].ContentTemplate() != nil {
		t.Error("ContentTemplate() of a json sink is not nil")
	}

	// The numbers behind the named defaults, as documented.
	if DefaultExoscale.Timeout.Duration() != 30*time.Second || DefaultMaxAge.Duration() != 720*time.Hour ||
		DefaultGracePeriod.Duration() != time.Hour || DefaultMode != 0o600 || DefaultRateLimit != 1000 ||
		DefaultConcurrency != 4 || DefaultMaxRetries != 4 || DefaultZone != apiclient.DefaultZone {
		t.Error("a default changed: update the documentation in testdata/valid-full.yml")
	}
}

// parseOne parses a config of one policy with the given policy lines
// (indented by four spaces) and one file sink, and returns that policy.
func parseOne(t *testing.T, policyLines string) *Policy {
	t.Helper()
	doc := "policies:\n  - name: p\n    match:\n      name: ci-*\n" + policyLines +
		"    sinks:\n      - type: file\n        path: /x/{{.Name}}\n"
	cfg, err := Parse([]byte(doc), "test.yml", "/etc/rotatord")
	if err != nil {
		t.Fatalf("Parse():\n%s\nerror: %v", doc, err)
	}
	return &cfg.Policies[0]
}

func TestPolicyDefaultsVersusZero(t *testing.T) {
	tests := []struct {
		give string
		want Duration
	}{
		{give: "", want: DefaultGracePeriod},
		// Null is the same as leaving the field out.
		{give: "    grace_period:\n", want: DefaultGracePeriod},
		{give: "    grace_period: ~\n", want: DefaultGracePeriod},
		// 0 is a real value: revoke at once. It must not become the default.
		{give: "    grace_period: 0\n", want: 0},
		{give: "    grace_period: 0s\n", want: 0},
		{give: "    grace_period: 1d\n", want: Duration(24 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if got := parseOne(t, tt.give).GracePeriod; got != tt.want {
				t.Errorf("GracePeriod = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDayDurations(t *testing.T) {
	tests := []struct {
		give string
		want time.Duration
	}{
		{give: "30d", want: 30 * 24 * time.Hour},
		{give: "1d12h", want: 36 * time.Hour},
		{give: "1d0h30m", want: 24*time.Hour + 30*time.Minute},
		{give: "90m", want: 90 * time.Minute},
		{give: "720h", want: 720 * time.Hour},
		{give: "1.5h", want: 90 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if got := parseOne(t, "    max_age: "+tt.give+"\n").MaxAge.Duration(); got != tt.want {
				t.Errorf("MaxAge = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	doc := `exoscale:
  api_key_file: secrets/key
  api_secret_file: ../outside/secret
state_dir: state
policies:
  - name: ci
    match:
      name: ci-*
    sinks:
      - type: file
        path: out/{{.Name}}.json
      - type: file
        path: /abs/{{.Name}}.json
      - type: vault
        path: kv-path/{{.Name}}
        auth:
          method: kubernetes
          role: rotatord
          service_account_token_file: sa/token
        tls:
          ca_cert: ca.pem
`
	file := filepath.Join(dir, "policy.yml")
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		give string // field
		got  string
		want string
	}{
		{give: "api_key_file", got: cfg.Exoscale.APIKeyFile, want: filepath.Join(dir, "secrets/key")},
		{give: "api_secret_file", got: cfg.Exoscale.APISecretFile, want: filepath.Join(filepath.Dir(dir), "outside/secret")},
		{give: "state_dir", got: cfg.StateDir, want: filepath.Join(dir, "state")},
		{give: "file path", got: cfg.Policies[0].Sinks[0].Path, want: dir + "/out/{{.Name}}.json"},
		{give: "absolute file path", got: cfg.Policies[0].Sinks[1].Path, want: "/abs/{{.Name}}.json"},
		// A Vault path is a path inside Vault, not on disk.
		{give: "vault path", got: cfg.Policies[0].Sinks[2].Path, want: "kv-path/{{.Name}}"},
		{give: "service_account_token_file", got: cfg.Policies[0].Sinks[2].Auth.ServiceAccountTokenFile, want: filepath.Join(dir, "sa/token")},
		{give: "ca_cert", got: cfg.Policies[0].Sinks[2].TLS.CACert, want: filepath.Join(dir, "ca.pem")},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.give, tt.got, tt.want)
		}
	}

	got, err := cfg.Policies[0].Sinks[0].RenderPath("ci-build")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "out/ci-build.json"); got != want {
		t.Errorf("RenderPath() = %q, want %q", got, want)
	}

	// Parse takes the base directory from its caller; the same text with
	// another base resolves elsewhere.
	cfg, err = Parse([]byte(doc), "other.yml", "/srv/rotatord")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.StateDir, "/srv/rotatord/state"; got != want {
		t.Errorf("Parse() state_dir = %q, want %q", got, want)
	}
}

// A directory whose name looks like a template action must stay literal.
func TestRelativePathTemplateInBaseDir(t *testing.T) {
	doc := "policies:\n  - name: ci\n    match:\n      name: ci-*\n    sinks:\n      - type: file\n        path: out/{{.Name}}\n"
	cfg, err := Parse([]byte(doc), "policy.yml", "/srv/{{.Name}}")
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.Policies[0].Sinks[0].RenderPath("ci-a")
	if err != nil {
		t.Fatal(err)
	}
	if want := "/srv/{{.Name}}/out/ci-a"; got != want {
		t.Errorf("RenderPath() = %q, want %q", got, want)
	}
}

func TestMatches(t *testing.T) {
	const role = "22222222-2222-2222-2222-222222222222"
	tests := []struct {
		desc      string
		giveMatch Match
		giveName  string
		giveRole  string
		want      bool
	}{
		{desc: "glob matches", giveMatch: Match{Name: "ci-*"}, giveName: "ci-build", want: true},
		{desc: "glob does not match", giveMatch: Match{Name: "ci-*"}, giveName: "app-web", want: false},
		{desc: "glob is anchored", giveMatch: Match{Name: "ci-*"}, giveName: "x-ci-build", want: false},
		{desc: "literal name", giveMatch: Match{Name: "ci-build"}, giveName: "ci-build", want: true},
		{desc: "question mark", giveMatch: Match{Name: "ci-?"}, giveName: "ci-1", want: true},
		{desc: "character class", giveMatch: Match{Name: "ci-[0-9]"}, giveName: "ci-a", want: false},
		{desc: "star crosses a slash (a name is not a path)", giveMatch: Match{Name: "ci-*"}, giveName: "ci-a/b", want: true},
		{desc: "role matches", giveMatch: Match{Name: "*", RoleID: role}, giveName: "k", giveRole: role, want: true},
		{desc: "role matches in upper case", giveMatch: Match{Name: "*", RoleID: role}, giveName: "k", giveRole: strings.ToUpper(role), want: true},
		{desc: "role differs", giveMatch: Match{Name: "*", RoleID: role}, giveName: "k", giveRole: "33333333-3333-3333-3333-333333333333", want: false},
		{desc: "key without a role", giveMatch: Match{Name: "*", RoleID: role}, giveName: "k", want: false},
		{desc: "no role asked, any role", giveMatch: Match{Name: "*"}, giveName: "k", giveRole: role, want: true},
		{desc: "excluded", giveMatch: Match{Name: "ci-*", Exclude: []string{"ci-legacy-*"}}, giveName: "ci-legacy-1", want: false},
		{desc: "not excluded", giveMatch: Match{Name: "ci-*", Exclude: []string{"ci-legacy-*"}}, giveName: "ci-new-1", want: true},
		{desc: "second exclude", giveMatch: Match{Name: "ci-*", Exclude: []string{"ci-a", "ci-b"}}, giveName: "ci-b", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			p := Policy{Match: tt.giveMatch}
			if got := p.Matches(tt.giveName, tt.giveRole); got != tt.want {
				t.Errorf("Matches(%q, %q) with %+v = %v, want %v", tt.giveName, tt.giveRole, tt.giveMatch, got, tt.want)
			}
		})
	}
}

// Like blackbox_exporter's TestHideConfigSecrets: a marshalled config, as
// `rotatord validate` may print it, holds no secret.
func TestHideConfigSecrets(t *testing.T) {
	const secretText = "sEcReT-do-not-print-0123456789"
	doc := "exoscale:\n  api_key: EXO0123\n  api_secret: " + secretText + "\n" +
		"policies:\n  - name: ci\n    match:\n      name: ci-*\n    sinks:\n      - type: file\n        path: /x/{{.Name}}\n"
	cfg, err := Parse([]byte(doc), "policy.yml", "/etc/rotatord")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Exoscale.APISecret.Reveal() != secretText {
		t.Fatal("api_secret was not loaded")
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), secretText) {
		t.Fatalf("marshalled config contains the secret:\n%s", out)
	}
	if !strings.Contains(string(out), "api_secret: <secret>") {
		t.Errorf("marshalled config does not show the secret as redacted:\n%s", out)
	}
}

func TestCredentialSource(t *testing.T) {
	doc := "exoscale:\n  api_key: EXOabc\n  api_secret_file: s\n" +
		"policies:\n  - name: ci\n    match:\n      name: ci-*\n    sinks:\n      - type: file\n        path: /x/{{.Name}}\n"
	cfg, err := Parse([]byte(doc), "policy.yml", "/etc/rotatord")
	if err != nil {
		t.Fatal(err)
	}
	want := apiclient.CredentialSource{Key: "EXOabc", SecretFile: "/etc/rotatord/s"}
	if got := cfg.CredentialSource(); got != want {
		t.Errorf("CredentialSource() = %+v, want %+v", got, want)
	}

	cfg.Exoscale = Exoscale{APIKeyFile: "/k", APISecret: secret.Value("x")}
	want = apiclient.CredentialSource{KeyFile: "/k", Secret: secret.Value("x")}
	if got := cfg.CredentialSource(); got != want {
		t.Errorf("CredentialSource() = %+v, want %+v", got, want)
	}
}

func TestEndpointOverridesZone(t *testing.T) {
	doc := "exoscale:\n  zone: at-vie-1\n  endpoint: http://127.0.0.1:8080/v2/\n" +
		"policies:\n  - name: ci\n    match:\n      name: ci-*\n    sinks:\n      - type: file\n        path: /x/{{.Name}}\n"
	cfg, err := Parse([]byte(doc), "policy.yml", "/etc/rotatord")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Endpoint(), "http://127.0.0.1:8080/v2"; got != want {
		t.Errorf("Endpoint() = %q, want %q", got, want)
	}
}

func TestCronSchedule(t *testing.T) {
	p := parseOne(t, "    schedule: \"0 3 * * *\"\n")
	from := time.Date(2025, 1, 1, 12, 0, 0, 0, time.Local)
	if got, want := p.CronSchedule().Next(from), time.Date(2025, 1, 2, 3, 0, 0, 0, time.Local); !got.Equal(want) {
		t.Errorf("Next(%s) = %s, want %s", from, got, want)
	}
	p = parseOne(t, "    schedule: \"@every 10s\"\n")
	if got, want := p.CronSchedule().Next(from), from.Add(10*time.Second); !got.Equal(want) {
		t.Errorf("Next(%s) = %s, want %s", from, got, want)
	}
}

// Overlapping policies are allowed (see the package documentation); only
// sinks that write the same target are not.
func TestOverlappingPoliciesAllowed(t *testing.T) {
	doc := `policies:
  - name: all
    match:
      name: "*"
    sinks:
      - type: file
        path: /all/{{.Name}}
  - name: ci
    match:
      name: ci-*
    sinks:
      - type: file
        path: /ci/{{.Name}}
`
	if _, err := Parse([]byte(doc), "policy.yml", "/"); err != nil {
		t.Fatal(err)
	}
}

// A literal match.name selects one key, so a fixed path is fine.
func TestLiteralMatchFixedPath(t *testing.T) {
	doc := "policies:\n  - name: ci\n    match:\n      name: ci-main\n    sinks:\n      - type: file\n        path: /etc/ci/exoscale.json\n"
	cfg, err := Parse([]byte(doc), "policy.yml", "/")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cfg.Policies[0].Sinks[0].RenderPath("ci-main"); err != nil || got != "/etc/ci/exoscale.json" {
		t.Errorf("RenderPath() = %q, %v", got, err)
	}
}

// Anchors, aliases and merge keys are plain YAML; defaults and the checks
// that look at which keys are set must see through them.
func TestAnchorsAndMergeKeys(t *testing.T) {
	doc := `x-sink: &sink
  type: file
  mode: "0640"
policies:
  - &ci
    name: ci
    match:
      name: ci-*
    sinks:
      - <<: *sink
        path: /ci/{{.Name}}
`
	_, err := Parse([]byte(doc), "policy.yml", "/")
	// x-sink is not a field: anchors must live inside known fields.
	if err == nil || !strings.Contains(err.Error(), `unknown field "x-sink"`) {
		t.Fatalf("Parse() error = %v, want unknown field x-sink", err)
	}

	doc = `policies:
  - name: ci
    match:
      name: ci-*
    grace_period: 0s
    sinks:
      - &file
        type: file
        path: /ci/{{.Name}}
        mode: "0640"
      - <<: *file
        path: /ci2/{{.Name}}
      - <<: *file
        path: /ci3/{{.Name}}
        address: https://vault
`
	_, err = Parse([]byte(doc), "policy.yml", "/")
	want := "policy.yml:15: policies[0].sinks[2].address: only for type vault"
	if err == nil || err.Error() != want {
		t.Fatalf("Parse() error = %v, want %s", err, want)
	}

	doc = strings.Replace(doc, "        address: https://vault\n", "", 1)
	cfg, err := Parse([]byte(doc), "policy.yml", "/")
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range cfg.Policies[0].Sinks {
		if s.Type != SinkFile || s.Mode != 0o640 || s.Format != DefaultFormat {
			t.Errorf("sinks[%d] = %+v", i, s)
		}
	}
	if cfg.Policies[0].GracePeriod != 0 {
		t.Errorf("GracePeriod = %s, want 0s", cfg.Policies[0].GracePeriod)
	}
}

func TestProblemError(t *testing.T) {
	tests := []struct {
		give Problem
		want string
	}{
		{give: Problem{File: "p.yml", Line: 7, Path: "policies[0].name", Msg: "required"}, want: "p.yml:7: policies[0].name: required"},
		{give: Problem{File: "p.yml", Path: "policies", Msg: "at least one"}, want: "p.yml: policies: at least one"},
		{give: Problem{File: "p.yml", Line: 3, Msg: "did not find expected key"}, want: "p.yml:3: did not find expected key"},
		{give: Problem{Line: 3, Path: "listen", Msg: "bad"}, want: "line 3: listen: bad"},
		{give: Problem{Msg: "bad"}, want: "bad"},
	}
	for _, tt := range tests {
		if got := tt.give.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.give, got, tt.want)
		}
	}

	errs := &Errors{tests[0].give, tests[1].give}
	if got, want := errs.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
	var p Problem
	if !errors.As(error(errs), &p) || p != tests[0].give {
		t.Errorf("errors.As(Errors, *Problem) = %+v", p)
	}
}

func TestLocate(t *testing.T) {
	var root yaml.Node
	src := "a:\n  b:\n    - x\n    - c: 1\n      d: 2\n"
	if err := yaml.Unmarshal([]byte(src), &root); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		give string
		want int
	}{
		{give: "a", want: 1},
		{give: "a.b", want: 2},
		{give: "a.b[0]", want: 3},
		{give: "a.b[1].d", want: 5},
		{give: "a.b[1].missing", want: 4}, // the mapping that lacks it
		{give: "a.b[5]", want: 2},
		{give: "a.b[0].c", want: 3},
		{give: "missing", want: 0},
	}
	for _, tt := range tests {
		if _, got := locate(&root, tt.give); got != tt.want {
			t.Errorf("locate(%q) line = %d, want %d", tt.give, got, tt.want)
		}
	}
}
