package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// validate --online prints what a sink's probe warns of; the warning
// quotes what Vault said (sys/health's version): a hostile answer's
// terminal escapes and line breaks must not reach the terminal, nor forge
// an "ok" line.
func TestValidateOnlineProbeWarningEscapesWhatVaultSaid(t *testing.T) {
	t.Parallel()
	v := startVault(t)
	u, err := url.Parse(v.srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/sys/health" {
			rp.ServeHTTP(w, r)
			return
		}
		resp, err := http.Get(v.srv.Addr + r.URL.RequestURI())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var h map[string]any
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &h)
		h["version"] = "1.21.0\x1b[2J\x1b]0;pwned\x07\nok    policy ci sink 1 (vault): forged\u009b31m\u202e"
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(h)
	}))
	t.Cleanup(front.Close)
	e := newEnv(t)
	sink := strings.Replace(v.sink(), v.srv.Addr, front.URL, 1)
	e.writePolicy(`  - name: ci
    match: {name: ci-runner}
    sinks:
` + strings.Replace(sink, "        path:", "        namespace: team-a\n        path:", 1))

	r := e.rotatord("validate", "--online")
	if r.code != 0 {
		t.Fatalf("validate --online exited %d\n%s", r.code, r)
	}
	if !strings.Contains(r.stdout, "ignores the namespace") {
		t.Fatalf("validate --online does not print the probe's warning\n%s", r)
	}
	for _, bad := range []string{"\x1b", "\x07", "\u009b", "\u202e"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("validate --online printed %q unescaped\n%s", bad, r)
		}
	}
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "ok") && strings.Contains(l, "forged") {
			t.Errorf("a forged ok line: %q", l)
		}
	}
}
