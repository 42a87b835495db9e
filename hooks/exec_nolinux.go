//go:build !linux

package hooks

import "syscall"

// dieWithParent: no parent-death signal outside Linux.
func dieWithParent(*syscall.SysProcAttr) {}

func lockThread() (unlock func()) { return func() {} }

// readOnlyMount: not told outside Linux; modes are taken as they are.
func readOnlyMount(string) bool { return false }
