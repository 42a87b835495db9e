package vault

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// quotingProxy forwards requests to a real Vault. When quote is set for a
// request (by path part), it answers with Vault's JSON error shape whose
// message quotes the request it got, body and token: a gateway or a
// plugin in front of Vault that echoes what it could not handle. With
// forward, the request reaches Vault first (the write lands, its answer
// is replaced).
type quotingProxy struct {
	mu      sync.Mutex
	part    string // path part of the requests to answer so
	status  int
	forward bool
}

func newQuotingProxy(t *testing.T, target string) (*quotingProxy, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	qp := &quotingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		qp.mu.Lock()
		part, status, forward := qp.part, qp.status, qp.forward
		qp.mu.Unlock()
		if part == "" || r.Method == http.MethodGet || !strings.Contains(r.URL.Path, part) {
			rp.ServeHTTP(w, r)
			return
		}
		if forward {
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
		}
		msg := "cannot handle " + r.URL.Path + " with token " + r.Header.Get("X-Vault-Token") + ": " + string(body)
		out, _ := json.Marshal(map[string]any{"errors": []string{msg}})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return qp, srv.URL
}

func (qp *quotingProxy) quote(part string, status int, forward bool) {
	qp.mu.Lock()
	defer qp.mu.Unlock()
	qp.part, qp.status, qp.forward = part, status, forward
}

// An error answer in Vault's JSON shape that quotes the request (a gateway
// in front of Vault that echoes it) must not carry the secret, the token
// or a secret_id into the sink's errors and logs: the engine logs those
// errors, prints them in `once`'s table and keeps them in the journal's
// last_error. A write answered 502 after it landed keeps the new key (a
// sink holds it), so its secret is a live one.
func TestVaultErrorQuotingTheRequestShowsNoSecret(t *testing.T) {
	srv := needVault(t)
	for _, tt := range []struct {
		name    string
		status  int
		forward bool
	}{
		{"write refused", http.StatusBadRequest, false},
		{"write landed, answer replaced", http.StatusBadGateway, true},
		{"token refused", http.StatusForbidden, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, srv)
			qp, addr := newQuotingProxy(t, srv.Addr)
			s := e.sink(srv.token(t, nil), func(o *Options) { o.Address = addr })
			ctx := ctxT(t)
			roundTrip(t, e, s, "quoted")
			c := e.cred("quoted")
			if err := s.Probe(ctx, "quoted"); err != nil {
				t.Fatal(err)
			}
			qp.quote("/data/", tt.status, tt.forward)
			err := s.Write(ctx, c)
			if err == nil {
				t.Fatal("Write succeeded through a proxy that answers an error")
			}
			e.check(err)
			if !strings.Contains(err.Error(), "HTTP") {
				t.Errorf("error %q does not say what Vault answered", err)
			}
		})
	}

	t.Run("approle login", func(t *testing.T) {
		e := newEnv(t, srv)
		qp, addr := newQuotingProxy(t, srv.Addr)
		roleID, secretID := srv.appRole(t, "quoted-"+randHex(3), nil)
		e.forbid(secretID)
		qp.quote("/auth/approle/login", http.StatusInternalServerError, false)
		s := e.sink("", func(o *Options) {
			o.Address = addr
			o.Auth = AuthOptions{Method: AuthAppRole, RoleID: roleID, SecretIDFile: e.file("secret-id", secretID)}
		})
		err := s.Probe(ctxT(t), "quoted")
		if err == nil {
			t.Fatal("Probe succeeded through a proxy that answers the login with an error")
		}
		e.check(err)
	})
}
