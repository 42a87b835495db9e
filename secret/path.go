package secret

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// ShownPath is path as an error may show it. A file name that looks like a
// secret (20 or more characters of base64, no dot) is left out: a secret
// pasted where its file's path belongs (api_secret_file: <secret>) would
// otherwise land in logs and error replies through "open <path>: no such
// file".
func ShownPath(path string) string {
	base := filepath.Base(path)
	if !looksLikeSecret(base) {
		return path
	}
	hidden := fmt.Sprintf("<a name of %d characters, not shown: it looks like a secret>", len(base))
	if dir := filepath.Dir(path); dir != "." || filepath.IsAbs(path) {
		return filepath.Join(dir, hidden)
	}
	return hidden
}

// PathError rewrites err, when it is an *fs.PathError, with its path as
// ShownPath shows it; other errors are returned as they are.
func PathError(err error) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return err
	}
	return &fs.PathError{Op: pe.Op, Path: ShownPath(pe.Path), Err: pe.Err}
}

// looksLikeSecret: 20 or more characters, all of the base64 alphabets
// (standard and URL-safe, with padding), after at most a short prefix and
// a dot as Vault's tokens have (hvs., s.). A file name people choose has a
// dot further on, a space or a short word; generated secrets have none.
func looksLikeSecret(s string) bool {
	if prefix, rest, ok := strings.Cut(s, "."); ok && len(prefix) <= 3 {
		s = rest
	}
	if len(s) < 20 {
		return false
	}
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case r == '-' || r == '_' || r == '+' || r == '=':
		default:
			return false
		}
	}
	return true
}
