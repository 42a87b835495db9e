//go:build unix

package file

import "syscall"

func setUmask(mask int) int { return syscall.Umask(mask) }
