package kubeclient

// Review of 19483bb: the gated client's writes go through writeTransport,
// built from rest.TLSConfigFor once. client-go (ClientsAllowCARotation,
// beta and on by default since 1.36) re-reads a CA *file* (the in-cluster
// service account's ca.crt, a kubeconfig's certificate-authority) every 5
// minutes; the hand-built write transport keeps the CA read at creation.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/rotatord/rotatord/internal/kubetest"
)

func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "old cluster CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestGatedWritesFollowCAFileRotation: the cluster's CA file is
// rotated (kube-root-ca.crt updates the pod's ca.crt). Reads pick up the
// new CA within client-go's 5-minute refresh; the writes must too. Takes
// a little over 5 minutes (client-go's fixed refresh period).
func TestGatedWritesFollowCAFileRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for client-go's 5-minute CA refresh")
	}
	c := kubetest.Start(t)
	const ns = "ca-rotation"
	c.CreateNamespace(t, ns)

	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, otherCA(t), 0o600); err != nil {
		t.Fatal(err)
	}
	rc := c.RestConfig(kubetest.Admin)
	kc := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"k": {Server: rc.Host, CertificateAuthority: caFile}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"u": {Token: rc.BearerToken}},
		Contexts:       map[string]*clientcmdapi.Context{"k": {Cluster: "k", AuthInfo: "u"}},
		CurrentContext: "k",
	}, kc); err != nil {
		t.Fatal(err)
	}
	cache := &Cache{Gate: func() (time.Time, error) { return time.Now().Add(time.Minute), nil }}
	cl, err := cache.Client(kc, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// The CA in the file does not (yet) match the server's: both fail.
	if _, err := cl.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); err == nil {
		t.Fatal("a read trusting another CA succeeded")
	}
	// The CA file is rotated to the cluster's current CA.
	if err := os.WriteFile(caFile, c.CAData, 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5*time.Minute + 10*time.Second)
	if _, err := cl.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("a read after client-go's CA refresh: %v", err)
	}
	_, err = cl.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "after-rotation"},
		Data:       map[string][]byte{"k": []byte("v")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("reads follow the rotated CA file but a write still fails: %v", err)
	}
}
