package secret

import (
	"strconv"
	"testing"
)

// TestShownPathHidesAWholeBase64Secret: a secret from openssl rand
// -base64 32 (or an Exoscale one) is hidden whole: one with no digit
// (about 1 in 400 of openssl's), and one whose first '/' comes early or
// after a part without a digit (1 in 7), whose first part was shown.
func TestShownPathHidesAWholeBase64Secret(t *testing.T) {
	for _, sec := range []string{
		"NLJgblOOsfocKiBuqyOmCzwfYRvYOrtFhDAvHBHajzo=",
		"k+/Zx9q0Zc3n1V8xT2mYk9Lr4Pw7Hb6Jd5Ns0GFa1U=",
		"aB3/cdeFGhq0Zc3n1V8xT2mYk9Lr4Pw7Hb6Jd5Ns0GF",
		"abcDEFghiJ/k9Lr4Pw7Hb6Jd5Ns0GFa1Ue3Io8q0Zc3=",
	} {
		want := "/etc/rotatord/<" + strconv.Itoa(len(sec)) + " characters, not shown: they look like a secret>"
		if got := ShownPath("/etc/rotatord/" + sec); got != want {
			t.Errorf("ShownPath(/etc/rotatord/%s) = %q, want %q", sec, got, want)
		}
	}
	for _, p := range []string{
		"/a/MyCompanyProductionSecretKeyFile",
		"/etc/rotatord/ExoscaleProductionAdminSecret",
		"/etc/rotatord/ExoscaleAPISecretForCIJobs",
		"/etc/rotatord/HelloWorldFooBarBazQuxQuuxCorge",
		"/home/User1/secrets2024/apikey",
		"/tmp/TestValidateHostvault_without_address3983814134/001/no-such-token",
	} {
		if got := ShownPath(p); got != p {
			t.Errorf("ShownPath(%q) = %q, want it unchanged", p, got)
		}
	}
}
