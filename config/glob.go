package config

import (
	"path"
	"unicode/utf8"
)

// globMatch reports whether name matches pattern, a path.Match pattern
// read over key names, which are not paths: "*" and "?" match "/" too,
// so "ci-*" selects every name that starts with "ci-" (one with a "/" is
// then skipped as unsafe, and counted, rather than never seen). The
// syntax is path.Match's; a malformed pattern matches nothing. Linear
// backtracking (only the last "*" is retried), so a name from the API
// cannot make it slow.
func globMatch(pattern, name string) bool {
	if _, err := path.Match(pattern, ""); err != nil {
		return false
	}
	px, nx := 0, 0
	starPx, starNx := -1, 0
	for px < len(pattern) || nx < len(name) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starPx, starNx = px, nx
				px++
				continue
			case '?':
				if nx < len(name) {
					_, n := utf8.DecodeRuneInString(name[nx:])
					px, nx = px+1, nx+n
					continue
				}
			case '[':
				if nx < len(name) {
					r, n := utf8.DecodeRuneInString(name[nx:])
					if ok, w := matchClass(pattern[px:], r); ok {
						px, nx = px+w, nx+n
						continue
					}
				}
			default:
				lit := c
				w := 1
				if c == '\\' && px+1 < len(pattern) {
					lit, w = pattern[px+1], 2
				}
				if nx < len(name) && name[nx] == lit {
					px, nx = px+w, nx+1
					continue
				}
			}
		}
		// A mismatch: let the last "*" take one more character.
		if starPx >= 0 && starNx < len(name) {
			_, n := utf8.DecodeRuneInString(name[starNx:])
			starNx += n
			px, nx = starPx+1, starNx
			continue
		}
		return false
	}
	return true
}

// matchClass matches r against the character class that pattern starts
// with ("[...]", well-formed), and returns the class's length.
func matchClass(pattern string, r rune) (bool, int) {
	i := 1
	negated := false
	if i < len(pattern) && pattern[i] == '^' {
		negated = true
		i++
	}
	matched := false
	first := true
	for i < len(pattern) && (first || pattern[i] != ']') {
		first = false
		lo, n := classChar(pattern[i:])
		i += n
		hi := lo
		if i+1 < len(pattern) && pattern[i] == '-' && pattern[i+1] != ']' {
			hi, n = classChar(pattern[i+1:])
			i += 1 + n
		}
		if lo <= r && r <= hi {
			matched = true
		}
	}
	return matched != negated, i + 1
}

// classChar decodes one character of a class, escaped or not.
func classChar(s string) (rune, int) {
	if s[0] == '\\' && len(s) > 1 {
		r, n := utf8.DecodeRuneInString(s[1:])
		return r, n + 1
	}
	return utf8.DecodeRuneInString(s)
}
