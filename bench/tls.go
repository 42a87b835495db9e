package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// writeCert writes a self-signed ECDSA P-256 certificate for 127.0.0.1,
// valid for a day, and its key (mode 0600) as PEM files in dir: the
// simulator of the TLS pass serves it, and rotatord trusts it through
// SSL_CERT_FILE.
func writeCert(dir string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "rotatord bench exosim"},
		// A minute back: the clocks of the processes are the same, but
		// a certificate valid from this very second is refused a
		// millisecond earlier.
		NotBefore:   now.Add(-time.Minute),
		NotAfter:    now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// Its own issuer: SSL_CERT_FILE makes it a root.
		IsCA: true, BasicConstraintsValid: true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// trustingClient is an HTTP client that trusts only the certificate in
// certFile, for the bench's own calls (/_sim/) to a simulator serving it.
func trustingClient(certFile string) (*http.Client, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("no certificate in %s", certFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	return &http.Client{Transport: tr}, nil
}

// measureTLS runs the forced pass against a simulator serving HTTPS, as
// the real API does: rotatord pays the handshakes (a create's own
// connection resumes the session) and the encryption of every request
// and answer.
func (b *bencher) measureTLS(ctx context.Context) (*pass, error) {
	n := b.p.tlsN
	b.logf("over TLS: n=%d, rotatord trusting exosim's certificate through SSL_CERT_FILE", n)
	dir := filepath.Join(b.p.workDir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cert, key, err := writeCert(dir)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	pa, err := b.adoptAndForce(ctx, "tls", simSpec{managed: n, latency: b.p.latency, tlsCert: cert, tlsKey: key}, b.policy())
	if err != nil {
		return nil, err
	}
	if err := checkOverTLS(pa.served); err != nil {
		return nil, err
	}
	b.logf("over TLS: the simulator served the forced pass's %d calls over TLS, %s", pa.served.calls, protocol(pa.served))
	return &pa, nil
}

// checkOverTLS makes sure, on the simulator's side, that the pass it
// served came over TLS: an https URL alone does not show it.
func checkOverTLS(s served) error {
	if s.calls == 0 {
		return fmt.Errorf("no call of the pass in the simulator's request log: not known to be over TLS (%s)", s.unknown)
	}
	if s.overTLS != s.calls {
		// An exosim built before its log said "tls" (-bin) shows none.
		return fmt.Errorf("%d of the pass's %d calls came in plain http, as the simulator's request log says", s.calls-s.overTLS, s.calls)
	}
	return nil
}

// protocol says in which HTTP version the simulator served the calls of
// s: rotatord's client offers HTTP/2 over TLS, as the real API does,
// except with leader election (fenced connections speak HTTP/1.1).
func protocol(s served) string {
	switch s.h2 {
	case s.calls:
		return "HTTP/2"
	case 0:
		return "HTTP/1.1"
	}
	return fmt.Sprintf("HTTP/2 for %d of %d calls, HTTP/1.1 for the others", s.h2, s.calls)
}
