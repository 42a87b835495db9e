package apiclient

import (
	"strings"
	"testing"
)

// TestEndpointRedactionLeaks: issue 11 "Error texts quote the
// Exoscale endpoint raw, credentials included: redact", README Security
// model "Errors name the endpoint without its user info". RedactURL (used
// by ResolveEndpoint's errors, the insecure_http warning and so config
// errors printed by `rotatord validate` and logged at start and reload)
// still prints user info in three common shapes:
//
//   - a credential carried as the user name alone (https://TOKEN@host/v2,
//     the usual shape of a bearer token or an API key in a URL):
//     url.UserPassword(username, "xxxxx") keeps the user name, i.e. the
//     secret, and adds ":xxxxx" as if it were not one;
//   - a password holding "/" (not escaped, as people paste it):
//     url.Parse fails and the fallback stops at the first "/", before the
//     "@", so the whole URL, password included, is quoted;
//   - a password holding "?" or "#": the fallback keeps everything before
//     it, i.e. the user name and the start of the password.
//
// Expected: whenever the text has an "@" after "://", everything between
// "://" and the last "@" is replaced, user name included, whether or not
// url.Parse accepts the text.
func TestEndpointRedactionLeaks(t *testing.T) {
	for _, tc := range []struct{ endpoint, secret string }{
		{"https://EXOtok3nS3cretValue@api.example.com/v2", "tok3nS3cret"},
		{"https://rotatord:ab/S3cretPw@api.example.com/v2", "S3cretPw"},
		{"https://rotatord:S3cret?Pw@api.example.com/v2", "S3cret"},
		{"https://rotatord:S3cret#Pw@api.example.com/v2", "S3cret"},
	} {
		_, err := ResolveEndpoint("", tc.endpoint)
		if err == nil {
			t.Errorf("%s: accepted", tc.endpoint)
			continue
		}
		if strings.Contains(err.Error(), tc.secret) {
			t.Errorf("ResolveEndpoint(%q): error quotes the credential %q: %v", tc.endpoint, tc.secret, err)
		}
		if r := RedactURL(tc.endpoint); strings.Contains(r, tc.secret) {
			t.Errorf("RedactURL(%q) = %q: keeps the credential %q", tc.endpoint, r, tc.secret)
		}
	}
}
