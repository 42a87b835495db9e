//go:build unix

package kubeclient

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// clientOrHang runs Cache.Client and fails the test when it is still
// waiting after a minute (a blocking open of a named pipe): it then opens
// the pipes for writing, which ends the opens, so that the test ends.
func clientOrHang(t *testing.T, kubeconfig string, fifos ...string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		var c Cache
		_, err := c.Client(kubeconfig, "")
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		for range 5 { // each blocking open waits for a writer
			for _, f := range fifos {
				if w, err := os.OpenFile(f, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					w.Close()
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("the client of %s waits on a named pipe", kubeconfig)
		return nil
	}
}

// tempDir is a directory whose name does not look like a secret, which
// the errors would not show (secret.ShownPath).
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kube")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
}

// A named pipe at the kubeconfig path (client-go's blocking read held
// `rotatord run` at its start, and validate said "valid") is refused at
// once, naming the file.
func TestClientRefusesANamedPipeAsKubeconfig(t *testing.T) {
	dir := tempDir(t)
	kc := filepath.Join(dir, "kc")
	mkfifo(t, kc)
	err := clientOrHang(t, kc, kc)
	if err == nil || !strings.Contains(err.Error(), kc) || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("got %v, want an error naming %s: not a regular file", err, kc)
	}
}

const kubeconfigWith = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: %SERVER%
    certificate-authority: %CA%
users:
- name: u
  user:
%USER%
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
`

func writeKubeconfig(t *testing.T, path, server, ca, user string) {
	t.Helper()
	s := strings.NewReplacer("%SERVER%", server, "%CA%", ca, "%USER%", user).Replace(kubeconfigWith)
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The files a kubeconfig names (certificate-authority, client-certificate,
// client-key, tokenFile; relative to the kubeconfig's directory as
// client-go resolves them) are refused when they are not regular files,
// naming the field and the file, before client-go opens them.
func TestClientRefusesANamedPipeNamedByKubeconfig(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	for _, tc := range []struct {
		field, pipe, user string
	}{
		{"certificate-authority", "ca.crt", "    token: abc"},
		{"tokenFile", "token", "    tokenFile: token"},
		{"client-certificate", "client.crt", "    client-certificate: client.crt\n    client-key: client.key"},
		{"client-key", "client.key", "    client-certificate: client.crt\n    client-key: client.key"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			dir := tempDir(t)
			sub := filepath.Join(dir, "sub")
			if err := os.Mkdir(sub, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"ca.crt", "token", "client.crt", "client.key"} {
				if err := os.WriteFile(filepath.Join(sub, f), caPEM, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			pipe := filepath.Join(sub, tc.pipe)
			os.Remove(pipe)
			mkfifo(t, pipe)
			kc := filepath.Join(sub, "kubeconfig")
			writeKubeconfig(t, kc, srv.URL, "ca.crt", tc.user)
			// Run from elsewhere: the relative paths are the kubeconfig's.
			t.Chdir(dir)
			err := clientOrHang(t, kc, pipe)
			if err == nil || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), pipe) ||
				!strings.Contains(err.Error(), "not a regular file") {
				t.Fatalf("got %v, want an error naming %s %s: not a regular file", err, tc.field, pipe)
			}
		})
	}
}

// A kubeconfig read as bytes still resolves its relative paths against its
// own directory, as client-go's loader does: the client trusts the CA the
// kubeconfig names beside it, and reaches the server.
func TestClientResolvesKubeconfigPathsAgainstItsDirectory(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"major":"1","minor":"31","gitVersion":"v1.31.0"}`))
	}))
	defer srv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "ca.crt"), caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "token"), []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(sub, "kubeconfig")
	writeKubeconfig(t, kc, srv.URL, "ca.crt", "    tokenFile: token")
	t.Chdir(dir)
	var c Cache
	cl, err := c.Client(kc, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Discovery().ServerVersion(); err != nil {
		t.Fatalf("the client does not reach the server with the CA beside the kubeconfig: %v", err)
	}
}

// A file the kubeconfig names that becomes a named pipe after the client
// was made (client-go re-reads the CA file, the client certificate and
// the token file later) is refused when the client is asked for again,
// as a reload does, naming the field and the file.
func TestClientAskedAgainRefusesAFilePlantedSince(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	dir := tempDir(t)
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(dir, "kubeconfig")
	writeKubeconfig(t, kc, srv.URL, "ca.crt", "    token: abc")
	var c Cache
	if _, err := c.Client(kc, ""); err != nil {
		t.Fatal(err)
	}
	os.Remove(ca)
	mkfifo(t, ca)
	_, err := c.Client(kc, "")
	if err == nil || !strings.Contains(err.Error(), "certificate-authority") || !strings.Contains(err.Error(), ca) ||
		!strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("got %v, want an error naming certificate-authority %s: not a regular file", err, ca)
	}
}
