package daemon

import (
	"net/http"
	"strings"
	"testing"
)

// TestReloadRejectedSaysWhy: /-/reload answered a rejected policy file
// with 400 and no reason, where Prometheus answers "failed to reload
// config: " and the error. The reason is the one the log has, which
// never quotes a secret written in the file whole (the config package cuts
// the file's long words): a secret pasted where a schedule goes is named
// in the answer as far as the log names it, no further.
func TestReloadRejectedSaysWhy(t *testing.T) {
	e := newEnv(t)
	e.runWeb(WebOptions{EnableLifecycle: true})
	const secret = "Zq8vN3xL0pQ7wR5tY1uI9oK4mJ6hB2cD5eF8gH1j"
	e.writePolicy(strings.Replace(ciPolicy, `"@every 1h"`, `"`+secret+`"`, 1))
	code, body := e.request("POST", "/-/reload", nil)
	logged := e.logs.FilterMessage("reload rejected; keeping the previous configuration").All()
	if len(logged) != 1 {
		t.Fatalf("%d lines say the reload was rejected, want 1", len(logged))
	}
	reason, _ := logged[0].ContextMap()["error"].(string)
	if !strings.Contains(reason, "schedule") {
		t.Fatalf("the log's reason %q does not name the schedule", reason)
	}
	if want := "failed to reload config: " + reason + "\n"; code != http.StatusBadRequest || body != want {
		t.Errorf("reload of a file with a bad schedule = %d %q, want 400 %q", code, body, want)
	}
	if strings.Contains(body, secret) || strings.Contains(reason, secret) {
		t.Errorf("the answer %q (or the log's reason) quotes the secret written as the schedule whole", body)
	}
	if n := len(e.d.Config().Policies); n != 1 || e.d.Config().Policies[0].Schedule != "@every 1h" {
		t.Errorf("the rejected file is in force")
	}

	// The file fixed: 200 reloaded, as before.
	e.writePolicy(ciPolicy)
	if code, body := e.request("POST", "/-/reload", nil); code != http.StatusOK || body != "reloaded\n" {
		t.Errorf("reload of a good file = %d %q, want 200 \"reloaded\\n\"", code, body)
	}
}
