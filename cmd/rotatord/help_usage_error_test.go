package main

import (
	"strings"
	"testing"
)

// README, Commands: "An argument no command takes is an error. Exit
// status: 0, 1 when something failed, 2 for a usage error." `rotatord
// help` with an unknown command or an extra argument exited 1, with
// kingpin's own "rotatord: error: ..." instead of the usage error every
// other command gives (2, "Try 'rotatord help ...'").
func TestHelpOnNoCommandIsAUsageError(t *testing.T) {
	for _, args := range [][]string{{"help", "nosuch"}, {"help", "run", "extra"}, {"help", "state", "nosuch"}} {
		code, _, stderr := runCLI(args...)
		if code != 2 || !strings.Contains(stderr, "Try 'rotatord help") {
			t.Errorf("rotatord %s = %d, stderr %q; want 2 (a usage error) and a hint", strings.Join(args, " "), code, strings.TrimSpace(stderr))
		}
	}
	for _, args := range [][]string{{"help"}, {"help", "run"}, {"help", "state", "export"}} {
		if code, _, stderr := runCLI(args...); code != 0 {
			t.Errorf("rotatord %s = %d, stderr %q; want 0", strings.Join(args, " "), code, strings.TrimSpace(stderr))
		}
	}
}
