package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigGivenInBothSpellingsNamingTwoFilesIsAUsageError: --config
// (the spelling before --config.file, kept for scripts) and --config.file
// naming two files ran whichever came last, silently: a unit that says
// `--config /etc/rotatord/a.yml` with a wrapper adding `--config.file
// b.yml` acted on b's policies. It is a usage error, as --config.file
// given twice is and as validate's two files are; the same file in both
// spellings is accepted.
func TestConfigGivenInBothSpellingsNamingTwoFilesIsAUsageError(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yml")
	for _, cmd := range []string{"run", "once", "plan", "validate"} {
		for _, args := range [][]string{
			{cmd, "--config", a, "--config.file", b},
			{cmd, "--config.file", b, "--config", a},
		} {
			code, stdout, stderr := runCLI(args...)
			if code != 2 || !strings.Contains(stderr, a) || !strings.Contains(stderr, b) || stdout != "" {
				t.Errorf("rotatord %q = %d, stdout %q, stderr %q; want a usage error (2) naming both files", args, code, stdout, stderr)
			}
		}
	}
	// One file, both spellings: no conflict (the file is absent: 1).
	code, _, stderr := runCLI("validate", "--config", a, "--config.file", filepath.Join(dir, ".", "a.yml"))
	if code != 1 || !strings.Contains(stderr, a) {
		t.Errorf("validate with one file in both spellings = %d, stderr %q; want 1 (cannot read %s)", code, stderr, a)
	}
	// The old spelling alone still works.
	code, _, stderr = runCLI("validate", "--config", a)
	if code != 1 || !strings.Contains(stderr, a) {
		t.Errorf("validate --config %s = %d, stderr %q; want 1 naming the file", a, code, stderr)
	}
}

// TestConfigFileEmptyBesideConfigSaysItIsEmpty: --config.file "$FILE"
// with FILE unset beside --config a.yml said "two policy files, a.yml
// (--config) and  (--config.file)", a blank where a name should be, or the
// empty-name error, depending on the order of the flags. It says that
// --config.file's name is empty, whatever the order. And validate's
// argument beside --config names --config, the flag given.
func TestConfigFileEmptyBesideConfigSaysItIsEmpty(t *testing.T) {
	a := filepath.Join(t.TempDir(), "a.yml")
	for _, args := range [][]string{
		{"once", "--config", a, "--config.file", ""},
		{"once", "--config.file", "", "--config", a},
		{"validate", "--config", a, "--config.file="},
	} {
		code, _, stderr := runCLI(args...)
		if code != 2 || !strings.Contains(stderr, "--config.file: the policy file's name is empty") {
			t.Errorf("rotatord %q = %d, stderr %q; want 2, saying --config.file's name is empty", args, code, stderr)
		}
	}
	b := filepath.Join(filepath.Dir(a), "b.yml")
	code, _, stderr := runCLI("validate", "--config", a, b)
	if code != 2 || !strings.Contains(stderr, a+" (--config)") || !strings.Contains(stderr, b) {
		t.Errorf("validate --config %s %s = %d, stderr %q; want 2, naming %s as --config's", a, b, code, stderr, a)
	}
}
