package config

import (
	"io/fs"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		give    string
		want    time.Duration
		wantErr string
	}{
		{give: "0", want: 0},
		{give: "0d", want: 0},
		{give: "90m", want: 90 * time.Minute},
		{give: "1h30m", want: 90 * time.Minute},
		{give: "30d", want: 30 * 24 * time.Hour},
		{give: "1d12h", want: 36 * time.Hour},
		{give: "1d1.5h", want: 24*time.Hour + 90*time.Minute},
		{give: "-1h", want: -time.Hour},
		{give: "-1d12h", want: -36 * time.Hour},
		{give: "+2d", want: 48 * time.Hour},
		{give: "106751d", want: 106751 * 24 * time.Hour},
		// Prometheus's syntax (github.com/prometheus/common/model).
		{give: "1w", want: 7 * 24 * time.Hour},
		{give: "1y", want: 365 * 24 * time.Hour},
		{give: "2w3d", want: 17 * 24 * time.Hour},
		{give: "1y2w1d12h30m15s500ms", want: (365+14+1)*24*time.Hour + 12*time.Hour + 30*time.Minute + 15*time.Second + 500*time.Millisecond},
		{give: "-1w", want: -7 * 24 * time.Hour},
		// Go's, which Prometheus's lacks.
		{give: "1.5h", want: 90 * time.Minute},
		{give: "300ms", want: 300 * time.Millisecond},
		{give: "1h0m0s", want: time.Hour}, // what Marshal writes
		{give: "2us", want: 2 * time.Microsecond},
		{give: "", wantErr: `invalid duration "" (want e.g. 90m, 12h, 30d, 1w or 1d12h)`},
		{give: "d", wantErr: `invalid duration "d" (want e.g. 90m, 12h, 30d, 1w or 1d12h)`},
		{give: "30", wantErr: `invalid duration "30": a number needs a unit (30s, 30m, 30h or 30d)`},
		{give: "30days", wantErr: `invalid duration "30days" (want e.g. 90m, 12h, 30d, 1w or 1d12h)`},
		{give: "1.5d", wantErr: `invalid duration "1.5d" (want e.g. 90m, 12h, 30d, 1w or 1d12h)`},
		{give: "12h1d", wantErr: `invalid duration "12h1d" (want e.g. 90m, 12h, 30d, 1w or 1d12h)`},
		{give: "1d-2h", wantErr: `invalid duration "1d-2h" (want e.g. 90m, 12h, 30d, 1w or 1d12h)`},
		{give: "--1h", wantErr: `invalid duration "--1h" (want e.g. 90m, 12h, 30d, 1w or 1d12h)`},
		{give: "-", wantErr: `invalid duration "-" (want e.g. 90m, 12h, 30d, 1w or 1d12h)`},
		{give: "1w1y", wantErr: `invalid duration "1w1y" (want e.g. 90m, 12h, 30d, 1w or 1d12h)`},
		{give: "1.5w", wantErr: `invalid duration "1.5w" (want e.g. 90m, 12h, 30d, 1w or 1d12h)`},
		{give: "293y", wantErr: `duration "293y": too long`},
		{give: "106752d", wantErr: `duration "106752d": too long`},
		{give: "106751d24h", wantErr: `duration "106751d24h": too long`},
		{give: "99999999999999999999d", wantErr: `duration "99999999999999999999d": too long`},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := ParseDuration(tt.give)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseDuration() = %s, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Duration() != tt.want {
				t.Fatalf("ParseDuration() = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestDurationYAML(t *testing.T) {
	var v struct {
		D Duration `yaml:"d"`
	}
	if err := yaml.Unmarshal([]byte("d: 1d12h\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.D.Duration() != 36*time.Hour {
		t.Fatalf("D = %s, want 36h", v.D)
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "d: 36h0m0s\n"; got != want {
		t.Errorf("Marshal() = %q, want %q", got, want)
	}

	err = yaml.Unmarshal([]byte("d: [1h]\n"), &v)
	if want := "yaml: unmarshal errors:\n  line 1: want a duration such as 90m, 12h, 30d or 1w, got a sequence"; err == nil || err.Error() != want {
		t.Errorf("Unmarshal(sequence) error = %v, want %q", err, want)
	}
}

func TestParseFileMode(t *testing.T) {
	tests := []struct {
		give    string
		want    fs.FileMode
		wantErr bool
	}{
		{give: "0600", want: 0o600},
		{give: "600", want: 0o600},
		{give: "0o600", want: 0o600},
		{give: "0O640", want: 0o640},
		{give: "0", want: 0},
		{give: "4755", want: 0o4755}, // parses; validation rejects it
		{give: "", wantErr: true},
		{give: "0o", wantErr: true},
		{give: "0x180", wantErr: true},
		{give: "384", wantErr: true}, // decimal 0600 has an 8
		{give: "-600", wantErr: true},
		{give: "rw-------", wantErr: true},
		{give: "777777777777", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := ParseFileMode(tt.give)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseFileMode() = %s, want error", got)
				}
				return
			}
			if err != nil || got.Perm() != tt.want {
				t.Fatalf("ParseFileMode() = %s, %v; want %s", got, err, FileMode(tt.want))
			}
		})
	}
}

func TestFileModeYAML(t *testing.T) {
	tests := []struct {
		give string
		want FileMode
	}{
		// Unquoted, YAML 1.1 readers see 0600 as octal and 600 as decimal;
		// FileMode takes the digits as octal in every spelling.
		{give: "m: 0600\n", want: 0o600},
		{give: "m: 600\n", want: 0o600},
		{give: "m: \"0640\"\n", want: 0o640},
		{give: "m: 0o440\n", want: 0o440},
	}
	for _, tt := range tests {
		var v struct {
			M FileMode `yaml:"m"`
		}
		if err := yaml.Unmarshal([]byte(tt.give), &v); err != nil {
			t.Fatalf("Unmarshal(%q): %v", tt.give, err)
		}
		if v.M != tt.want {
			t.Errorf("Unmarshal(%q) = %s, want %s", tt.give, v.M, tt.want)
		}
		out, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if want := "m: \"" + tt.want.String() + "\"\n"; string(out) != want {
			t.Errorf("Marshal() = %q, want %q", out, want)
		}
	}
	if got := FileMode(0o4755).String(); got != "04755" {
		t.Errorf("String() = %q, want 04755", got)
	}
}

func TestRenderPathTooLong(t *testing.T) {
	doc := "policies:\n  - name: ci\n    match:\n      name: ci-*\n    sinks:\n      - type: file\n" +
		"        path: /x/{{.Name}}" + strings.Repeat("{{.Name}}", 400) + "\n"
	_, err := Parse([]byte(doc), "p.yml", "/")
	if want := "p.yml:7: policies[0].sinks[0].path: renders to more than 4096 bytes"; err == nil || err.Error() != want {
		t.Fatalf("Parse() error = %v, want %q", err, want)
	}
}
