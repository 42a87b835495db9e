//go:build !unix

package hooks

import (
	"os/exec"
	"time"
)

// killGroupOnCancel kills only the command itself where there are no
// process groups.
func killGroupOnCancel(*exec.Cmd) {}

func killGroup(int) {}

func reapGroup(int, time.Duration) {}
