package apiclient

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/secret"
)

// A create goes on a connection of its own (createOnOwnConn) unless the
// pooled connection's last answer is a recent HTTP/2 one; here no other
// request comes before them, so each does: over TLS, which the real API
// speaks, that is a handshake per create. The
// handshakes after the first resume the session, so they skip the
// server's certificate, its signature and the chain's verification
// (crypto/tls still checks the session's chain against the roots, the
// clock and the host name); a full handshake per key cost more CPU than
// the rest of the rotation's requests together.
func TestCreatesOverTLSResumeTheSession(t *testing.T) {
	for _, gated := range []bool{false, true} {
		name := "ungated"
		if gated {
			name = "gated" // leader election: the fenced transport, HTTP/1.1 only
		}
		t.Run(name, func(t *testing.T) {
			sim := exosimtest.NewServer(t, exosim.DefaultSeed(), exosim.WithRand(1))
			admin := sim.Admin()
			u, _ := url.Parse(sim.Endpoint)
			rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
			var mu sync.Mutex
			var resumed []bool // one per create, in order
			px := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					mu.Lock()
					resumed = append(resumed, r.TLS.DidResume)
					mu.Unlock()
				}
				rp.ServeHTTP(w, r)
			}))
			px.EnableHTTP2 = true
			px.StartTLS()
			defer px.Close()
			cf := filepath.Join(t.TempDir(), "ca.pem")
			if err := os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: px.Certificate().Raw}), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("SSL_CERT_FILE", cf)

			cfg := Config{
				Endpoint:    px.URL + u.Path,
				Credentials: Credentials{Key: admin.Key, Secret: secret.Value(admin.Secret)},
				Timeout:     10 * time.Second, MaxRetries: -1,
			}
			if gated {
				cfg.Gate = func() (time.Time, error) { return time.Now().Add(time.Minute), nil }
			}
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if _, err := c.CreateKey(context.Background(), "resume-"+string(rune('a'+i)), exosim.CIRoleID); err != nil {
					t.Fatalf("create %d: %v", i, err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(resumed) != 3 {
				t.Fatalf("the server saw %d creates, want 3", len(resumed))
			}
			for i, r := range resumed[1:] {
				if !r {
					t.Errorf("create %d made a full TLS handshake on its own connection, want the session resumed (creates' resumption: %v)", i+2, resumed)
				}
			}
		})
	}
}
