package vault

// Fourth review of the issue 15 fixes: the fence on Vault requests spares
// logins and token renewals by URL path, "/v1/auth/" as a prefix. The
// Vault client puts the path of the address first (api.Client.NewRequest:
// path.Join(addr.Path, requestPath)), and the sink accepts an address
// with a path (Vault behind a reverse proxy under /vault). Then a login is
// "/vault/v1/auth/approle/login": fenced like a write. A standby, and every
// replica at start (none leads while the daemon is built), cannot log in:
// a credential store in Vault (credential_from: vault) cannot be read, so
// no replica starts, and a standby's reload is refused.

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/sinks"
)

var errStandby = errors.New("review15d: this replica does not hold the Lease")

func TestStandbyLoginFencedBehindPathPrefix(t *testing.T) {
	srv := needVault(t)
	target, err := url.Parse(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = tr
	// A gateway that serves Vault under /vault.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/vault/") {
			http.NotFound(w, r)
			return
		}
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/vault")
		r.URL.RawPath = ""
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	roleID, secretID := srv.appRole(t, "review15d", nil)
	for _, tc := range []struct{ name, addr string }{
		{"address without a path (control)", srv.Addr},
		{"address with a path", proxy.URL + "/vault"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, srv)
			e.forbid(secretID)
			s := e.sink("", func(o *Options) {
				o.Address = tc.addr
				o.Auth = AuthOptions{Method: AuthAppRole, RoleID: roleID, SecretIDFile: e.file("secret-id", secretID)}
				// A standby: what daemon/ha.go claim answers when this
				// replica does not lead (and at start, before any term).
				o.Fence = func() (time.Time, error) { return time.Time{}, errStandby }
			})
			// A read, as readCredentials does for credential_from: vault.
			_, err := s.Read(ctxT(t), "absent")
			if err != nil && !errors.Is(err, sinks.ErrNotHeld) {
				t.Errorf("a standby's read through %s failed: %v; the login should be spared by the fence (spareReadsAndLogins), as for an address without a path", tc.addr, err)
			}
		})
	}
}
