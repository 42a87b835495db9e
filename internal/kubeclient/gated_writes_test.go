package kubeclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/transport"
)

type seen struct {
	method, proto, remote, cn string
	auth, user, groups, ua    []string
}

func recordingServer(t *testing.T) (*httptest.Server, func() []seen) {
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{method: r.Method, proto: r.Proto, remote: r.RemoteAddr,
			auth: r.Header.Values("Authorization"), user: r.Header.Values("Impersonate-User"),
			groups: r.Header.Values("Impersonate-Group"), ua: r.Header.Values("User-Agent")}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			s.cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		mu.Lock()
		got = append(got, s)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`))
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, func() []seen { mu.Lock(); defer mu.Unlock(); return append([]seen(nil), got...) }
}

func kubeconfigFor(t *testing.T, srv *httptest.Server, ai *clientcmdapi.AuthInfo) string {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: srv.URL, CertificateAuthorityData: ca}
	kc.AuthInfos["u"] = ai
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func leads() (time.Time, error) { return time.Now().Add(time.Minute), nil }

// writeThenRead creates Secret ns/x through cl, then reads it: one write
// and one read, the two routes of a gated client.
func writeThenRead(t *testing.T, cl kubernetes.Interface) {
	t.Helper()
	ctx := t.Context()
	if _, err := cl.CoreV1().Secrets("ns").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CoreV1().Secrets("ns").Get(ctx, "x", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestAuthOnceOnWrites(t *testing.T) {
	srv, got := recordingServer(t)
	path := kubeconfigFor(t, srv, &clientcmdapi.AuthInfo{Token: "tok", Impersonate: "alice", ImpersonateGroups: []string{"g1", "g2"}})
	cl, err := (&Cache{Gate: leads}).Client(path, "")
	if err != nil {
		t.Fatal(err)
	}
	writeThenRead(t, cl)
	for _, s := range got() {
		t.Logf("%+v", s)
		if len(s.auth) != 1 || s.auth[0] != "Bearer tok" || len(s.user) != 1 || len(s.groups) != 2 || len(s.ua) != 1 {
			t.Errorf("%s %s: Authorization %q Impersonate-User %q Impersonate-Group %q UA %q", s.method, s.proto, s.auth, s.user, s.groups, s.ua)
		}
	}
}

func clientCertPEM(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

// An exec plugin's client certificate is presented on write connections,
// and a rotated one closes them.
func TestExecCertOnWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for client-go to pick up a rotated certificate (seconds)")
	}
	srv, got := recordingServer(t)
	dir := t.TempDir()
	credFile := filepath.Join(dir, "cred.json")
	writeCred := func(cn string, exp time.Time) {
		c, k := clientCertPEM(t, cn)
		b, _ := json.Marshal(map[string]any{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
			"status": map[string]any{"clientCertificateData": string(c), "clientKeyData": string(k), "expirationTimestamp": exp.UTC().Format(time.RFC3339)}})
		if err := os.WriteFile(credFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(dir, "plugin.sh")
	if err := os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\ncat %s\n", credFile)), 0o755); err != nil {
		t.Fatal(err)
	}
	writeCred("first", time.Now().Add(2*time.Second))
	path := kubeconfigFor(t, srv, &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{Command: script, APIVersion: "client.authentication.k8s.io/v1", InteractiveMode: clientcmdapi.NeverExecInteractiveMode}})
	cl, err := (&Cache{Gate: leads}).Client(path, "")
	if err != nil {
		t.Fatal(err)
	}
	create := func() { writeThenRead(t, cl) }
	create()
	writeCred("second", time.Now().Add(time.Hour))
	time.Sleep(3 * time.Second)
	create()
	g := got()
	for _, s := range g {
		t.Logf("%s %s %s cn=%q auth=%q", s.method, s.proto, s.remote, s.cn, s.auth)
	}
	if len(g) != 4 || g[0].cn != "first" || g[1].cn != "first" || g[2].cn != "second" || g[3].cn != "second" {
		t.Errorf("client certificates seen: want first,first,second,second")
	}
}

// tls-server-name, proxy-url and disable-compression hold for writes.
func TestKubeconfigConnOptionsOnWrites(t *testing.T) {
	srv, got := recordingServer(t)
	var mu sync.Mutex
	var connects []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "no", 400)
			return
		}
		mu.Lock()
		connects = append(connects, r.Host)
		mu.Unlock()
		up, err := (&net.Dialer{}).Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		hj, _ := w.(http.Hijacker)
		w.WriteHeader(200)
		c, buf, _ := hj.Hijack()
		go func() { _, _ = io.Copy(up, buf); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}))
	t.Cleanup(proxy.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://localhost:" + port, CertificateAuthorityData: ca,
		TLSServerName: "example.com", ProxyURL: proxy.URL, DisableCompression: true}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "tok"}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	cl, err := (&Cache{Gate: leads}).Client(path, "")
	if err != nil {
		t.Fatal(err)
	}
	writeThenRead(t, cl)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("CONNECTs %q; requests %+v", connects, got())
	if len(connects) != 2 {
		t.Errorf("want one CONNECT per side, got %q", connects)
	}
}

// README: "a rotated client certificate file takes a restart for them" —
// no longer so since 1c5ede1: client-go reloads it for writes too.
func TestClientCertFileRotationOnWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for client-go to pick up a rotated certificate (seconds)")
	}
	old := transport.CertCallbackRefreshDuration
	transport.CertCallbackRefreshDuration = time.Second
	t.Cleanup(func() { transport.CertCallbackRefreshDuration = old })
	srv, got := recordingServer(t)
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	put := func(cn string) {
		c, k := clientCertPEM(t, cn)
		if err := os.WriteFile(cf, c, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(kf, k, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	put("first")
	path := kubeconfigFor(t, srv, &clientcmdapi.AuthInfo{ClientCertificate: cf, ClientKey: kf})
	cl, err := (&Cache{Gate: leads}).Client(path, "")
	if err != nil {
		t.Fatal(err)
	}
	create := func() { writeThenRead(t, cl) }
	create()
	put("second")
	time.Sleep(4 * time.Second)
	create()
	g := got()
	t.Logf("%+v", g)
	last := g[len(g)-2] // the write; the read follows it
	if last.method != http.MethodPost || last.cn != "second" {
		t.Errorf("the write after the file rotated: %s with certificate %q, want a POST with %q", last.method, last.cn, "second")
	}
}
