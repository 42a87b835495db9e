package vault

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"text/template"
)

// TestRedirectToPlainHTTPOnTheNetworkRefused: plain http is allowed to a
// loopback Vault only, since the token and the secrets cross the
// connection in clear. The Vault client follows a redirect itself (a
// standby sends clients to the active node's api_addr): a loopback
// address that redirects to plain http on another host must not carry the
// token or a secret there, unless insecure_http.
func TestRedirectToPlainHTTPOnTheNetworkRefused(t *testing.T) {
	ip := nonLoopbackIP(t)
	var (
		mu   sync.Mutex
		seen []string // what reached the network host: headers and bodies
	)
	far := &httptest.Server{
		Listener: listen(t, net.JoinHostPort(ip, "0")),
		Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			seen = append(seen, r.Header.Get("X-Vault-Token")+" "+string(b))
			mu.Unlock()
			w.WriteHeader(http.StatusInternalServerError)
		})},
	}
	far.Start()
	defer far.Close()
	near := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, far.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer near.Close()

	e := newEnv(t, nil)
	const token = "hvs.redirect-plain-http-token"
	s := e.sink(token, func(o *Options) {
		o.Address = near.URL
		o.Path = template.Must(template.New("path").Parse("exoscale/{{.Name}}"))
	})
	c := e.cred("ci")
	perr := s.Probe(context.Background(), c.Name)
	e.check(perr)
	if perr == nil || !strings.Contains(perr.Error(), "plain http") {
		t.Errorf("Probe: %v, want a refusal of plain http", perr)
	}
	e.check(s.Write(context.Background(), c))
	mu.Lock()
	defer mu.Unlock()
	for _, got := range seen {
		if strings.Contains(got, token) || strings.Contains(got, c.Secret.Reveal()) {
			t.Errorf("plain http to %s (not loopback) carried the token or the secret after a redirect: %.60q", ip, got)
		}
	}
}

// nonLoopbackIP returns an IP address of this host that is not loopback,
// or skips the test.
func nonLoopbackIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Skip("no IPv4 address other than loopback on this host")
	return ""
}

func listen(t *testing.T, addr string) net.Listener {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skip(err)
	}
	return l
}
