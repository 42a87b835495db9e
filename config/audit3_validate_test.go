package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue #12: messages "echo values as written" (the example:
// `-1h` echoed as `-1h0m0s`). Hook timeouts still echo Go's spelling
// ("2m0s" for `2m`), an exec timeout of -5s is told it must be "at most
// 30m0s", and a negative webhook timeout passes validation silently (the
// webhook then uses its 10 s default).
func TestAudit3HookTimeoutsEchoedAsWrittenAndNegativeRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hk"), []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := `exoscale:
  api_key: EXOaaaaaaaaaaaaaaaaaaaaaaaa
  api_secret: s
state_dir: st
policies:
  - name: ci
    match: {name: ci-a}
    hooks:
      - event: on_failure
        webhook: {url: "https://example.com/hook", key_file: hk, timeout: -1s}
      - event: on_failure
        exec: {command: [/bin/true], timeout: -5s}
      - event: on_failure
        webhook: {url: "https://example.com/hook", key_file: hk, timeout: 2m}
    sinks: [{type: file, path: "out/{{.Name}}.json"}]
`
	path := filepath.Join(dir, "p.yml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Validate(path, ValidateOptions{Getenv: func(string) string { return "" }})
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	t.Logf("problems:\n%s", msg)
	if !strings.Contains(msg, "hooks[0].webhook.timeout") {
		t.Error("a negative webhook timeout (-1s) is accepted")
	}
	if strings.Contains(msg, "2m0s") || strings.Contains(msg, "-5s: want at most") {
		t.Error("hook timeouts are not echoed as written / a negative timeout is told it is too long")
	}
}
