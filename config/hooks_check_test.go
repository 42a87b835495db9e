package config

// Review of issue 14 (windows, jitter, hooks): tests that try to break the
// config side of it. A failing test here is a defect.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func hookProblems(t *testing.T, doc string, host bool) string {
	t.Helper()
	file := writePolicy(t, doc)
	_, warns, err := Validate(file, ValidateOptions{Host: host, Getenv: env(nil)})
	var all []string
	if err != nil {
		all = append(all, err.Error())
	}
	for _, w := range warns {
		all = append(all, w.Error())
	}
	return strings.Join(all, "\n")
}

// `rotatord check` (Host) resolves every file the daemon reads at run
// time (api_secret_file, a vault token_file, sink directories), but not a
// webhook's key_file: a typo passes the check, and the daemon finds out at
// the first rotation, when every hook of the policy fails (before_delete:
// no old key is ever deleted; after_delivery: the rotation never ends).
func TestHostCheckMissingWebhookKeyFile(t *testing.T) {
	doc := hostDoc("state", "out/{{.Name}}.json") + `    hooks:
      - event: before_delete
        webhook: {url: "https://hooks.example.com/check", key_file: no-such-hook-key}
`
	got := hookProblems(t, doc, true)
	if !strings.Contains(got, "hooks[0].webhook.key_file") {
		t.Errorf("a webhook key_file that does not exist passes the host check: problems %q, want one on policies[0].hooks[0].webhook.key_file", got)
	}
}

// The HMAC key is a secret: anyone who reads it can forge a before_delete
// "consumer check passed" or any event. A world-readable key file is
// accepted without a word (credential_file in the same state is warned
// about).
func TestHostCheckWorldReadableWebhookKeyFile(t *testing.T) {
	doc := hostDoc("state", "out/{{.Name}}.json") + `    hooks:
      - event: after_delivery
        webhook: {url: "https://hooks.example.com/check", key_file: hook-key}
`
	file := writePolicy(t, doc)
	if err := os.WriteFile(filepath.Join(filepath.Dir(file), "hook-key"), []byte("k3y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, warns, err := Validate(file, ValidateOptions{Host: true, Getenv: env(nil)})
	got := ""
	if err != nil {
		got = err.Error()
	}
	for _, w := range warns {
		got += "\n" + w.Error()
	}
	if !strings.Contains(got, "hooks[0].webhook.key_file") {
		t.Errorf("a world-readable (0644) webhook key_file passes the host check silently: problems %q", got)
	}
}

// The same for an exec hook: a command that does not exist (or is not
// executable) passes `rotatord check --host`, and a before_delete
// consumer check that can never run keeps every old key for ever.
func TestHostCheckMissingExecCommand(t *testing.T) {
	doc := hostDoc("state", "out/{{.Name}}.json") + `    hooks:
      - event: before_delete
        exec: {command: [/no/such/consumer-check, --name]}
`
	got := hookProblems(t, doc, true)
	if !strings.Contains(got, "hooks[0].exec.command") {
		t.Errorf("an exec hook whose program does not exist passes the host check: problems %q", got)
	}
}

// The webhook URL check only refuses plain http to a host that is not
// loopback; any other scheme with a host is accepted, though the message
// for a bad URL says "want an https:// URL". ftp:// fails at every call.
func TestWebhookURLSchemeNotHTTPS(t *testing.T) {
	_, err := Parse([]byte(`state_dir: /var/lib/rotatord
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks: [{type: file, path: "/run/ci/{{.Name}}.json"}]
    hooks:
      - event: before_delete
        webhook: {url: "ftp://hooks.example.com/check", key_file: /etc/rotatord/hook-key}
`), "rotatord.yml", "/etc/rotatord")
	if err == nil || !strings.Contains(err.Error(), "webhook.url") {
		t.Errorf("a webhook url ftp://hooks.example.com/check is accepted: %v", err)
	}
}

// A plain-http webhook to a host that is not loopback is refused with the
// sinks' words: "use https, or set insecure_http: true for a test setup".
// A webhook has no insecure_http: the operator who follows the advice gets
// `unknown field "insecure_http"` next. The message should give the way
// out that exists (https, or a loopback address).
func TestHTTPWebhookErrorNamesAFieldThatExists(t *testing.T) {
	doc := `state_dir: /var/lib/rotatord
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks: [{type: file, path: "/run/ci/{{.Name}}.json"}]
    hooks:
      - event: after_delivery
        webhook: {url: "http://10.0.0.1/hook", key_file: /etc/rotatord/hook-key%s}
`
	_, err := Parse([]byte(strings.Replace(doc, "%s", "", 1)), "rotatord.yml", "/etc/rotatord")
	if err == nil {
		t.Fatal("a plain-http webhook to 10.0.0.1 is accepted")
	}
	if !strings.Contains(err.Error(), "insecure_http") {
		return
	}
	_, err2 := Parse([]byte(strings.Replace(doc, "%s", ", insecure_http: true", 1)), "rotatord.yml", "/etc/rotatord")
	if err2 != nil {
		t.Errorf("the error says %q; following it gives %q", err, err2)
	}
}
