package secret

import "strings"

// WordsName reports whether s is a name people write rather than a
// generated secret: parts of one case (lower case letters and digits, or
// upper case letters and digits) joined by '-', '_' or '.', two parts at
// least, with a letter no hex digit is (g to z). A GKE context
// (gke_my-project-123456_europe-west1_prod), a policy's or a Secret's
// name (exoscale-ci-runner-production) are shown whole in messages: cut
// to their first 24 characters, they no longer said which one was meant.
//
// Secrets rotatord handles never look so: an Exoscale secret (base64url
// of 32 random bytes) mixes upper and lower case but once in billions;
// a Vault token, a JWT and a PEM key mix them too; a hex key or a UUID
// has no letter past f; base32 has no separator. Nor does a hex secret or
// a UUID behind a word (dop_v1_ and 64 hex digits, a bearer token;
// approle-<uuid>), whose letter past f is in the word only: the parts of
// a name that are hex digits only hold maxHexInName characters at most.
func WordsName(s string) bool {
	if strings.ToLower(s) != s && strings.ToUpper(s) != s {
		return false
	}
	parts, hexChars, beyondHex := 0, 0, false
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
		parts++
		partBeyondHex := false
		for _, r := range strings.ToLower(p) {
			switch {
			case 'g' <= r && r <= 'z':
				partBeyondHex = true
			case 'a' <= r && r <= 'f', '0' <= r && r <= '9':
			default:
				return false
			}
		}
		if partBeyondHex {
			beyondHex = true
		} else {
			hexChars += len(p)
		}
	}
	return parts >= 2 && beyondHex && hexChars <= maxHexInName
}

// maxHexInName is how many characters of a name's parts may be hex digits
// only (a date, a project number, a short commit): 64 bits, less than any
// hex secret or UUID has.
const maxHexInName = 16
