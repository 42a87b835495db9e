package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue #12: a problem names the file, the line, the field and the value
// as written. A hook's relative command, its retries out of range and a
// URL that does not parse were told without the value, so a file with
// several hooks left the reader to guess which one was meant.
func TestHookProblemsEchoTheValue(t *testing.T) {
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
      - event: before_delete
        exec: {command: [bin/check-consumer, --fast]}
      - event: on_failure
        webhook: {url: "https://example.com/hook", key_file: hk, retries: 11}
      - event: on_failure
        webhook: {url: "hooks.example.com/notify", key_file: hk}
      - event: on_failure
        exec: {command: []}
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
		`p.yml:10: policies[0].hooks[0].exec.command: "bin/check-consumer" is not an absolute path`,
		`p.yml:12: policies[0].hooks[1].webhook.retries: must be from 0 to 10, got 11`,
		`p.yml:14: policies[0].hooks[2].webhook.url: "hooks.example.com/…": want an https:// URL`,
		`p.yml:16: policies[0].hooks[3].exec.command: empty: want the program's absolute path first`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing problem %q", want)
		}
	}
}

// A URL that does not parse may still carry credentials: the echo hides
// them as every other URL in a message does.
func TestHookURLEchoHidesCredentials(t *testing.T) {
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
        webhook: {url: "https://user:hunter2@exa mple.com/hook?token=sekrit", key_file: hk}
    sinks: [{type: file, path: "out/{{.Name}}.json"}]
`
	path := filepath.Join(dir, "p.yml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Validate(path, ValidateOptions{Getenv: func(string) string { return "" }})
	if err == nil {
		t.Fatal("a URL with a space in its host passed")
	}
	msg := err.Error()
	t.Logf("problems:\n%s", msg)
	if !strings.Contains(msg, "policies[0].hooks[0].webhook.url") {
		t.Errorf("no problem with the URL")
	}
	for _, s := range []string{"hunter2", "sekrit"} {
		if strings.Contains(msg, s) {
			t.Errorf("the message shows %q", s)
		}
	}
}
