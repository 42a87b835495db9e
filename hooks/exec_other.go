//go:build !unix

package hooks

import "os/exec"

// killGroupOnCancel kills only the command itself where there are no
// process groups.
func killGroupOnCancel(*exec.Cmd) {}
