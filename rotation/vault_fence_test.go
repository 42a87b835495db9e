package rotation

// Third review of the issue 15 fixes: the fence and Vault sink writes.
// Kubernetes and Exoscale requests ask the Lease right before each
// request leaves (gated transports); a Vault sink write is asked once, in
// writeTo, before Write, which then sends several requests (metadata read,
// marker, check-and-set data write), each retried by Vault's client on a
// 5xx, each with a 30 s timeout: a replica that lost the Lease meanwhile
// still writes the credential.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/vault"
	"github.com/rotatord/rotatord/sinks/vault/vaulttest"
)

var errDeposed = errors.New("review15c: this replica does not hold the Lease")

func TestVaultWriteLeavesAfterTheFenceCloses(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Vault server")
	}
	bin, why := vaulttest.Find()
	if bin == "" {
		if vaulttest.Required() {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	srv, err := vaulttest.Start(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	target, _ := url.Parse(srv.Addr)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(vaulttest.RootToken), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		// intercept runs in the proxy before a request reaches Vault; it
		// may answer itself (true) instead.
		intercept func(w http.ResponseWriter, r *http.Request, closeFence func() bool) bool
	}{
		{
			// Vault answers the data write 503 once (a standby, a seal, a
			// leadership change of Vault): the client retries it 250 ms to
			// 1 s later. The Lease was lost in between.
			"5xx retried by Vault's client", func(w http.ResponseWriter, r *http.Request, closeFence func() bool) bool {
				if r.Method != http.MethodGet && strings.Contains(r.URL.Path, "/secret/data/") {
					if closeFence() {
						w.WriteHeader(http.StatusServiceUnavailable)
						return true
					}
				}
				return false
			},
		},
		{
			// Vault is slow to answer the metadata read (3 s, well under
			// the 30 s request timeout); the Lease is lost meanwhile, and
			// the data write follows the read anyway.
			"slow metadata read", func(w http.ResponseWriter, r *http.Request, closeFence func() bool) bool {
				if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/secret/metadata/") {
					closeFence()
					time.Sleep(3 * time.Second)
				}
				return false
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fenceClosed, armed atomic.Bool // armed: the write under test began
			closeFence := func() bool { return armed.Load() && fenceClosed.CompareAndSwap(false, true) }
			var mu sync.Mutex
			var late []string // writes Vault received after the fence closed
			rp := httputil.NewSingleHostReverseProxy(target)
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if armed.Load() && tc.intercept(w, r, closeFence) {
					return
				}
				if r.Method != http.MethodGet && fenceClosed.Load() {
					mu.Lock()
					late = append(late, r.Method+" "+r.URL.Path)
					mu.Unlock()
				}
				rp.ServeHTTP(w, r)
			}))
			defer proxy.Close()

			sk, err := vault.New(vault.Options{
				Address: proxy.URL, Path: template.Must(template.New("p").Parse("rotatord/{{.Name}}")),
				Policy: "p", Auth: vault.AuthOptions{TokenFile: tokenFile},
				Getenv: func(string) string { return "" },
				// As the daemon wires it (daemon/sinks.go).
				Fence: func() (time.Time, error) {
					if fenceClosed.Load() {
						return time.Time{}, errDeposed
					}
					return time.Time{}, nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sk.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			name := "app-" + strings.ReplaceAll(tc.name, " ", "-")
			if err := sk.Probe(ctx, name); err != nil {
				t.Fatal(err)
			}
			e := New(Config{Fence: func() error {
				if fenceClosed.Load() {
					return errDeposed
				}
				return nil
			}})
			p := Policy{Name: "p", Sinks: []sinks.Sink{sk}}
			c := sinks.Credential{Name: name, KeyID: "EXO0123456789abcdef01234567", Secret: secret.Value("s3cr3t"), CreatedAt: time.Now()}
			armed.Store(true)
			err = e.writeTo(ctx, p, 0, c)
			held, rerr := sk.Read(ctx, name)
			mu.Lock()
			defer mu.Unlock()
			if len(late) > 0 {
				t.Errorf("the fence closed (this replica lost the Lease) during the Vault write, yet Vault received %v afterwards; writeTo returned %v, and Vault now holds key %q (read err %v)",
					late, err, held.KeyID, rerr)
			}
		})
	}
}
