// Package redact owns how rotatord names a URL in errors and logs: never
// with the credentials, tokens or query it may carry, whether or not the
// URL parses.
package redact

import (
	"net/url"
	"strings"
)

// URL returns raw without its user info and query. Everything between
// "://" and the last "@" goes (a user name alone may be a token, and a
// password may hold "/", "?" or "#"), and so does everything from the first
// "?" or "#" after the host. A string with an "@" but no "://" keeps only
// what follows the last "@".
func URL(raw string) string {
	// A URL that parses cleanly is rebuilt from its parts: an "@" in the
	// query (?email=a@b&token=...) then cannot pass for the end of the
	// user info.
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && u.Host != "" && u.Opaque == "" {
		out := u.Scheme + "://"
		if u.User != nil {
			out += "xxxxx@"
		}
		return out + u.Host + u.EscapedPath()
	}
	scheme, rest := "", raw
	if i := strings.Index(raw, "://"); i >= 0 {
		scheme, rest = raw[:i+3], raw[i+3:]
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "xxxxx@" + rest[at+1:]
	}
	if q := strings.IndexAny(rest, "?#"); q >= 0 {
		rest = rest[:q]
	}
	return scheme + rest
}

// Origin returns raw's scheme and host only, with "/…" where a path was
// (from a "/" or a backslash on). It is for URLs whose path may itself be
// the credential, as an incoming webhook's
// (https://hooks.example/services/T0/B0/TOKEN) is.
func Origin(raw string) string {
	u := URL(raw)
	scheme, rest := "", u
	if i := strings.Index(u, "://"); i >= 0 {
		scheme, rest = u[:i+3], u[i+3:]
	}
	// A backslash, which no host holds, starts a path too: a URL written
	// with them does not parse, and its path is still the token.
	if i := strings.IndexAny(rest, `/\`); i >= 0 {
		if rest[i:] != "/" {
			return scheme + rest[:i] + "/…"
		}
		rest = rest[:i]
	}
	return scheme + rest
}
