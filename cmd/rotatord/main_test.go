package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsageAndVersion(t *testing.T) {
	tests := []struct {
		give     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{nil, 2, "", "Usage:"},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"version"}, 0, "rotatord ", ""},
		{[]string{"help"}, 0, "rotatord once", ""},
		{[]string{"run", "--log-format", "xml", "--config", "/nonexistent"}, 1, "", ""},
		{[]string{"validate", "--config", "/nonexistent/rotatord.yml"}, 1, "", "/nonexistent/rotatord.yml"},
		{[]string{"once", "--no-such-flag"}, 1, "", "flag provided but not defined"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(tt.give, &stdout, &stderr)
		if code != tt.wantCode {
			t.Errorf("run(%q) = %d, want %d (stderr %q)", tt.give, code, tt.wantCode, stderr.String())
		}
		if !strings.Contains(stdout.String(), tt.wantOut) {
			t.Errorf("run(%q) stdout = %q, want %q", tt.give, stdout.String(), tt.wantOut)
		}
		if !strings.Contains(stderr.String(), tt.wantErr) {
			t.Errorf("run(%q) stderr = %q, want %q", tt.give, stderr.String(), tt.wantErr)
		}
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	os.WriteFile(good, []byte(`exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret: not-checked-here
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks:
      - type: file
        path: "`+dir+`/{{.Name}}.json"
`), 0o600)
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("policies:\n  - name: ci\n    colour: blue\n"), 0o600)

	var stdout, stderr bytes.Buffer
	if code := run([]string{"validate", "--config", good}, &stdout, &stderr); code != 0 {
		t.Fatalf("validate good file = %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "valid (1 policies)") {
		t.Errorf("stdout = %q", stdout.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"validate", "--config", bad}, &stdout, &stderr); code != 1 {
		t.Fatalf("validate bad file = %d", code)
	}
	if !strings.Contains(stderr.String(), bad+":3:") || !strings.Contains(stderr.String(), "colour") {
		t.Errorf("stderr = %q, want the file:line and the field", stderr.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), "not-checked-here") {
		t.Error("validate printed the secret")
	}
}
