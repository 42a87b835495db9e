package secret

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestShownPathHidesANameThatLooksLikeASecret(t *testing.T) {
	const sec = "gX2zrl7Iom6dDnSx8WtC-jwmx7PJnKfZTnwBS7eFWRk"
	for _, p := range []string{sec, "/etc/rotatord/" + sec, "conf/" + sec, "/x/aBcdefgh1j+klmnopqrst==", "/v/hvs.CAESIJlk3j4lk5j6lk7j8lk9j0lk1j2lk3j4lk5", "s.Abcdefghijk1mnopqrstuvwx"} {
		got := ShownPath(p)
		if strings.Contains(got, filepath.Base(p)) {
			t.Errorf("ShownPath(%q) = %q: shows the name", p, got)
		}
		if !strings.Contains(got, "not shown") {
			t.Errorf("ShownPath(%q) = %q: does not say what it left out", p, got)
		}
	}
	if got := ShownPath("/etc/rotatord/" + sec); !strings.HasPrefix(got, "/etc/rotatord/") {
		t.Errorf("the directory should stay: %q", got)
	}
	for _, p := range []string{"/etc/rotatord/api-secret", "/run/credentials/rotatord.service/exoscale_api_secret", "secret.txt", "/var/lib/rotatord/credential.json", "/a/averyveryverylongfilename.key", "/a/abc.averyveryverylongfilename.key", "/a/vault.averyveryverylongfilename"} {
		if got := ShownPath(p); got != p {
			t.Errorf("ShownPath(%q) = %q, want it unchanged", p, got)
		}
	}
}

func TestPathErrorKeepsTheCauseAndHidesTheName(t *testing.T) {
	const sec = "gX2zrl7Iom6dDnSx8WtC-jwmx7PJnKfZTnwBS7eFWRk"
	_, err := os.ReadFile(filepath.Join(t.TempDir(), sec))
	got := PathError(err)
	if strings.Contains(got.Error(), sec) {
		t.Fatalf("%v: shows the secret", got)
	}
	if !errors.Is(got, fs.ErrNotExist) {
		t.Fatalf("%v: lost the cause", got)
	}
	other := errors.New("plain")
	if PathError(other) != other {
		t.Fatal("an error without a path changed")
	}
}

func TestShownPathKeepsDirectoriesThatLookRandom(t *testing.T) {
	for _, p := range []string{
		"/tmp/TestValidateHostvault_without_address3983814134/001/no-such-token",
		"/home/User1/secrets2024/apikey",
	} {
		if got := ShownPath(p); got != p {
			t.Errorf("ShownPath(%q) = %q, want it shown", p, got)
		}
	}
	const sec = "q0Zc3n1V8xT2mYk9Lr4Pw7Hb6Jd5Ns0G/Fa1Ue3Io8="
	if got := ShownPath("/etc/rotatord/" + sec); got != "/etc/rotatord/<43 characters, not shown: they look like a secret>" {
		t.Errorf("a standard base64 secret with '/': %q", got)
	}
}
