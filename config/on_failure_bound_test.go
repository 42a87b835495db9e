package config

import (
	"strings"
	"testing"
)

// on_failure hooks run in the background, bounded to 5 minutes in all (a
// webhook's retries included). A longer exec timeout, or retries that
// cannot fit, are accepted and silently cut: the hook is then cancelled
// ("cancelled before it ended") instead of timing out as written, and a
// hook that needs that long fails at every pass. validate says so.
func TestOnFailureHookLongerThanItsBoundIsWarned(t *testing.T) {
	for _, c := range []struct {
		hook, want string
	}{
		{`exec: {command: [/bin/true], timeout: 10m}`, "policies[0].hooks[0].exec.timeout: 10m: on_failure hooks are cut after 5m in all"},
		{`webhook: {url: "https://hooks.example.com/x", key_file: k, timeout: 1m, retries: 5}`, "policies[0].hooks[0].webhook: a timeout of 1m and 5 retries take up to 6m31s, but on_failure hooks are cut after 5m in all"},
		{`exec: {command: [/bin/true], timeout: 5m}`, ""},
		{`webhook: {url: "https://hooks.example.com/x", key_file: k, timeout: 10s, retries: 3}`, ""},
	} {
		doc := hostDoc("state", "out/{{.Name}}.json") + "    hooks:\n      - event: on_failure\n        " + c.hook + "\n"
		got := hookProblems(t, doc, false)
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("%s: problems %q, want %q", c.hook, got, c.want)
		}
	}
	// Other events have no such bound.
	doc := hostDoc("state", "out/{{.Name}}.json") + "    hooks:\n      - event: before_delete\n        exec: {command: [/bin/true], timeout: 10m}\n"
	if got := hookProblems(t, doc, false); got != "" {
		t.Errorf("a before_delete hook of 10m: problems %q, want none", got)
	}
}
