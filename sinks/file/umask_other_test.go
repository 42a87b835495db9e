//go:build !unix

package file

func setUmask(int) int { return 0 }
