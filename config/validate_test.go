package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// Issue 12: one run reports every problem it can know, each with its line:
// the decoding's (unknown fields, wrong types), the validation's, and with
// Host what depends on this machine (the credential, owners, directories).
func TestValidateReportsEverything(t *testing.T) {
	const file = "testdata/validate-everything.yml"
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	structural := []string{
		`:2: exoscale.api_key: not an Exoscale API key (want EXO followed by hex digits; got 13 characters)`,
		`:4: exoscale.timeout: invalid duration "30": a number needs a unit (30s, 30m, 30h or 30d)`,
		`:5: exoscale.concurency: unknown field "concurency" (did you mean "concurrency"?)`,
		`:6: exoscale.rate_limit: want a number, got "fast"`,
		`:12: policies[0].match.exclude: want a list, got "ci-legacy"`,
		`:13: policies[0].schedual: unknown field "schedual" (did you mean "schedule"?)`,
		`:14: policies[0].max_age: invalid duration "30days" (want e.g. 90m, 12h, 30d, 1w or 1d12h)`,
		`:15: policies[0].grace_period: want a duration such as 90m, 12h, 30d or 1w, got a sequence`,
		`:18: policies[0].sinks[0].path: unknown template field .Nmae (did you mean .Name?)`,
		`:19: policies[0].sinks[0].mode: invalid mode "rw" (want an octal string such as "0600")`,
		`:21: policies[0].sinks[0].permissions: unknown field "permissions" (known here: type, path, format, template, mode, owner, group, allow_world_readable, take_over, address, namespace, mount, auth, tls, ca_cert, tls_server_name, insecure_skip_verify, insecure_http, name, keys, key, labels, annotations, kubeconfig, context, restart)`,
		`:25: policies[1].schedule: "@every 0s" runs more often than the minimum, every 10s: each run lists every API key of the organization (ROTATORD_TEST_MIN_SCHEDULE lowers it, for tests only)`,
	}
	host := []string{
		`:3: exoscale.api_secret_file: open ABS/no-such-secret: no such file or directory`,
		`:20: policies[0].sinks[0].owner: no user "no-such-user-rotatord" on this host`,
		`:28: policies[1].sinks[0].path: directory ABS/no-such-dir does not exist`,
	}
	render := func(lines []string) string {
		var b strings.Builder
		for i, l := range lines {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(file + strings.ReplaceAll(l, "ABS", abs))
		}
		return b.String()
	}
	lineOf := func(s string) int {
		var n int
		for _, r := range strings.TrimPrefix(s, ":") {
			if r < '0' || r > '9' {
				break
			}
			n = n*10 + int(r-'0')
		}
		return n
	}
	all := append(append([]string(nil), structural...), host...)
	sortLines := func(ls []string) {
		for i := 1; i < len(ls); i++ {
			for j := i; j > 0 && lineOf(ls[j]) < lineOf(ls[j-1]); j-- {
				ls[j], ls[j-1] = ls[j-1], ls[j]
			}
		}
	}
	sortLines(all)

	cfg, warns, err := Validate(file, ValidateOptions{Host: true, Getenv: env(nil)})
	if cfg != nil {
		t.Error("Validate() returned a config with errors")
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Validate() error = %T %v, want *Errors", err, err)
	}
	if got, want := err.Error(), render(all); got != want {
		t.Errorf("Validate(Host) =\n%s\nwant\n%s", got, want)
	}
	for _, p := range *errs {
		if p.Line == 0 {
			t.Errorf("problem without a line: %v", p)
		}
	}

	// Load and Validate without Host report the same structural problems.
	_, err = Load(file)
	if err == nil || err.Error() != render(structural) {
		t.Errorf("Load() =\n%v\nwant\n%s", err, render(structural))
	}
	_, _, err = Validate(file, ValidateOptions{Getenv: env(nil)})
	if err == nil || err.Error() != render(structural) {
		t.Errorf("Validate() =\n%v\nwant\n%s", err, render(structural))
	}
}

