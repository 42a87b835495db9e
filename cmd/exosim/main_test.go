package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v3 "github.com/exoscale/egoscale/v3"
	"go.uber.org/goleak"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// readInfo waits for the info file, checks its mode and decodes it.
func readInfo(t *testing.T, path string, exited <-chan struct{}) info {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := os.Stat(path)
		if err == nil {
			if mode := st.Mode().Perm(); mode != 0o600 {
				t.Errorf("info file mode %o, want 600", mode)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var got info
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("info file %q: %v", data, err)
			}
			return got
		}
		select {
		case <-exited:
			t.Fatal("exosim exited before writing the info file")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the info file")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// useSimulator lists keys with the official SDK through what the info file
// says, and checks the shared contract of the printed line.
func useSimulator(t *testing.T, got info) {
	t.Helper()
	if got.Endpoint != got.URL+"/v2" || !strings.HasPrefix(got.URL, "http://127.0.0.1:") || got.APIKey == "" || got.APISecret == "" {
		t.Fatalf("info = %+v", got)
	}
	c := exosimtest.ClientAt(t, got.Endpoint, exosim.Credential{Key: got.APIKey, Secret: got.APISecret})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list, err := c.ListAPIKeys(ctx)
	if err != nil {
		t.Fatalf("ListAPIKeys: %v", err)
	}
	if _, err := list.FindIAMAPIKey("ci-runner"); err != nil {
		t.Errorf("the default seed's ci-runner is missing: %v", err)
	}
}

func TestRunInProcess(t *testing.T) {
	dir := t.TempDir()
	infoPath := filepath.Join(dir, "info.json")
	faultsPath := filepath.Join(dir, "faults.yml")
	if err := os.WriteFile(faultsPath, []byte("create-api-key:\n  error_next: 1\n  late_apply: 1h\n  late_apply_next: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	exited := make(chan struct{})
	var code int
	go func() {
		defer close(exited)
		code = run(ctx, []string{"-info-file", infoPath, "-faults", faultsPath, "-rand-seed", "3"}, &stdout, &stderr)
	}()

	got := readInfo(t, infoPath, exited)
	useSimulator(t, got)

	// The faults file was applied.
	c := exosimtest.ClientAt(t, got.Endpoint, exosim.Credential{Key: got.APIKey, Secret: got.APISecret})
	reqCtx, reqCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer reqCancel()
	_, err := c.CreateAPIKey(reqCtx, v3.CreateAPIKeyRequest{Name: "x", RoleID: exosim.CIRoleID})
	if !errors.Is(err, v3.ErrInternalServerError) {
		t.Errorf("first create: err = %v, want the injected 500", err)
	}
	// The second create answers but is applied late: not listed yet.
	late, err := c.CreateAPIKey(reqCtx, v3.CreateAPIKeyRequest{Name: "late", RoleID: exosim.CIRoleID})
	if err != nil {
		t.Fatalf("second create: %v", err)
	}
	if _, err := c.GetAPIKey(reqCtx, late.Key); !errors.Is(err, v3.ErrNotFound) {
		t.Errorf("GET of a late-applied key: err = %v, want 404", err)
	}

	cancel()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
	if code != 0 {
		t.Errorf("exit code %d, want 0; stderr:\n%s", code, stderr.String())
	}
	if out := stdout.String(); out != got.Endpoint+"\n" {
		t.Errorf("stdout %q, want the endpoint on one line", out)
	}
	if strings.Contains(stdout.String()+stderr.String(), got.APISecret) {
		t.Error("the admin secret was printed")
	}
	if _, err := os.Stat(infoPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("info file left behind after exit: %v", err)
	}
}

// TestRunWithOrganizations checks that the info file carries each other
// organization's admin, and that it signs in that organization.
func TestRunWithOrganizations(t *testing.T) {
	infoPath := filepath.Join(t.TempDir(), "info.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	exited := make(chan struct{})
	var code int
	go func() {
		defer close(exited)
		code = run(ctx, []string{"-info-file", infoPath, "-seed", "../../apiclient/exosim/testdata/seed-organizations.yml"}, &stdout, &stderr)
	}()

	got := readInfo(t, infoPath, exited)
	green, ok := got.Organizations["green"]
	if got.APIKey != "EXOaaaaaaaaaaaaaaaaaaaaaaaa" || len(got.Organizations) != 2 || !ok || got.Organizations["blue"].Key == "" {
		t.Fatalf("info = %+v, want the default admin and those of green and blue", got)
	}
	c := exosimtest.ClientAt(t, got.Endpoint, green)
	reqCtx, reqCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer reqCancel()
	list, err := c.ListAPIKeys(reqCtx)
	if err != nil {
		t.Fatalf("ListAPIKeys as green: %v", err)
	}
	if _, err := list.FindIAMAPIKey("green-deploy"); err != nil {
		t.Errorf("green's admin does not list green-deploy: %v", err)
	}

	cancel()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
	if code != 0 {
		t.Errorf("exit code %d, want 0; stderr:\n%s", code, stderr.String())
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	badSeed := filepath.Join(dir, "seed.yml")
	if err := os.WriteFile(badSeed, []byte("rolez: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badFaults := filepath.Join(dir, "faults.yml")
	if err := os.WriteFile(badFaults, []byte("nope: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		give       []string
		wantCode   int
		wantStderr string
	}{
		{name: "unknown flag", give: []string{"-nope"}, wantCode: 2, wantStderr: "flag provided but not defined"},
		{name: "extra argument", give: []string{"serve"}, wantCode: 2, wantStderr: "unexpected arguments"},
		{name: "bad seed", give: []string{"-seed", badSeed}, wantCode: 1, wantStderr: "load seed " + badSeed},
		{name: "bad faults", give: []string{"-faults", badFaults}, wantCode: 1, wantStderr: `unknown operation "nope"`},
		{name: "bad listen address", give: []string{"-listen", "127.0.0.1:notaport"}, wantCode: 1, wantStderr: "listen"},
		{name: "info file in a missing directory", give: []string{"-info-file", filepath.Join(dir, "no", "info.json")}, wantCode: 1, wantStderr: "write info file"},
		{name: "certificate without key", give: []string{"-tls-cert", filepath.Join(dir, "cert.pem")}, wantCode: 2, wantStderr: "-tls-key"},
		{name: "key without certificate", give: []string{"-tls-key", filepath.Join(dir, "key.pem")}, wantCode: 2, wantStderr: "-tls-cert"},
		{name: "missing certificate files", give: []string{"-tls-cert", filepath.Join(dir, "no-cert.pem"), "-tls-key", filepath.Join(dir, "no-key.pem")}, wantCode: 1, wantStderr: "no-cert.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			code := run(context.Background(), tt.give, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

// writeCert writes a self-signed ECDSA certificate for 127.0.0.1 and its
// key as PEM files in dir, and returns their paths and the certificate.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "exosim test"},
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
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// TestRunServesTLS checks that with -tls-cert and -tls-key the simulator
// answers over TLS a client that trusts the certificate, says https in
// its info file, and gives no answer to plain http.
func TestRunServesTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, cert := writeCert(t, dir)
	infoPath := filepath.Join(dir, "info.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	exited := make(chan struct{})
	var code int
	go func() {
		defer close(exited)
		code = run(ctx, []string{"-info-file", infoPath, "-tls-cert", certFile, "-tls-key", keyFile}, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Fatal("run did not return after cancellation")
		}
		if code != 0 {
			t.Errorf("exit code %d, want 0; stderr:\n%s", code, stderr.String())
		}
	}()

	got := readInfo(t, infoPath, exited)
	if !strings.HasPrefix(got.URL, "https://127.0.0.1:") || got.Endpoint != got.URL+"/v2" {
		t.Fatalf("info = %+v, want an https URL and its /v2 endpoint", got)
	}

	roots := x509.NewCertPool()
	roots.AddCert(cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := client.Get(got.URL + "/_sim/keys")
	if err != nil {
		t.Fatalf("GET over TLS: %v", err)
	}
	var keys []exosim.KeyRecord
	err = json.NewDecoder(resp.Body).Decode(&keys)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("GET over TLS: status %d, TLS %v, decode error %v", resp.StatusCode, resp.TLS != nil, err)
	}
	if len(keys) == 0 {
		t.Error("GET /_sim/keys over TLS listed no key of the default seed")
	}

	// The same address in plain http gets no answer of the simulator.
	plainTr := &http.Transport{}
	defer plainTr.CloseIdleConnections()
	plain := &http.Client{Transport: plainTr, Timeout: 5 * time.Second}
	resp, err = plain.Get("http://" + strings.TrimPrefix(got.URL, "https://") + "/_sim/keys")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain http to the TLS listener answered %s", resp.Status)
		}
	}
}

// TestBinaryStopsOnSIGTERM builds the real binary and stops it the way a
// script or a service manager would.
func TestBinaryStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "exosim")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	infoPath := filepath.Join(dir, "info.json")
	cmd := exec.Command(bin, "-info-file", infoPath)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		for sc.Scan() { // drain until the pipe closes, before Wait
		}
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	got := readInfo(t, infoPath, exited)
	useSimulator(t, got)
	if l := <-line; l != got.Endpoint {
		t.Errorf("stdout line %q, want %q", l, got.Endpoint)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("exosim did not exit after SIGTERM")
	}
	if waitErr != nil {
		t.Errorf("exit after SIGTERM: %v; stderr:\n%s", waitErr, stderr.String())
	}
	if !strings.Contains(stderr.String(), "exosim: stopping") {
		t.Errorf("stderr %q lacks the stop message", stderr.String())
	}
}
