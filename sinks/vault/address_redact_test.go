package vault

import (
	"strings"
	"testing"
)

// TestAddressErrorsQuoteCredentials: issue 11 "Error texts quote
// the Exoscale endpoint raw, credentials included: redact
// (url.URL.Redacted)", and the README's Security model ("Errors name the
// endpoint without its user info"). The Vault sink refuses an address with
// user info, redacted, but only once the address has parsed and has the
// right scheme: two earlier errors quote the address raw, password
// included, and the first one even twice (url.Parse's own error quotes the
// URL too).
//
// Attack / leak: an operator writes `address: https://rotatord:S3cret@vault:82OO`
// (a typo in the port) or `vaults://rotatord:S3cret@vault`, or the
// environment has such a VAULT_ADDR. `rotatord validate`, `run` (in the
// log, shipped to a log collector readable by many) and a reload print
// the password. Expected: the same redaction as the other errors (never
// quote an unparseable URL; use apiclient.RedactURL-like handling).
func TestAddressErrorsQuoteCredentials(t *testing.T) {
	for _, addr := range []string{
		"https://rotatord:S3cretPw@vault.example:82OO", // port typo: url.Parse fails
		"vaults://rotatord:S3cretPw@vault.example",     // scheme typo
		"https://rotatord:S3cretPw@vault.example/%zz",  // bad escape
	} {
		for _, fromEnv := range []bool{false, true} {
			o := Options{
				Path: pathTmpl(t, "exoscale/{{.Name}}"),
				Getenv: func(k string) string {
					m := map[string]string{"VAULT_TOKEN": "hvs.x"}
					if fromEnv {
						m["VAULT_ADDR"] = addr
					}
					return m[k]
				},
			}
			if !fromEnv {
				o.Address = addr
			}
			s, err := New(o)
			if err == nil {
				s.Close()
				t.Errorf("New(%q) succeeded", addr)
				continue
			}
			if strings.Contains(err.Error(), "S3cretPw") {
				t.Errorf("address %q (from VAULT_ADDR: %v): error quotes the password: %v", addr, fromEnv, err)
			}
		}
	}
}
