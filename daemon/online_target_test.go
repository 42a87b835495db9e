package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validate --online says "ok" for a file sink only if the rotation's own
// probe would let the write through: a file there that rotatord did not
// write (without take_over), or one of rotatord's own files a name's path
// renders to, fails the first rotation, so the check must fail too, and
// leave the file as it was.
func TestCheckOnlineFailsATargetTheRotationWouldRefuse(t *testing.T) {
	t.Run("a file rotatord did not write", func(t *testing.T) {
		e := newOnlineEnv(t, "", "out")
		target := filepath.Join(e.dir, "out", "ci-runner.json")
		const hand = "written by hand\n"
		if err := os.WriteFile(target, []byte(hand), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := e.check(t)
		if err == nil {
			t.Fatalf("CheckOnline() = nil with a file rotatord may not replace:\n%s", out)
		}
		if want := "FAIL  policy ci sink file#0: " + target + ": "; !strings.Contains(out, want) || !strings.Contains(out, "take_over") {
			t.Errorf("output lacks %q naming take_over:\n%s", want, out)
		}
		if got, _ := os.ReadFile(target); string(got) != hand {
			t.Errorf("the check changed the file: %q", got)
		}
	})
	t.Run("rotatord's own secret file", func(t *testing.T) {
		e := newOnlineEnv(t, "", "out")
		target := filepath.Join(e.dir, "out", "ci-runner.json")
		if err := os.Rename(filepath.Join(e.dir, "secret"), target); err != nil {
			t.Fatal(err)
		}
		body, err := os.ReadFile(e.config)
		if err != nil {
			t.Fatal(err)
		}
		body = []byte(strings.Replace(string(body), "api_secret_file: secret", "api_secret_file: out/ci-runner.json", 1))
		if err := os.WriteFile(e.config, body, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := e.check(t)
		if err == nil {
			t.Fatalf("CheckOnline() = nil with a sink target that is the api_secret_file:\n%s", out)
		}
		if want := "FAIL  policy ci sink file#0: " + target + ": "; !strings.Contains(out, want) || !strings.Contains(out, "api_secret_file") {
			t.Errorf("output lacks %q naming the api_secret_file:\n%s", want, out)
		}
	})
}
