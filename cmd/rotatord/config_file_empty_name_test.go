package main

import (
	"strings"
	"testing"
)

// TestEmptyConfigFileNameIsAUsageError: `--config.file "$FILE"` with FILE
// unset is a usage error for validate, but run, once, plan and state
// export went on to "read config: open : no such file or directory" (exit
// 1, as a broken file), a message that names no flag.
func TestEmptyConfigFileNameIsAUsageError(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--config.file", ""},
		{"once", "--config.file="},
		{"plan", "--config.file", ""},
		{"state", "export", "--config.file", ""},
		{"plan", "--config", ""},
	} {
		code, _, stderr := runCLI(args...)
		if code != 2 || !strings.Contains(stderr, "config") || !strings.Contains(stderr, "empty") {
			t.Errorf("rotatord %q = %d, stderr %q; want a usage error (2) about the empty file name", args, code, stderr)
		}
	}
}

// TestValidateOneFileTwiceIsNotTwoFiles: validate refuses --config.file
// and FILE naming two files, but r.yml and ./r.yml are one.
func TestValidateOneFileTwiceIsNotTwoFiles(t *testing.T) {
	code, _, stderr := runCLI("validate", "--config.file", "/nonexistent/dir/r.yml", "/nonexistent/dir/./r.yml")
	if code == 2 || strings.Contains(stderr, "two policy files") {
		t.Errorf("one file spelt twice = %d, %s; want it checked", code, stderr)
	}
}
