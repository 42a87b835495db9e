package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// "rotatord --config.file F once" answered "unknown long flag
// '--config.file'" (exit 2) for a flag every command but version has:
// the flags are each command's, and kingpin saw them before it knew the
// command. The Prometheus tools an operator runs take flags wherever they
// stand.
func TestFlagsBeforeTheCommandAreTheCommands(t *testing.T) {
	app := newCLI(io.Discard, io.Discard).app
	tests := []struct {
		give, want []string
	}{
		{[]string{"--config.file", "f", "once"}, []string{"once", "--config.file", "f"}},
		{[]string{"--config.file=f", "--log.level", "debug", "run", "--web.enable-lifecycle"},
			[]string{"run", "--config.file=f", "--log.level", "debug", "--web.enable-lifecycle"}},
		{[]string{"--force", "-o", "json", "once", "--policy", "p"}, []string{"once", "--force", "-o", "json", "--policy", "p"}},
		{[]string{"-ojson", "--no-force", "once"}, []string{"once", "-ojson", "--no-force"}},
		{[]string{"--config", "f", "state", "export"}, []string{"state", "export", "--config", "f"}},
		// Flags between state and its subcommand are the subcommand's
		// ("rotatord state --config.file F export" was a usage error).
		{[]string{"state", "--config.file", "f", "export"}, []string{"state", "export", "--config.file", "f"}},
		{[]string{"--log.level", "debug", "state", "--config.file=f", "import"},
			[]string{"state", "import", "--log.level", "debug", "--config.file=f"}},
		// A flag's value that is a command's name is still its value.
		{[]string{"--config.file", "run", "validate"}, []string{"validate", "--config.file", "run"}},
		// Left for kingpin: nothing to move, an application flag, an
		// unknown flag, no command, a command without its subcommand,
		// help, "--".
		{[]string{"once", "--force"}, []string{"once", "--force"}},
		{[]string{"--version", "once"}, []string{"--version", "once"}},
		{[]string{"--help", "once"}, []string{"--help", "once"}},
		{[]string{"-h", "once"}, []string{"-h", "once"}},
		{[]string{"--nosuch", "once"}, []string{"--nosuch", "once"}},
		{[]string{"--config.file", "f"}, []string{"--config.file", "f"}},
		{[]string{"--config.file"}, []string{"--config.file"}},
		{[]string{"--config.file", "f", "state"}, []string{"--config.file", "f", "state"}},
		{[]string{"--config.file", "f", "help", "once"}, []string{"--config.file", "f", "help", "once"}},
		{[]string{"--config.file", "f", "--", "once"}, []string{"--config.file", "f", "--", "once"}},
		{[]string{"state", "--config.file", "f"}, []string{"state", "--config.file", "f"}},
		{[]string{"state", "--nosuch", "export"}, []string{"state", "--nosuch", "export"}},
		{[]string{"state", "--help", "export"}, []string{"state", "--help", "export"}},
		{[]string{"state", "--config.file", "f", "nosuch"}, []string{"state", "--config.file", "f", "nosuch"}},
	}
	for _, tt := range tests {
		if got := flagsAfterCommand(app, slices.Clone(tt.give)); !slices.Equal(got, tt.want) {
			t.Errorf("flagsAfterCommand(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestConfigFileBeforeValidateIsTheFileChecked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yml")
	if err := os.WriteFile(path, []byte("nosuchfield: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI("--config.file", path, "--log.format", "logfmt", "validate", "--file-only")
	if code != 1 || !strings.Contains(stderr, path+":1: nosuchfield") {
		t.Errorf("rotatord --config.file %s validate = %d, stderr %q; want 1 and the file's problems", path, code, stderr)
	}
	code, _, stderr = runCLI("state", "--config.file", path, "export")
	if code != 1 || !strings.Contains(stderr, "nosuchfield") {
		t.Errorf("rotatord state --config.file %s export = %d, stderr %q; want 1 and the file's problem", path, code, stderr)
	}
	code, _, stderr = runCLI("--force", "run")
	if code != 2 || !strings.Contains(stderr, "'--force'") || !strings.Contains(stderr, "Try 'rotatord help run'") {
		t.Errorf("rotatord --force run = %d, stderr %q; want a usage error naming the flag and the command", code, stderr)
	}
}
