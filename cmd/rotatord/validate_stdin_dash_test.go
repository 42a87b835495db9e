package main

import (
	"strings"
	"testing"
)

// TestValidateDashIsNotTakenForAnEmptyName: `rotatord validate -` (the
// usual spelling of "read stdin") was told "the policy file's name is
// empty": the flag parser turns a lone "-" into an empty argument. The
// policy file is read only from a regular file, never from stdin or a
// pipe (see README, validate): the answer says so.
func TestValidateDashIsNotTakenForAnEmptyName(t *testing.T) {
	for _, args := range [][]string{
		{"validate", "-"},
		{"validate", "--file-only", "-"},
		{"validate", "--config.file", "-"},
		{"run", "--config.file", "-"},
	} {
		code, stdout, stderr := runCLI(args...)
		if code != 2 || strings.Contains(stderr, "empty") || !strings.Contains(stderr, "stdin") {
			t.Errorf("rotatord %q = %d, stdout %q, stderr %q; want a usage error (2) saying the policy file is not read from stdin",
				args, code, stdout, stderr)
		}
	}
}
