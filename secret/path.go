package secret

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// ShownPath is path as an error may show it. The part of it that looks
// like a secret (20 or more characters of base64, mixing upper case,
// lower case and digits, with no dot) is left out: a secret pasted where
// its file's path belongs (api_secret_file: <secret>) would otherwise land
// in logs and error replies through "open <path>: no such file". A secret
// of standard base64 may hold '/', so the part is looked for across
// them, from the first component that looks random on.
//
// The last component (a pasted secret holds no '/' in these forms) is
// also left out when it is a hex key (openssl rand -hex), a UUID (a Vault
// AppRole secret_id) or a JWT (a Kubernetes service account token).
func ShownPath(path string) string {
	comps := strings.Split(path, "/")
	hid := false
	if last := comps[len(comps)-1]; hexKey(last) || uuidLike(last) || jwtLike(last) {
		// Hidden, and the directories before it looked at as well.
		comps[len(comps)-1] = fmt.Sprintf("<%d characters, not shown: they look like a secret>", len(last))
		hid = true
	}
	for k, c := range comps {
		if !random(c) {
			continue
		}
		rest := strings.Join(comps[k:], "/")
		// Across a '/', only standard base64 (which has no '-' or '_'),
		// starting with a long random part: not a directory such as
		// "User1" or a test's "TestX123/001/no-such-file".
		if !looksLikeSecret(rest) || k < len(comps)-1 && (len(c) < 8 || strings.ContainsAny(rest, "-_")) {
			// A secret written as a directory (/x/SECRET/a.b, 1h/SECRET/x):
			// the part alone, unless named as Go names a test's directory
			// (words, then a number).
			if k < len(comps)-1 && looksLikeSecret(c) && !wordsThenNumber(c) {
				comps[k] = fmt.Sprintf("<%d characters, not shown: they look like a secret>", len(c))
				hid = true
			}
			continue
		}
		// The secret may begin before: standard base64's parts before its
		// first '/' may be short, or lack a digit ("k+", "aB3"). A
		// directory name of lower case letters only ("etc") ends it.
		for !strings.ContainsAny(rest, "-_") && k > 0 && base64Part(comps[k-1]) {
			k--
			rest = comps[k] + "/" + rest
		}
		hidden := fmt.Sprintf("<%d characters, not shown: they look like a secret>", len(rest))
		if k == 0 {
			return hidden
		}
		return strings.Join(comps[:k], "/") + "/" + hidden
	}
	if hid {
		return strings.Join(comps, "/")
	}
	return path
}

// wordsThenNumber: letters, '_' and '-', then digits only, as Go names a
// test's temporary directory (TestName3983814134) and people name theirs
// (User1); a generated secret has digits all along it.
func wordsThenNumber(s string) bool {
	t := strings.TrimRight(s, "0123456789")
	return t != s && t != "" && strings.Trim(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-") == ""
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

// looksLikeSecret: 20 or more characters of the base64 alphabets
// (standard and URL-safe, with padding), random-looking, after at most a
// short prefix and a dot as Vault's tokens have (hvs., s.). A file name
// people choose has a dot further on, a space, or words in one case.
func looksLikeSecret(s string) bool {
	if prefix, rest, ok := strings.Cut(s, "."); ok && len(prefix) <= 3 {
		s = rest
	}
	if len(s) < 20 || !random(s) {
		return false
	}
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case r == '-' || r == '_' || r == '+' || r == '=' || r == '/':
		default:
			return false
		}
	}
	return true
}

// random reports whether s mixes upper case, lower case and digits, as
// generated secrets of 20 characters and more nearly always do; or, with
// no digit (1 in 400 of them), has 20 letters or more, over a third of
// them upper case and over a third lower case, whose case changes from
// one letter to the next a third of the time at least: random letters
// are half upper case and change case half of the time, words in
// CamelCase (acronyms included) have fewer capitals or fewer changes.
func random(s string) bool {
	var upper, lower, digit, changes int
	prevUpper, prev := false, false
	for _, r := range s {
		isUpper, isLetter := 'A' <= r && r <= 'Z', 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
		switch {
		case isUpper:
			upper++
		case isLetter:
			lower++
		case '0' <= r && r <= '9':
			digit++
		}
		if isLetter {
			if prev && isUpper != prevUpper {
				changes++
			}
			prevUpper, prev = isUpper, true
		}
	}
	if upper == 0 || lower == 0 {
		return false
	}
	letters := upper + lower
	return digit > 0 || (letters >= 20 && 3*upper > letters && 3*lower > letters && 3*changes >= letters-1)
}

// base64Part: a part of standard base64 between two '/' that no directory
// of lower case words is: not empty, of base64 characters, with an upper
// case letter, a digit or a '+'.
func base64Part(s string) bool {
	if s == "" || strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+") != "" {
		return false
	}
	return strings.ContainsAny(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+")
}

// hexKey: 32 or more hex digits of one case, letters and digits mixed.
func hexKey(s string) bool {
	if len(s) < 32 || (strings.ToLower(s) != s && strings.ToUpper(s) != s) {
		return false
	}
	var letter, digit bool
	for _, r := range strings.ToLower(s) {
		switch {
		case '0' <= r && r <= '9':
			digit = true
		case 'a' <= r && r <= 'f':
			letter = true
		default:
			return false
		}
	}
	return letter && digit
}

// uuidLike: 8-4-4-4-12 hex digits.
func uuidLike(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) != 5 {
		return false
	}
	for i, n := range []int{8, 4, 4, 4, 12} {
		if len(parts[i]) != n || strings.Trim(strings.ToLower(parts[i]), "0123456789abcdef") != "" {
			return false
		}
	}
	return true
}

// jwtLike: three dot-separated base64url parts, the first a JSON object
// ("eyJ" is how base64url of `{"` begins).
func jwtLike(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || !strings.HasPrefix(parts[0], "eyJ") || len(s) < 40 {
		return false
	}
	for _, p := range parts[:2] {
		if strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return false
		}
	}
	return true
}
