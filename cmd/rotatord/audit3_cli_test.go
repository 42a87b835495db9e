package main

import (
	"strings"
	"testing"
)

// README, Commands: "An argument no command takes is an error. Exit
// status: 0, 1 when something failed, 2 for a usage error." `rotatord
// help` with an unknown command or an extra argument exits 1, with
// kingpin's own "rotatord: error: ..." instead of the usage error every
// other command gives (2, "Try 'rotatord help ...'").
func TestAudit3HelpUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{"help", "nosuch"}, {"help", "run", "extra"}} {
		code, _, stderr := runCLI(args...)
		if code != 2 {
			t.Errorf("rotatord %s = %d, want 2 (a usage error); stderr %q", strings.Join(args, " "), code, strings.TrimSpace(stderr))
		}
	}
}
