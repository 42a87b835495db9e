package vault

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// A new login revokes the token it replaces (a token near its max TTL, at
// another name's operation: names are handled in parallel). A request of
// this sink already on its way with that token is refused: the mount
// check of a probe took the 403 for a mount that does not exist, and the
// probe, and the rotation of its name, failed, while a retry with the new
// token works.
func TestMountCheckRefusedForATokenReplacedMeanwhileTriesTheNewOne(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	roleID, secretID := srv.appRole(t, "inflight-"+randHex(3), nil)
	e.forbid(secretID)
	u, err := url.Parse(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var (
		once sync.Once
		s    *Sink
	)
	rp := httputil.NewSingleHostReverseProxy(u)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/sys/internal/ui/mounts/") {
			// Another operation logs in meanwhile (and revokes this
			// request's token) before the request reaches Vault.
			once.Do(func() {
				s.auth.mu.Lock()
				defer s.auth.mu.Unlock()
				if err := s.auth.loginLocked(context.Background()); err != nil {
					t.Errorf("login: %v", err)
				}
			})
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	s = e.sink("", func(o *Options) {
		o.Address = proxy.URL
		o.Auth = AuthOptions{Method: AuthAppRole, RoleID: roleID, SecretIDFile: e.file("secret-id", secretID)}
	})
	if err := s.Probe(ctxT(t), "inflight"); err != nil {
		e.check(err)
		t.Errorf("Probe, with its token replaced and revoked during the mount check: %v", err)
	}
}
