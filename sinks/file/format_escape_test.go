package file

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

func TestTemplateFuncs(t *testing.T) {
	tests := []struct {
		fn, give, want string
		wantErr        bool
	}{
		{fn: "shquote", give: "ci-runner", want: `'ci-runner'`},
		{fn: "shquote", give: "", want: `''`},
		{fn: "shquote", give: "it's", want: `'it'\''s'`},
		{fn: "shquote", give: "''", want: `''\'''\'''`},
		{fn: "shquote", give: "a\nb $x `y` \\", want: "'a\nb $x `y` \\'"},
		{fn: "shquote", give: "nul\x00", wantErr: true},
		{fn: "json", give: "ci-runner", want: `"ci-runner"`},
		{fn: "json", give: "", want: `""`},
		{fn: "json", give: "a\"b\\c<&>\n\x00\u2028é", want: `"a\"b\\c<&>\n\u0000\u2028é"`},
		{fn: "json", give: "bad\xff", wantErr: true},
		{fn: "toml", give: "ci-runner", want: `"ci-runner"`},
		{fn: "toml", give: "", want: `""`},
		{fn: "toml", give: "a\"b\\c\t\n\x00\x7fé", want: `"a\"b\\c\t\n\u0000\u007Fé"`},
		{fn: "toml", give: "bad\xff", wantErr: true},
	}
	funcs := TemplateFuncs()
	for _, tt := range tests {
		got, err := funcs[tt.fn].(func(string) (string, error))(tt.give)
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s(%q) = %s, want an error", tt.fn, tt.give, got)
			} else if strings.Contains(err.Error(), tt.give) {
				t.Errorf("%s(%q) error %q quotes the value", tt.fn, tt.give, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s(%q) = %s, %v; want %s", tt.fn, tt.give, got, err, tt.want)
		}
	}

	// Each call returns its own map.
	delete(funcs, "json")
	if _, ok := TemplateFuncs()["json"]; !ok {
		t.Error("TemplateFuncs returns a shared map")
	}
	// The functions work in a template, as a call and in a pipeline.
	tmpl, err := ParseTemplate("t", `{{shquote .Name}} {{.Name | json}} {{toml .Name}}`)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, templateData{Name: `a'"b`}); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), `'a'\''"b' "a'\"b" "a'\"b"`; got != want {
		t.Errorf("template output = %s, want %s", got, want)
	}
}

// A template error caused by shquote never carries the secret.
func TestShquoteErrorHidesSecret(t *testing.T) {
	tmpl := template.Must(ParseTemplate("t", "S={{shquote .APISecret}}\n"))
	sec := "very-secret-\x00-value"
	_, err := render(FormatTemplate, tmpl, sinks.Credential{Name: "ci", KeyID: "EXO1", Secret: secret.Value(sec)})
	if err == nil {
		t.Fatal("render with a NUL byte in the secret succeeded")
	}
	if strings.Contains(err.Error(), "very-secret") {
		t.Errorf("error contains the secret: %v", err)
	}
}

// TestShquoteTemplateRunsNothing: a key name written for a shell with
// shquote is data, whatever it holds. Each name tries to create a canary
// file when the rendered file is sourced by a real shell; with {{.Name}}
// unescaped (the control case) the first ones do.
func TestShquoteTemplateRunsNothing(t *testing.T) {
	names := []string{
		"ci-x;id>pwned",
		"ci-x;touch pwned",
		"ci-x&&touch pwned",
		"ci-x|touch pwned",
		"ci-$(touch pwned)",
		"ci-`touch pwned`",
		"ci-x'; touch pwned; '",
		"ci-x\ntouch pwned",
		"ci-x\\\ntouch pwned",
		"ci-${x:=$(touch pwned)}",
	}
	safe := template.Must(ParseTemplate("safe", "export KEY_NAME={{shquote .Name}}\n"))
	unsafe := template.Must(ParseTemplate("unsafe", "export KEY_NAME={{.Name}}\n"))
	for _, sh := range shellPaths(t) {
		for _, name := range names {
			got, files := sourceOnce(t, sh, safe, name)
			if len(files) != 0 {
				t.Errorf("%s: sourcing the file for %q created %q", sh, name, files)
			}
			if got != name {
				t.Errorf("%s: KEY_NAME = %q, want %q", sh, got, name)
			}
		}
		// The control case: without shquote, the canary appears.
		if _, files := sourceOnce(t, sh, unsafe, names[0]); !slices.Contains(files, "pwned") {
			t.Errorf("%s: the unescaped template did not create the canary (files %q): the test cannot see an injection", sh, files)
		}
	}
}

// sourceOnce renders tmpl for name into a fresh directory, sources it with
// sh as a consumer would, and returns $KEY_NAME and the files the sourcing
// created.
func sourceOnce(t *testing.T, sh string, tmpl *template.Template, name string) (string, []string) {
	t.Helper()
	out, err := render(FormatTemplate, tmpl, sinks.Credential{Name: name, KeyID: "EXO1", Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), out, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sh, "-c", `. ./file; printf "%s\0" "$KEY_NAME"`)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	stdout, _ := cmd.Output() // the unsafe case may fail
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if e.Name() != "file" {
			files = append(files, e.Name())
		}
	}
	return strings.TrimSuffix(string(stdout), "\x00"), files
}
