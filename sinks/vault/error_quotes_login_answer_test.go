package vault

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// A gateway that got Vault's answer to a login and could not pass it on
// may quote it in its error: the answer holds the token Vault issued,
// which rotatord never sent and so cannot compare with. No part of it
// may reach the error or the log.
func TestVaultErrorQuotingTheLoginAnswerShowsNoToken(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	roleID, secretID := srv.appRole(t, "login-answer", nil)
	e.forbid(secretID)
	var (
		mu     sync.Mutex
		issued []string
	)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequest(r.Method, srv.Addr+r.URL.RequestURI(), r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if strings.HasSuffix(r.URL.Path, "/login") {
			var out struct {
				Auth struct {
					ClientToken string `json:"client_token"`
				} `json:"auth"`
			}
			_ = json.Unmarshal(body, &out)
			mu.Lock()
			issued = append(issued, out.Auth.ClientToken)
			mu.Unlock()
			i := bytes.Index(body, []byte(`"client_token"`))
			msg, _ := json.Marshal(map[string]any{"errors": []string{"upstream answer cut short: " + string(body[i:i+50])}})
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write(msg)
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
	}))
	t.Cleanup(front.Close)
	s := e.sink("", func(o *Options) {
		o.Address = front.URL
		o.Auth = AuthOptions{Method: AuthAppRole, RoleID: roleID, SecretIDFile: e.file("secret-id", secretID)}
	})
	err := s.Probe(ctxT(t), "x")
	if err == nil {
		t.Fatal("Probe succeeded though every login was answered 502")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(issued) == 0 {
		t.Fatal("no login reached Vault")
	}
	for _, tok := range issued {
		e.forbid(tok)
		if form := secretForm(err.Error(), tok); form != "" {
			t.Errorf("error %q holds %q, a part of the token Vault issued", err, form)
		}
	}
}
