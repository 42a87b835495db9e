package daemon

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/bcrypt"
)

// runWeb runs the daemon with these web options until the test ends, and
// waits until its port accepts connections.
func (e *env) runWeb(o WebOptions) {
	e.t.Helper()
	e.d.opts.Web = o
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.d.Run(ctx, nil) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			e.t.Error("Run did not return after cancel")
		}
	})
	e.eventually("port open", func() bool {
		c, err := net.Dial("tcp", e.listen)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// countingListener counts the connections accepted and not yet closed, and
// the most ever open at once.
type countingListener struct {
	net.Listener
	open, peak, total atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.open.Add(1)
	l.total.Add(1)
	for {
		p := l.peak.Load()
		if n <= p || l.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}

// TestHTTPConnectionLimitAndIdleTimeout: many clients each open a
// keep-alive connection, make one request and stay idle (6,000 such
// connections took the process from 20 MB to 132 MB). The server holds at
// most MaxConnections at once (the others wait in the accept queue), closes
// an idle one after IdleTimeout, and so serves everyone in turn.
func TestHTTPConnectionLimitAndIdleTimeout(t *testing.T) {
	const (
		clients = 200
		limit   = 20
		idle    = 300 * time.Millisecond
	)
	e := newEnv(t)
	counted := &countingListener{}
	e.runWeb(WebOptions{MaxConnections: limit, IdleTimeout: idle, listener: func(l net.Listener) net.Listener {
		counted.Listener = l // by Run, before it serves
		return counted
	}})
	base := counted.total.Load() // the probe of runWeb

	type result struct {
		answered, closed time.Time
		err              error
	}
	results := make([]result, clients)
	var wg sync.WaitGroup
	deadline := time.Now().Add(20 * time.Second)
	for i := range clients {
		c, err := net.Dial("tcp", e.listen)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			r := &results[i]
			c.SetDeadline(deadline)
			if _, r.err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: rotatord\r\n\r\n"); r.err != nil {
				return
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				r.err = fmt.Errorf("no answer: %w", err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			r.answered = time.Now()
			if resp.StatusCode != http.StatusOK {
				r.err = fmt.Errorf("status %d", resp.StatusCode)
				return
			}
			// Idle: the server must close the connection.
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
				r.err = fmt.Errorf("idle connection not closed by the server: %v", err)
				return
			}
			r.closed = time.Now()
		}()
	}
	wg.Wait()

	// One more may be accepted and wait, unserved, for a place (the
	// listener makes room only for a connection that is there).
	if p := counted.peak.Load(); p > limit+1 {
		t.Errorf("%d connections open at once, want at most %d served and one waiting", p, limit)
	}
	// (runWeb's probe may be accepted late: at least, not exactly.)
	if n := counted.total.Load() - base; n < clients {
		t.Errorf("%d connections accepted, want %d", n, clients)
	}
	failed := 0
	for i, r := range results {
		if r.err != nil {
			if failed++; failed <= 5 {
				t.Errorf("client %d: %v", i, r.err)
			}
			continue
		}
		// The idle timeout runs from the end of the answer, which the
		// client sees a little later; a connection may also be closed
		// sooner, when the listener is full and it is the quietest. No
		// lower bound then: on a loaded machine the client may see the
		// answer long after it was sent (55 ms before the close, for 300
		// ms of idle timeout, in a run of the short suite).
		if held := r.closed.Sub(r.answered); held > idle+5*time.Second {
			t.Errorf("client %d: idle connection closed after %v, want about %v", i, held, idle)
		}
	}
	if failed > 5 {
		t.Errorf("... %d clients failed in all", failed)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// TestHTTPSlowHeadersClosed: a client that never finishes its headers
// (slowloris) is cut off after ReadHeaderTimeout.
func TestHTTPSlowHeadersClosed(t *testing.T) {
	e := newEnv(t)
	e.runWeb(WebOptions{ReadHeaderTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", e.listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: rotatord\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(c)
	if err != nil {
		t.Fatalf("connection with unfinished headers not closed: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("closed after %v, want about 200ms", d)
	}
}

func TestWebServerDefaults(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := e.d.newWebServer(ln, e.d.Handler())
	defer w.ln.Close()
	s := w.srv
	if s.ReadHeaderTimeout != DefaultReadHeaderTimeout || s.ReadTimeout != DefaultReadTimeout ||
		s.WriteTimeout != DefaultWriteTimeout || s.IdleTimeout != DefaultIdleTimeout {
		t.Errorf("timeouts: read header %v, read %v, write %v, idle %v", s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
	}
	for _, d := range []time.Duration{s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout} {
		if d <= 0 || d > 2*time.Minute {
			t.Errorf("timeout %v: want one, and not too long", d)
		}
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns a
// pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rotatord test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestWebConfigTLSAndBasicAuth: with --web.config.file every endpoint is
// served over TLS behind basic auth: the right password gets 200, a wrong
// one or none 401, and plain HTTP to the port gets nothing of it.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
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
	e.runWeb(WebOptions{ConfigFile: webConfig})

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(method, path, user, pass string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, "https://"+e.listen+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.TLS == nil {
			t.Errorf("%s %s: not over TLS", method, path)
		}
		return resp.StatusCode, string(b)
	}

	if code, body := get("GET", "/metrics", user, password); code != http.StatusOK || !strings.Contains(body, "rotatord_build_info") {
		t.Errorf("/metrics with the right password = %d %.100q", code, body)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := get("GET", p, user, password); code != http.StatusOK && code != http.StatusServiceUnavailable {
			t.Errorf("%s with the right password = %d", p, code)
		}
	}
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		if code, body := get("GET", p, user, "wrong password"); code != http.StatusUnauthorized || strings.Contains(body, "rotatord_") {
			t.Errorf("%s with a wrong password = %d %.100q, want 401", p, code, body)
		}
		if code, _ := get("GET", p, "", ""); code != http.StatusUnauthorized {
			t.Errorf("%s without a password = %d, want 401", p, code)
		}
		if code, _ := get("GET", p, "someone", password); code != http.StatusUnauthorized {
			t.Errorf("%s as an unknown user = %d, want 401", p, code)
		}
	}
	if code, _ := get("POST", "/-/reload", "", ""); code != http.StatusUnauthorized {
		t.Errorf("POST /-/reload without a password = %d, want 401", code)
	}

	// Plain HTTP to the TLS port: no metrics, whatever the password.
	req, _ := http.NewRequest("GET", "http://"+e.listen+"/metrics", nil)
	req.SetBasicAuth(user, password)
	plain := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	if resp, err := plain.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || strings.Contains(string(b), "rotatord_") {
			t.Errorf("plain HTTP to the TLS port = %d %.100q", resp.StatusCode, b)
		}
	}
	// A client that does not trust the certificate does not connect.
	untrusted := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	if resp, err := untrusted.Get("https://" + e.listen + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("a client without the CA connected")
	}
}

// TestWebConfigInvalid: a web config file that does not load stops Run
// before it serves anything.
func TestWebConfigInvalid(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"unknown field": "tls_server_config:\n  nope: 1\n",
		"missing key":   "tls_server_config:\n  cert_file: cert.pem\n",
		"plain text":    "basic_auth_users:\n  prometheus: not-a-bcrypt-hash\n",
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yml")
			os.WriteFile(path, []byte(content), 0o600)
			e.d.opts.Web.ConfigFile = path
			err := e.d.Run(context.Background(), nil)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("Run = %v, want an error naming %s", err, path)
			}
		})
	}
	if err := ValidateWebConfig(filepath.Join(dir, "nonexistent.yml")); err == nil {
		t.Error("a missing web config file is accepted")
	}
}

func (e *env) request(method, path string, header http.Header) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, "http://"+e.listen+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReloadNeedsLifecycle: without --web.enable-lifecycle /-/reload answers
// 403 like Prometheus does, and reloads nothing.
func TestReloadNeedsLifecycle(t *testing.T) {
	e := newEnv(t)
	e.runWeb(WebOptions{})
	e.writePolicy(ciPolicy + `  - name: backup
    match: {name: "backup-*"}
    sinks:
      - type: file
        path: "out/backup-{{.Name}}.json"
`)
	for _, m := range []string{"POST", "PUT"} {
		code, body := e.request(m, "/-/reload", nil)
		if code != http.StatusForbidden || strings.TrimSpace(body) != "Lifecycle API is not enabled." {
			t.Errorf("%s /-/reload without the lifecycle API = %d %q, want 403", m, code, body)
		}
	}
	if n := len(e.d.Config().Policies); n != 1 {
		t.Errorf("%d policies: the file was reloaded", n)
	}
}

// TestReloadRefusesCrossOriginAndTellsNothing: with the lifecycle API, a
// request a browser makes for a page (Origin, Sec-Fetch-Site) is refused,
// and a refused file answers 400 with no detail (the log has it).
func TestReloadRefusesCrossOriginAndTellsNothing(t *testing.T) {
	e := newEnv(t)
	e.runWeb(WebOptions{EnableLifecycle: true})
	two := ciPolicy + `  - name: backup
    match: {name: "backup-*"}
    sinks:
      - type: file
        path: "out/backup-{{.Name}}.json"
`
	e.writePolicy(two)
	for _, h := range []http.Header{
		{"Origin": {"https://evil.example"}},
		{"Origin": {"http://" + e.listen}},
		{"Origin": {"null"}},
		{"Origin": {""}}, // an Origin header, however empty
		{"Sec-Fetch-Site": {"cross-site"}},
		{"Sec-Fetch-Site": {"same-origin"}},
	} {
		code, _ := e.request("POST", "/-/reload", h)
		if code != http.StatusForbidden {
			t.Errorf("POST /-/reload with %v = %d, want 403", h, code)
		}
	}
	if n := len(e.d.Config().Policies); n != 1 {
		t.Fatalf("%d policies: a cross-origin request reloaded the file", n)
	}
	if code, _ := e.request("GET", "/-/reload", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload = %d, want 405", code)
	}

	// A refused file: 400, no detail.
	secretLine := "api_secret: hunter2-inline-secret\n"
	os.WriteFile(e.config, []byte("exoscale:\n  "+secretLine+"policies: [\n"), 0o600)
	code, body := e.request("POST", "/-/reload", http.Header{"Sec-Fetch-Site": {"none"}})
	if code != http.StatusBadRequest || strings.Contains(body, e.config) || strings.Contains(body, "hunter2") || strings.Contains(body, "policies") {
		t.Errorf("reload of a broken file = %d %q, want 400 without details", code, body)
	}
	if e.logs.FilterMessage("reload rejected; keeping the previous configuration").Len() == 0 {
		t.Error("the reason of the refusal is not logged")
	}

	e.writePolicy(two)
	for _, m := range []string{"POST", "PUT"} {
		if code, body := e.request(m, "/-/reload", nil); code != http.StatusOK {
			t.Errorf("%s /-/reload = %d %q, want 200", m, code, body)
		}
	}
	if n := len(e.d.Config().Policies); n != 2 {
		t.Errorf("%d policies after the reload, want 2", n)
	}
}

// TestInsecureHTTPToExoscaleWarns: exoscale.insecure_http with a plain
// http endpoint on a host that is not loopback is allowed, and logged as a
// loud warning when the daemon builds its API client; loopback is not.
func TestInsecureHTTPToExoscaleWarns(t *testing.T) {
	for _, tt := range []struct {
		endpoint string
		warn     bool
	}{
		{"http://exoscale-proxy.test:8080/v2", true},
		{"http://127.0.0.1:8080/v2", false},
	} {
		t.Run(tt.endpoint, func(t *testing.T) {
			e := newEnv(t)
			body := fmt.Sprintf("exoscale:\n  endpoint: %s\n  insecure_http: true\n  api_key: %s\n  api_secret_file: secret\nstate_dir: state2\npolicies:\n%s",
				tt.endpoint, e.sim.Admin().Key, ciPolicy)
			path := filepath.Join(e.dir, "insecure.yml")
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			core, logs := observer.New(zap.DebugLevel)
			d, err := New(Options{ConfigPath: path, Logger: zap.New(core)})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			n := logs.FilterLevelExact(zap.WarnLevel).FilterMessageSnippet("PLAIN HTTP TO THE EXOSCALE API").Len()
			if (n == 1) != tt.warn || n > 1 {
				t.Errorf("%d warnings, want warning %v", n, tt.warn)
			}
		})
	}
}
