package daemon

import (
	"net/http"
	"strings"
	"testing"
)

// TestReloadRejectedTellsNothing: issue #11 prescribes that /-/reload
// answers a rejected policy file without details, the details going to
// the log. The reason quotes the file (its path, a line, a value written
// in the wrong field: a short secret or a UUID is quoted whole), and
// anyone who reaches the port may POST; the operator who reloads reads
// the log, or `rotatord validate`.
func TestReloadRejectedTellsNothing(t *testing.T) {
	e := newEnv(t)
	e.runWeb(WebOptions{EnableLifecycle: true})
	const secret = "Zq8vN3xL0pQ7wR5t"
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
	if code != http.StatusBadRequest || body != reloadRejected+"\n" {
		t.Errorf("reload of a file with a bad schedule = %d %q, want 400 %q and no details", code, body, reloadRejected+"\n")
	}
	for _, detail := range []string{secret, e.config, "schedule", "line"} {
		if strings.Contains(body, detail) {
			t.Errorf("the answer %q tells %q, a detail of the rejected file", body, detail)
		}
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
