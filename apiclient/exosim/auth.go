package exosim

import (
	"crypto/hmac"
	"crypto/subtle"
	"net/http"
	"strings"
)

// authFailure is why a signed request was refused. Its message is the body
// of the 403; every variant starts with the real API's "Invalid request
// signature" so a client matching on that text keeps working, and the suffix
// tells a human which check failed.
type authFailure string

const (
	authMissing       authFailure = "missing Authorization header"
	authMalformed     authFailure = "malformed Authorization header"
	authQueryMismatch authFailure = "signed-query-args do not match the query"
	authExpired       authFailure = "request expired"
	authUnknownKey    authFailure = "unknown or deleted API key"
	authBadSignature  authFailure = ""
)

func (f authFailure) Error() string { return f.message() }

func (f authFailure) message() string {
	if f == authBadSignature {
		return "Invalid request signature"
	}
	return "Invalid request signature: " + string(f)
}

// verify checks the EXO2-HMAC-SHA256 signature of r, whose body has already
// been read into body. It returns the signing key's organization, in which
// the request acts, or an authFailure.
func (s *Sim) verify(r *http.Request, body []byte) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", authMissing
	}
	a, err := parseAuthorization(h)
	if err != nil {
		return "", authMalformed
	}
	// The signed names must be exactly the single-valued query parameters:
	// an unsigned parameter could otherwise be added by anyone on the path.
	names, _ := signedQuery(r.URL.Query())
	if !sameSet(names, a.signedQueryArgs) {
		return "", authQueryMismatch
	}
	q := r.URL.Query()
	var values strings.Builder
	for _, name := range a.signedQueryArgs {
		values.WriteString(q.Get(name))
	}
	if a.expires < s.clock().Unix() {
		return "", authExpired
	}
	secret, org, why := s.secretOf(a.credential)
	if why != AuthOK {
		return "", authUnknownKey
	}
	want := signRaw(r.Method, r.URL.EscapedPath(), string(body), values.String(), a.expires, secret)
	if !hmac.Equal(want, a.signature) {
		return "", authBadSignature
	}
	return org, nil
}

// Why a credential does not authenticate (AuthResult.Reason).
const (
	AuthOK          = "ok"
	AuthNoSuchKey   = "unknown key"
	AuthDeleted     = "deleted"
	AuthNotApplied  = "create not applied yet"
	AuthZombie      = "zombie"
	AuthWrongSecret = "wrong secret"
)

// AuthResult is what Authenticate found.
type AuthResult struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason"`
	// Org is the key's organization, empty for an unknown key.
	Org string `json:"org,omitempty"`
}

// secretOf returns the secret and organization of a key that can sign now:
// applied, not deleted, not a zombie; or why it cannot (with the
// organization of a key that exists).
func (s *Sim) secretOf(key string) (secret, org, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.store.sweep(now)
	k := s.store.byKey[key]
	switch {
	case k == nil:
		return "", "", AuthNoSuchKey
	case !k.alive():
		return "", k.org, AuthDeleted
	case !k.applied(now):
		return "", k.org, AuthNotApplied
	case k.zombie():
		return "", k.org, AuthZombie
	}
	return k.secret, k.org, AuthOK
}

// Authenticate reports whether the credential would be accepted now: the key
// can sign and the secret is its own.
func (s *Sim) Authenticate(key, secret string) bool {
	return s.AuthenticateWhy(key, secret).OK
}

// AuthenticateWhy is Authenticate with the reason of a refusal.
func (s *Sim) AuthenticateWhy(key, secret string) AuthResult {
	want, org, why := s.secretOf(key)
	// Compare in constant time even for unknown keys, out of habit: the
	// simulator holds real-looking secrets that chaos tests grep for.
	eq := subtle.ConstantTimeCompare([]byte(want), []byte(secret)) == 1
	switch {
	case why != AuthOK:
		return AuthResult{Reason: why, Org: org}
	case !eq:
		return AuthResult{Reason: AuthWrongSecret, Org: org}
	}
	return AuthResult{OK: true, Reason: AuthOK, Org: org}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	count := make(map[string]int, len(a))
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		if count[x] == 0 {
			return false
		}
		count[x]--
	}
	return true
}