func TestValidateMissingFile(t *testing.T) {
	_, _, err := Validate("testdata/no-such-file.yml", ValidateOptions{})
	var errs *Errors
	if !errors.As(err, &errs) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Validate() error = %T %v, want *Errors wrapping fs.ErrNotExist", err, err)
	}
	if want := "testdata/no-such-file.yml: cannot read the policy file: no such file or directory"; err.Error() != want {
		t.Errorf("Validate() error = %q, want %q", err, want)
	}
}

// writePolicy writes a policy file in a new directory, with a secret file
// beside it and an out/ directory for file sinks.
func writePolicy(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "rotatord.yml")
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

const hostPolicy = `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret_file: secret
state_dir: %STATE%
policies:
  - name: ci
    match:
      name: ci-*
    sinks:
      - type: file
        path: %PATH%
`

func hostDoc(stateDir, path string) string {
	return strings.NewReplacer("%STATE%", stateDir, "%PATH%", path).Replace(hostPolicy)
}

func TestValidateHost(t *testing.T) {
	tests := []struct {
		desc  string
		state string
		path  string
		env   map[string]string
		edit  func(doc string) string
		want  string // "" for valid; else the problems after "FILE"
	}{
		{desc: "valid", state: "state", path: "out/{{.Name}}.json"},
		// state.Open refuses it: world-writable and root's.
		{desc: "state_dir /tmp", state: "/tmp", path: "out/{{.Name}}.json",
			want: ":4: state_dir: state dir /tmp: mode 0777 lets others write; use 0700"},
		{desc: "missing sink directory", state: "state", path: "missing/{{.Name}}.json",
			want: ":11: policies[0].sinks[0].path: directory DIR/missing does not exist"},
		{desc: "credential from the environment", state: "state", path: "out/{{.Name}}.json",
			env: map[string]string{"EXOSCALE_API_KEY": "EXO0123", "EXOSCALE_API_SECRET": "x"},
			edit: func(doc string) string {
				return strings.Replace(strings.Replace(doc, "  api_key: EXO0123456789abcdef01234567\n", "", 1), "  api_secret_file: secret\n", "", 1)
			}},
		{desc: "credential missing", state: "state", path: "out/{{.Name}}.json",
			edit: func(doc string) string {
				return strings.Replace(strings.Replace(doc, "  api_key: EXO0123456789abcdef01234567\n", "", 1), "  api_secret_file: secret\n", "", 1)
			},
			want: ":1: exoscale: no API key: set api_key, api_key_file or EXOSCALE_API_KEY\n" +
				"FILE:1: exoscale: no API secret: set api_secret, api_secret_file or EXOSCALE_API_SECRET"},
		{desc: "bad key in the environment", state: "state", path: "out/{{.Name}}.json",
			env: map[string]string{"EXOSCALE_API_KEY": "not-a-key"},
			edit: func(doc string) string {
				return strings.Replace(doc, "  api_key: EXO0123456789abcdef01234567\n", "", 1)
			},
			want: ":1: exoscale: EXOSCALE_API_KEY: not an Exoscale API key (want EXO followed by hex digits; got 9 characters)"},
		{desc: "unknown group", state: "state", path: "out/{{.Name}}.json",
			edit: func(doc string) string { return doc + "        group: no-such-group-rotatord\n" },
			want: ":12: policies[0].sinks[0].group: no group \"no-such-group-rotatord\" on this host"},
		{desc: "vault without address", state: "state", path: "out/{{.Name}}.json",
			edit: func(doc string) string {
				return doc + "      - type: vault\n        path: exoscale/{{.Name}}\n        auth:\n          token_file: no-such-token\n"
			},
			want: ":12: policies[0].sinks[1]: no address: set address or VAULT_ADDR\nFILE:15: policies[0].sinks[1].auth.token_file: open DIR/no-such-token: no such file or directory"},
		{desc: "vault token from the environment, no VAULT_ADDR", state: "state", path: "out/{{.Name}}.json",
			env: map[string]string{"VAULT_TOKEN": "t"},
			edit: func(doc string) string {
				return doc + "      - type: vault\n        path: exoscale/{{.Name}}\n"
			},
			want: ":12: policies[0].sinks[1]: no address: set address or VAULT_ADDR"},
		{desc: "vault from the environment", state: "state", path: "out/{{.Name}}.json",
			env: map[string]string{"VAULT_TOKEN": "t", "VAULT_ADDR": "http://127.0.0.1:8200"},
			edit: func(doc string) string {
				return doc + "      - type: vault\n        path: exoscale/{{.Name}}\n"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			doc := hostDoc(tt.state, tt.path)
			if tt.edit != nil {
				doc = tt.edit(doc)
			}
			file := writePolicy(t, doc)
			// Without Host, the file is valid: what is wrong is on the host.
			if _, _, err := Validate(file, ValidateOptions{Getenv: env(tt.env)}); err != nil {
				t.Fatalf("Validate() without Host: %v", err)
			}
			cfg, _, err := Validate(file, ValidateOptions{Host: true, Getenv: env(tt.env)})
			if tt.want == "" {
				if err != nil || cfg == nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			want := file + strings.NewReplacer("FILE", file, "DIR", filepath.Dir(file)).Replace(tt.want)
			if err == nil || err.Error() != want {
				t.Errorf("Validate() error =\n%v\nwant\n%s", err, want)
			}
		})
	}
}

// CheckStateDir must accept exactly what state.Open accepts.
func TestCheckStateDirAgreesWithState(t *testing.T) {
	tests := []struct {
		desc  string
		setup func(t *testing.T, dir string) string // returns the state dir
	}{
		{desc: "missing, parent writable", setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "a", "b") }},
		{desc: "existing 0700", setup: func(t *testing.T, dir string) string {
			d := filepath.Join(dir, "s")
			must(t, os.Mkdir(d, 0o700))
			return d
		}},
		{desc: "existing 0770", setup: func(t *testing.T, dir string) string {
			d := filepath.Join(dir, "s")
			must(t, os.Mkdir(d, 0o700))
			must(t, os.Chmod(d, 0o770))
			return d
		}},
		{desc: "existing 0755", setup: func(t *testing.T, dir string) string {
			d := filepath.Join(dir, "s")
			must(t, os.Mkdir(d, 0o755))
			return d
		}},
		{desc: "records 0777", setup: func(t *testing.T, dir string) string {
			d := filepath.Join(dir, "s")
			must(t, os.MkdirAll(filepath.Join(d, "records"), 0o700))
			must(t, os.Chmod(filepath.Join(d, "records"), 0o777))
			return d
		}},
		{desc: "parent writable by all, not sticky", setup: func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "p")
			must(t, os.Mkdir(p, 0o700))
			must(t, os.Chmod(p, 0o777))
			return filepath.Join(p, "s")
		}},
		{desc: "a file", setup: func(t *testing.T, dir string) string {
			d := filepath.Join(dir, "s")
			must(t, os.WriteFile(d, nil, 0o600))
			return d
		}},
		{desc: "under a file", setup: func(t *testing.T, dir string) string {
			must(t, os.WriteFile(filepath.Join(dir, "f"), nil, 0o600))
			return filepath.Join(dir, "f", "s")
		}},
		{desc: "corrupt record", setup: func(t *testing.T, dir string) string {
			d := filepath.Join(dir, "s")
			must(t, os.MkdirAll(filepath.Join(d, "records"), 0o700))
			must(t, os.WriteFile(filepath.Join(d, "records", "x.json"), []byte("{"), 0o600))
			return d
		}},
	}
	if os.Geteuid() == 0 {
		// A symlink another user planted on the path (only root can
		// give one to another user): refused, whether the directory it
		// leads to has a state already or not.
		stranger := func(t *testing.T, dir, make string) string {
			target := filepath.Join(dir, "target")
			must(t, os.Mkdir(target, 0o700))
			if make != "" {
				must(t, os.Mkdir(filepath.Join(target, make), 0o700))
			}
			link := filepath.Join(dir, "theirs")
			must(t, os.Symlink(target, link))
			must(t, os.Lchown(link, 4242, 4242))
			return filepath.Join(link, "s")
		}
		tests = append(tests, []struct {
			desc  string
			setup func(t *testing.T, dir string) string
		}{
			{desc: "through a stranger's symlink, missing", setup: func(t *testing.T, dir string) string { return stranger(t, dir, "") }},
			{desc: "through a stranger's symlink, existing 0700", setup: func(t *testing.T, dir string) string { return stranger(t, dir, "s") }},
		}...)
	}
	if os.Geteuid() != 0 {
		tests = append(tests, struct {
			desc  string
			setup func(t *testing.T, dir string) string
		}{desc: "missing, parent read-only", setup: func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "ro")
			must(t, os.Mkdir(p, 0o500))
			t.Cleanup(func() { os.Chmod(p, 0o700) })
			return filepath.Join(p, "s")
		}})
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			d := tt.setup(t, t.TempDir())
			checkErr := CheckStateDir(d)
			st, openErr := state.Open(d)
			if openErr == nil {
				st.Close()
			}
			if (checkErr == nil) != (openErr == nil) {
				t.Fatalf("CheckStateDir() = %v, state.Open() = %v", checkErr, openErr)
			}
			if checkErr != nil && strings.Contains(openErr.Error(), "lets others write") && checkErr.Error() != openErr.Error() {
				t.Errorf("CheckStateDir() = %v, state.Open() = %v: want the same words", checkErr, openErr)
			}
		})
	}
	// Not run against state.Open, which would create /tmp/records.
	if err := CheckStateDir("/tmp"); err == nil {
		t.Error("CheckStateDir(/tmp) = nil")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestScheduleMinimum(t *testing.T) {
	tests := []struct {
		give    string
		env     string
		wantErr bool
	}{
		{give: "@every 0s", wantErr: true},
		{give: "@every 500ms", wantErr: true},
		{give: "@every 1s", wantErr: true},
		{give: "@every 9s", wantErr: true},
		{give: "@every -1m", wantErr: true},
		{give: "CRON_TZ=Europe/Zurich @every 1s", wantErr: true},
		{give: "@every 10s"},
		{give: "@every 1m"},
		{give: "* * * * *"},
		{give: "@hourly"},
		// The escape for tests lowers the minimum, never raises it.
		{give: "@every 1s", env: "1s"},
		{give: "@every 500ms", env: "1s", wantErr: true},
		{give: "@every 0s", env: "0"},
		{give: "@every 1m", env: "1h"},
		{give: "@every 1s", env: "soon", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.give+" "+tt.env, func(t *testing.T) {
			file := writePolicy(t, "policies:\n  - name: p\n    match:\n      name: ci-*\n    schedule: \""+tt.give+"\"\n    max_age: 1y\n    sinks:\n      - type: file\n        path: /x/{{.Name}}\n")
			_, _, err := Validate(file, ValidateOptions{Getenv: env(map[string]string{EnvTestMinSchedule: tt.env})})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), ":5: policies[0].schedule: ") {
				t.Errorf("error %v is not on the schedule's line", err)
			}
			// Load reads the process's environment.
			t.Setenv(EnvTestMinSchedule, tt.env)
			if _, err := Load(file); (err != nil) != tt.wantErr {
				t.Errorf("Load() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestScheduleMaxAgeWarning(t *testing.T) {
	tests := []struct {
		schedule, maxAge string
		want             string // the warning, "" for none
	}{
		{schedule: "0 3 * * *", maxAge: "10m", want: `"0 3 * * *" leaves up to 1d between runs, more than max_age 10m: a key can get that much older than max_age before a run rotates it (run the policy at least every 10m)`},
		{schedule: "@every 1h", maxAge: "30m", want: `"@every 1h" leaves up to 1h between runs, more than max_age 30m: a key can get that much older than max_age before a run rotates it (run the policy at least every 30m)`},
		{schedule: "@daily", maxAge: "1d"},
		{schedule: "@every 30m", maxAge: "1h"},
		{schedule: "*/5 * * * *", maxAge: "10m"},
		{schedule: "* * * * *", maxAge: "90s"},
		// Dense for an hour a day, then nothing for 23 hours.
		{schedule: "* 3 * * *", maxAge: "2h", want: `"* 3 * * *" leaves up to 23h1m between runs, more than max_age 2h: a key can get that much older than max_age before a run rotates it (run the policy at least every 2h)`},
		// Weekdays only: the weekend is the gap.
		{schedule: "0 9 * * 1-5", maxAge: "2d", want: `"0 9 * * 1-5" leaves up to 3d between runs, more than max_age 2d: a key can get that much older than max_age before a run rotates it (run the policy at least every 2d)`},
		{schedule: "0 9 * * 1-5", maxAge: "3d"},
		{schedule: "0 0 1 1 *", maxAge: "30d", want: `"0 0 1 1 *" leaves up to 1y between runs, more than max_age 30d: a key can get that much older than max_age before a run rotates it (run the policy at least every 30d)`},
	}
	for _, tt := range tests {
		t.Run(tt.schedule+" "+tt.maxAge, func(t *testing.T) {
			file := writePolicy(t, "policies:\n  - name: p\n    match:\n      name: ci-*\n    schedule: \""+tt.schedule+"\"\n    max_age: "+tt.maxAge+"\n    sinks:\n      - type: file\n        path: /x/{{.Name}}\n")
			cfg, warns, err := Validate(file, ValidateOptions{Getenv: env(nil)})
			if err != nil || cfg == nil {
				t.Fatalf("Validate() = %v: a warning must not stop run", err)
			}
			if tt.want == "" {
				if len(warns) != 0 {
					t.Errorf("warnings = %v, want none", warns)
				}
				return
			}
			if len(warns) != 1 || warns[0].Error() != file+":5: policies[0].schedule: "+tt.want {
				t.Errorf("warnings = %v\nwant %s:5: policies[0].schedule: %s", warns, file, tt.want)
			}
		})
	}
}

func TestScheduleNeverRuns(t *testing.T) {
	doc := "policies:\n  - name: p\n    match:\n      name: ci-*\n    schedule: \"0 0 30 2 *\"\n    sinks:\n      - type: file\n        path: /x/{{.Name}}\n"
	_, err := Parse([]byte(doc), "p.yml", "/")
	if want := `p.yml:5: policies[0].schedule: "0 0 30 2 *" never runs`; err == nil || err.Error() != want {
		t.Errorf("Parse() = %v, want %s", err, want)
	}
}

func TestMessagesInTheFilesTerms(t *testing.T) {
	base := "policies:\n  - name: p\n    match:\n      name: ci-*\n"
	sink := "    sinks:\n      - type: file\n        path: /x/{{.Name}}\n"
	tests := []struct {
		desc, doc, want string
	}{
		{desc: "misspelt field", doc: base + "    schedual: \"@every 1h\"\n" + sink,
			want: `p.yml:5: policies[0].schedual: unknown field "schedual" (did you mean "schedule"?)`},
		{desc: "dash for underscore", doc: base + "    max-age: 1d\n" + sink,
			want: `p.yml:5: policies[0].max-age: unknown field "max-age" (did you mean "max_age"?)`},
		{desc: "path template field", doc: base + "    sinks:\n      - type: file\n        path: /x/{{.Nmae}}\n",
			want: `p.yml:7: policies[0].sinks[0].path: unknown template field .Nmae (did you mean .Name?)`},
		{desc: "content template field", doc: base + sink + "        format: template\n        template: \"{{.APIkey}}\"\n",
			want: `p.yml:9: policies[0].sinks[0].template: unknown template field .APIkey (did you mean .APIKey?)`},
		{desc: "content template unknown field", doc: base + sink + "        format: template\n        template: \"{{.Password}}\"\n",
			want: `p.yml:9: policies[0].sinks[0].template: unknown template field .Password (a content template sees .Name, .APIKey, .APISecret, .RoleID, .CreatedAt)`},
		// Go's own words for the data (config.PathData, struct { ... })
		// and its value printed whole (the sample secret) were shown.
		{desc: "path template on the whole data", doc: base + "    sinks:\n      - type: file\n        path: /x/{{.Name}}{{len .}}\n",
			want: `p.yml:7: policies[0].sinks[0].path: template: path:1:14: executing "path" at <len .>: error calling len: len of type the template's data (.Name)`},
		{desc: "range over a path's data", doc: base + "    sinks:\n      - type: file\n        path: /x/{{.Name}}{{range .}}{{end}}\n",
			want: `p.yml:7: policies[0].sinks[0].path: template: path:1:20: executing "path" at <.>: range can't iterate over the template's data (.Name)`},
		{desc: "content template on the whole data", doc: base + sink + "        format: template\n        template: \"{{index . 0}}\"\n",
			want: `p.yml:9: policies[0].sinks[0].template: template: template:1:2: executing "template" at <index . 0>: error calling index: can't index item of type the template's data (.Name, .APIKey, .APISecret, .RoleID, .CreatedAt)`},
		{desc: "range over a content's data", doc: base + sink + "        format: template\n        template: \"{{range .}}{{end}}\"\n",
			want: `p.yml:9: policies[0].sinks[0].template: template: template:1:8: executing "template" at <.>: range can't iterate over the template's data (.Name, .APIKey, .APISecret, .RoleID, .CreatedAt)`},
		{desc: "negative duration as written", doc: base + "    grace_period: -1h\n" + sink,
			want: `p.yml:5: policies[0].grace_period: must not be negative, got -1h`},
		{desc: "a mapping where a list goes", doc: "policies:\n  name: p\n",
			want: `p.yml:2: policies.name: want a list, got a mapping`},
		{desc: "a long value whole", doc: "exoscale:\n  concurrency: a-rather-long-value\n" + base + sink,
			want: `p.yml:2: exoscale.concurrency: want an integer, got "a-rather-long-value"`},
		{desc: "owner must read", doc: base + sink + "        mode: \"0040\"\n",
			want: `p.yml:8: policies[0].sinks[0].mode: 0040 does not let the file's owner read it: rotatord reads every file back after writing it`},
		{desc: "vault auth field of another method", doc: base + "    sinks:\n      - type: vault\n        path: x/{{.Name}}\n        auth:\n          role: r\n",
			want: `p.yml:9: policies[0].sinks[0].auth.role: not used by method token`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), "p.yml", "/")
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse() error =\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
}

func TestPrometheusDurationsInTheFile(t *testing.T) {
	for give, want := range map[string]time.Duration{
		"1w":      7 * 24 * time.Hour,
		"1y":      365 * 24 * time.Hour,
		"1d12h":   36 * time.Hour,
		"2w":      14 * 24 * time.Hour,
		"1h30m":   90 * time.Minute,
		"30d":     30 * 24 * time.Hour,
		"36h0m0s": 36 * time.Hour,
	} {
		if got := parseOne(t, "    max_age: "+give+"\n").MaxAge.Duration(); got != want {
			t.Errorf("max_age %s = %s, want %s", give, got, want)
		}
	}
}

func TestEveryTakesTheFilesDurations(t *testing.T) {
	for _, give := range []string{"@every 1d", "@every 1w", "@every 1h30m"} {
		if _, err := parseSchedule(give); err != nil {
			t.Errorf("%s: %v", give, err)
		}
	}
	if _, err := parseSchedule("@every -1h"); err == nil {
		t.Error("@every -1h accepted")
	}
}
