package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue #12: messages "echo values as written". A hook timeout is checked
// as the other durations are: a negative one is refused (a webhook's used
// to pass and silently take the 10 s default; an exec one was told it must
// be "at most 30m0s"), and a long one is echoed as written ("2m", not
// "2m0s").
func TestHookTimeoutsEchoedAsWrittenAndNegativeRefused(t *testing.T) {
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
	for _, want := range []string{
		"policies[0].hooks[0].webhook.timeout: must not be negative, got -1s",
		"policies[0].hooks[1].exec.timeout: must not be negative, got -5s",
		"policies[0].hooks[2].webhook.timeout: 2m: want at most 1m\n",
	} {
		if !strings.Contains(msg+"\n", want) {
			t.Errorf("missing problem %q", want)
		}
	}
}
