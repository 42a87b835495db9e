package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// "rotatord state --config.file F export" answered "unknown long flag
// '--config.file'" (exit 2), though the README says a command's flags may
// stand before it and "rotatord --config.file F state export" works: a
// flag written between state and its subcommand was left for kingpin,
// which knows export's flags only after "export".
func TestFlagsBetweenStateAndItsSubcommandAreTheSubcommands(t *testing.T) {
	app := newCLI(io.Discard, io.Discard).app
	tests := []struct {
		give, want []string
	}{
		{[]string{"state", "--config.file", "f", "export"}, []string{"state", "export", "--config.file", "f"}},
		{[]string{"--log.level", "debug", "state", "--config.file=f", "import"},
			[]string{"state", "import", "--log.level", "debug", "--config.file=f"}},
		// Left for kingpin: no subcommand, an unknown flag, an
		// application flag.
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

func TestStateExportWithTheConfigFileBeforeExport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yml")
	if err := os.WriteFile(path, []byte("nosuchfield: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI("state", "--config.file", path, "export")
	if code != 1 || !strings.Contains(stderr, "nosuchfield") {
		t.Errorf("rotatord state --config.file %s export = %d, stderr %q; want 1 and the file's problem", path, code, stderr)
	}
}
