package integration

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A gateway in front of Vault forwards the data write (it lands), then
// answers 502 with Vault's JSON error shape quoting the start of the
// request's body, cut short inside the secret. No part of the new key's
// secret may reach once's output, the log or the state directory (the
// journal's last_error).
func TestVaultGatewayQuotingPartOfTheWriteLeaksNoPartOfTheSecret(t *testing.T) {
	t.Parallel()
	v := startVault(t)
	u, err := url.Parse(v.srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || !strings.Contains(r.URL.Path, "/data/") {
			rp.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(httptest.NewRecorder(), r)
		quoted := string(body)
		if i := strings.Index(quoted, `"api_secret":"`); i >= 0 && len(quoted) > i+34 {
			quoted = quoted[:i+34]
		}
		out, _ := json.Marshal(map[string]any{"errors": []string{"upstream answer lost for request " + quoted}})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write(out)
	}))
	t.Cleanup(gw.Close)

	e := newEnv(t)
	e.writePolicy(`  - name: ci
    match: {name: ci-runner}
    grace_period: 0s
    sinks:
` + strings.Replace(v.sink(), v.srv.Addr, gw.URL, 1))
	r := e.rotatord("once", "--force")

	got, _, ok := v.held(t, "ci-runner")
	if !ok || got.Secret == "" {
		t.Fatalf("the write did not land through the gateway\n%s", r)
	}
	if k, _ := e.sim.key(got.Key); !k.Alive || !e.sim.authenticates(got.Key, got.Secret) {
		t.Errorf("Vault holds key %s, which is not alive: its consumers are cut off\n%s", got.Key, r)
	}
	var state strings.Builder
	_ = filepath.WalkDir(e.stateDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			state.Write(b)
		}
		return nil
	})
	for what, text := range map[string]string{"once's output": r.stdout, "the log": r.stderr, "the state directory": state.String()} {
		for i := 0; i+12 <= len(got.Secret); i++ {
			if strings.Contains(text, got.Secret[i:i+12]) {
				t.Errorf("%s holds %q, part of the new key's secret\n%s", what, got.Secret[i:i+12], r)
				break
			}
		}
	}
}
