package vault

import (
	"bytes"
	"encoding/json"
	"net/http"
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
	front := quotingGateway(t, srv, func(r *http.Request, body []byte) string {
		if !strings.HasSuffix(r.URL.Path, "/login") {
			return ""
		}
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
		return string(body[i : i+50])
	})
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
