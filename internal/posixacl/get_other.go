//go:build !linux

package posixacl

// FGet returns nil: ACLs are read on Linux only, where rotatord runs.
func FGet(int) ([]Entry, error) { return nil, nil }

// LGet returns nil: ACLs are read on Linux only, where rotatord runs.
func LGet(string) ([]Entry, error) { return nil, nil }
