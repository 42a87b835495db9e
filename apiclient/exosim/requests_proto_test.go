package exosim_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// selfSigned returns a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots
}

// TestRequestLogProtocol: each logged call says the HTTP version it came
// in (proto), whether over TLS and from which client address (remote), so
// that a benchmark can tell what it measured and on how many connections: a server started with StartTLS serves HTTP/2 to a client that
// offers it and HTTP/1.1 to one that does not, and Start serves plain
// HTTP/1.1.
func TestRequestLogProtocol(t *testing.T) {
	cert, roots := selfSigned(t)
	tlsSrv, err := exosim.StartTLS(exosim.DefaultSeed(), "127.0.0.1:0", cert)
	if err != nil {
		t.Fatal(err)
	}
	defer tlsSrv.Close()
	plainSrv, err := exosim.Start(exosim.DefaultSeed(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plainSrv.Close()

	h2 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	var only1 http.Protocols
	only1.SetHTTP1(true)
	h1 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, Protocols: &only1}
	for _, tr := range []*http.Transport{h2, h1} {
		defer tr.CloseIdleConnections()
	}
	tests := []struct {
		name      string
		url       string
		transport *http.Transport
		wantProto string
		wantTLS   bool
	}{
		{"TLS, HTTP/2 offered", tlsSrv.URL, h2, "HTTP/2.0", true},
		{"TLS, HTTP/1.1 only", tlsSrv.URL, h1, "HTTP/1.1", true},
		{"plain", plainSrv.URL, h1, "HTTP/1.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := &http.Client{Transport: tt.transport, Timeout: 10 * time.Second}
			// Unsigned: answered 403, and logged like any API call.
			resp, err := client.Get(tt.url + "/v2/api-key/EXO1")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			resp, err = client.Get(tt.url + "/_sim/requests")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			// Decoded loosely: a field the log lacks must fail here, not
			// compile away.
			var log struct {
				Requests []map[string]any `json:"requests"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&log); err != nil {
				t.Fatal(err)
			}
			last := log.Requests[len(log.Requests)-1]
			if last["proto"] != tt.wantProto || last["tls"] != tt.wantTLS {
				t.Errorf("logged call %v: proto %v, tls %v; want %q, %v", last, last["proto"], last["tls"], tt.wantProto, tt.wantTLS)
			}
			// The client's end of the connection: calls from one
			// connection share it, whoever closes it and however.
			remote, _ := last["remote"].(string)
			if host, _, err := net.SplitHostPort(remote); err != nil || host != "127.0.0.1" {
				t.Errorf("logged call %v: remote %q, want the client's 127.0.0.1:PORT", last, remote)
			}
		})
	}
}
