package secret

import (
	"strings"
	"testing"
)

// TestShownPathHidesASecretBetweenSlashes: a secret written as a
// directory (/x/SECRET/y) was shown whole when what follows it made the
// rest no secret: a '-' or '_' in it (an Exoscale secret has one 3 times
// in 4), or a later name with a dot ("/x/SECRET/a.b"). api_secret_file:
// /x/SECRET/a.b was quoted whole by rotatord validate, and so was a
// grace_period or a schedule's time zone so written (seen with the real
// binary). Directories named as Go's tests name theirs stay shown.
func TestShownPathHidesASecretBetweenSlashes(t *testing.T) {
	for _, sec := range []string{
		"Sx3kQ9vLm2Rt7YpWn4Zb8HcJd5Fg1Ks6Ae0Ui3Oy7TQ",
		"Sx3kQ9vLm2Rt7YpWn4Zb8Hc-d5Fg1Ks6Ae0Ui3Oy7TQ",
		"gX2zrl7Iom6dDnSx8WtC-jwmx7PJnKfZTnwBS7eFWRk",
		"hvs.CAESIJlk3j4lk5j6lk7j8lk9j0lk1j2lk3j4lk5",
	} {
		for _, p := range []string{"/x/" + sec + "/a.b", "/x/" + sec + "/a", "/x/" + sec + "/a-b", "1h/" + sec + "/x", "Europe/" + sec + "/x.y", sec + "/"} {
			got := ShownPath(p)
			if strings.Contains(got, sec[len(sec)-20:]) {
				t.Errorf("ShownPath(%q) = %q: shows the secret", p, got)
			}
			if !strings.Contains(got, "not shown") {
				t.Errorf("ShownPath(%q) = %q: does not say what it left out", p, got)
			}
		}
	}
	if got, want := ShownPath("/x/Sx3kQ9vLm2Rt7YpWn4Zb8Hc-d5Fg1Ks6Ae0Ui3Oy7TQ/a.b"), "/x/<43 characters, not shown: they look like a secret>/a.b"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, p := range []string{
		"/tmp/TestValidateHostvault_without_address3983814134/001/no-such-token",
		"/tmp/TestValidateNamesABadSinkTarget2899268100/001/x.json",
		"/home/User1/secrets2024/apikey",
		"/etc/ExoscaleProductionAdminSecret/a.b",
	} {
		if got := ShownPath(p); got != p {
			t.Errorf("ShownPath(%q) = %q, want it unchanged", p, got)
		}
	}
}

// TestShownPathHidesASecretBeforeAHiddenName: a last name that is a hex
// key, a UUID or a JWT was hidden and the path returned at once, the
// directories before it unlooked at: /x/SECRET/<hex key> showed SECRET.
func TestShownPathHidesASecretBeforeAHiddenName(t *testing.T) {
	const sec = "Sx3kQ9vLm2Rt7YpWn4Zb8Hc-d5Fg1Ks6Ae0Ui3Oy7TQ"
	for _, last := range []string{"0123456789abcdef0123456789abcdef", "22222222-2222-2222-2222-222222222222"} {
		p := "/x/" + sec + "/" + last
		if got := ShownPath(p); strings.Contains(got, sec[len(sec)-20:]) || strings.Contains(got, last) {
			t.Errorf("ShownPath(%q) = %q: shows the secret", p, got)
		}
	}
}
