package kubeclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKubeconfigClientCertAndKeyLoad: a client certificate holds the
// public half of its key, and so does the key's PEM (an EC key's public
// point, an RSA key's modulus): base64 of the two PEMs share runs of
// characters whenever the certificate's layout (its subject's length)
// aligns them. The check of a client key written elsewhere in the file
// read that as the key copied into client-certificate-data and refused
// every such kubeconfig at start and at each reload (a kubeadm-style
// admin kubeconfig with CN "admin" and an EC key, one with an RSA key and
// CN "x": all of them, whatever the key). A certificate is the key's own
// companion: it never counts as a copy of the key.
func TestKubeconfigClientCertAndKeyLoad(t *testing.T) {
	dir := t.TempDir()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keys := []struct {
		name      string
		pub, priv any
		pem       []byte
	}{
		{"ec", &ec.PublicKey, ec, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})},
		{"rsa", &rk.PublicKey, rk, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})},
	}
	b64 := base64.StdEncoding.EncodeToString
	for _, k := range keys {
		// Subjects of every length modulo 3 (and then some): the
		// alignment of the public key in the two encodings follows it.
		for n := 1; n <= 9; n++ {
			cn := strings.Repeat("a", n)
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(n)), Subject: pkix.Name{CommonName: cn, Organization: []string{"system:masters"}},
				NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.pub, k.priv)
			if err != nil {
				t.Fatal(err)
			}
			cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
			doc := "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: " + b64(cert) +
				"\nusers:\n- name: u\n  user:\n    client-certificate-data: " + b64(cert) + "\n    client-key-data: " + b64(k.pem) +
				"\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\ncurrent-context: c\n"
			path := filepath.Join(dir, "kubeconfig")
			if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(path); err != nil {
				t.Errorf("%s key, certificate of CN %q: %v", k.name, cn, err)
			}
		}
	}
}
