package vault

import "testing"

// An IP address has several spellings for one server ("::1" and
// "0:0:0:0:0:0:0:1", an IPv4 address mapped into IPv6), and a port may be
// written with leading zeros: compared as text, two sinks of one path on
// one Vault were two targets (validate took them and both wrote the one
// secret, the second in its own fields), and a sink on another spelling
// of the credential_vault's address could be let write rotatord's own
// credential.
func TestCanonicalAddressTakesSpellingsOfOneIPAddressAndPortAsOneServer(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"http://[::1]:8200", "http://[0:0:0:0:0:0:0:1]:8200"},
		{"https://[2001:DB8::1]:8200", "https://[2001:db8:0:0::1]:8200/"},
		{"http://[::ffff:127.0.0.1]:8200", "http://127.0.0.1:8200"},
		{"https://vault.example.invalid:08200", "https://vault.example.invalid:8200"},
	} {
		if a, b := CanonicalAddress(tc.a), CanonicalAddress(tc.b); a != b {
			t.Errorf("%s is %s, %s is %s: want one server", tc.a, a, tc.b, b)
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"http://127.0.0.1:8200", "http://127.0.0.2:8200"},
		{"http://[::1]:8200", "http://[::2]:8200"},
		{"https://vault.example.invalid:8200", "https://vault.example.invalid:8201"},
	} {
		if CanonicalAddress(tc.a) == CanonicalAddress(tc.b) {
			t.Errorf("%s and %s: one server, want two", tc.a, tc.b)
		}
	}
}
