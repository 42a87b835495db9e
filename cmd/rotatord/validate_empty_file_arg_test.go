package main

import (
	"strings"
	"testing"
)

// TestValidateEmptyFileArgument: `rotatord validate "$FILE"` with FILE
// unset or empty checked the default /etc/rotatord/rotatord.yml instead,
// so a CI step whose variable went missing passed on the installed file
// (the very stumble issue 12 opens with). An empty file name, as the
// argument or as --config.file, is a usage error.
func TestValidateEmptyFileArgument(t *testing.T) {
	for _, args := range [][]string{
		{"validate", ""},
		{"validate", "--config.file", ""},
		{"validate", "--file-only", ""},
	} {
		code, stdout, stderr := runCLI(args...)
		if code != 2 || strings.Contains(stdout+stderr, defaultConfigFile) || !strings.Contains(stderr, "empty") {
			t.Errorf("rotatord %q = %d, stdout %q, stderr %q; want a usage error (2) about the empty name, not a check of %s",
				args, code, stdout, stderr, defaultConfigFile)
		}
	}
}
