package daemon

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestEveryListenAddressHasTLSAndBasicAuth: with several listen addresses
// (--web.listen-address given more than once), each is served with the
// web configuration file's TLS and basic auth, not the first alone: the
// toolkit puts them on the server it is given, one per address.
func TestEveryListenAddressHasTLSAndBasicAuth(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	const user, password = "prometheus", "correct horse battery staple"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webConfig, fmt.Appendf(nil, "tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %s\n",
		filepath.Base(certFile), filepath.Base(keyFile), user, hash), 0o600); err != nil {
		t.Fatal(err)
	}
	addrs := []string{e.listen, freePort(t)}
	e.d.opts.Listen = addrs
	e.runWeb(WebOptions{ConfigFile: webConfig})

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, addr := range addrs {
		for _, pass := range []string{password, "wrong password"} {
			req, err := http.NewRequest("GET", "https://"+addr+"/metrics", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth(user, pass)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("GET https://%s/metrics: %v", addr, err)
			}
			resp.Body.Close()
			want := http.StatusOK
			if pass != password {
				want = http.StatusUnauthorized
			}
			if resp.StatusCode != want || resp.TLS == nil {
				t.Errorf("GET https://%s/metrics with the password %q = %d (TLS: %v), want %d over TLS", addr, pass, resp.StatusCode, resp.TLS != nil, want)
			}
		}
	}
}
