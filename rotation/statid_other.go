//go:build !unix

package rotation

// statIdentity tells no identity elsewhere: targets compare as text.
func statIdentity(string) string { return "" }
