package daemon

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// The web configuration file decides who may read /metrics and reload
// rotatord (basic auth, TLS): one every user may write would let anyone
// on the host remove the password. Refused at the start (and a reload),
// naming the file and its mode, as the policy file is.
func TestAWebConfigFileEveryUserMayWriteIsRefused(t *testing.T) {
	dir := t.TempDir()
	web := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(web, []byte("basic_auth_users:\n  ops: $2y$10$abcdefghijklmnopqrstuu5Tr5Tr5Tr5Tr5Tr5Tr5Tr5Tr5Tr5Tr\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(web, 0o666); err != nil {
		t.Fatal(err)
	}
	err := checkWebConfigFiles(web)
	if err == nil || !strings.Contains(err.Error(), "everyone may write it") || !strings.Contains(err.Error(), "web.yml") {
		t.Fatalf("checkWebConfigFiles of a 0666 file = %v, want a refusal naming the file and its mode", err)
	}
	if err := os.Chmod(web, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkWebConfigFiles(web); err != nil {
		t.Errorf("checkWebConfigFiles of a 0644 file = %v, want it accepted", err)
	}
}

// The TLS files the web configuration names decide who may connect as
// much as the file itself: a client_ca_file every user may write lets
// anyone add a CA of their own and pass client certificate auth. Refused
// the same way, naming the field, the file and its mode.
func TestATLSFileTheWebConfigNamesEveryUserMayWriteIsRefused(t *testing.T) {
	for _, field := range []string{"cert_file", "key_file", "client_ca_file"} {
		t.Run(field, func(t *testing.T) {
			dir := t.TempDir()
			tlsFile := filepath.Join(dir, "tls.pem")
			if err := os.WriteFile(tlsFile, []byte("x\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			web := filepath.Join(dir, "web.yml")
			if err := os.WriteFile(web, []byte("tls_server_config:\n  "+field+": tls.pem\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(tlsFile, 0o646); err != nil {
				t.Fatal(err)
			}
			err := checkWebConfigFiles(web)
			if err == nil || !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), "tls.pem") || !strings.Contains(err.Error(), "0646") {
				t.Fatalf("checkWebConfigFiles with a 0646 %s = %v, want a refusal naming the field, the file and its mode", field, err)
			}
			if err := os.Chmod(tlsFile, 0o640); err != nil {
				t.Fatal(err)
			}
			if err := checkWebConfigFiles(web); err != nil {
				t.Errorf("checkWebConfigFiles with a 0640 %s = %v, want it accepted", field, err)
			}
		})
	}
}

// The exporter toolkit reads the web configuration again at each
// request: one made writable by every user after the start would let
// anyone remove the basic auth at once, whatever a reload says. Such a
// file is refused at each request too: nothing but the health endpoints
// is served while it is.
func TestAWebConfigFileMadeWritableByEveryUserAfterTheStartServesNothing(t *testing.T) {
	e := newEnv(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse battery staple"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(web, fmt.Appendf(nil, "basic_auth_users:\n  prometheus: %s\n", hash), 0o600); err != nil {
		t.Fatal(err)
	}
	e.runWeb(WebOptions{ConfigFile: web})
	if code, _ := e.request("GET", "/metrics", nil); code != http.StatusUnauthorized {
		t.Fatalf("/metrics without a password = %d, want 401", code)
	}

	if err := os.Chmod(web, 0o666); err != nil {
		t.Fatal(err)
	}
	// Anyone on the host now removes the password.
	if err := os.WriteFile(web, []byte("http_server_config: {}\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/metrics", "/-/reload"} {
		method := "GET"
		if p == "/-/reload" {
			method = "POST"
		}
		if code, body := e.request(method, p, nil); code < 500 || strings.Contains(body, "rotatord_") {
			t.Errorf("%s %s without a password, the web config file 0666 = %d %.100q, want it refused", method, p, code, body)
		}
	}
	// The health endpoints still answer: they tell nothing, and failing
	// them would have a kubelet restart rotatord into a start that refuses
	// the same file, rotations stopped, where /metrics failing already
	// shows the scrape target down.
	for _, p := range []string{"/healthz", "/-/healthy"} {
		if code, _ := e.request("GET", p, nil); code != http.StatusOK {
			t.Errorf("GET %s, the web config file 0666 = %d, want 200", p, code)
		}
	}

	// Made private again (and its password put back): served again.
	if err := os.Chmod(web, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(web, fmt.Appendf(nil, "basic_auth_users:\n  prometheus: %s\n", hash), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _ := e.request("GET", "/metrics", nil); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a password, the file private again = %d, want 401", code)
	}
}

// As the policy file: a web configuration file in a directory every user
// may write without the sticky bit is refused, naming the directory and
// its mode (anyone could replace the file there); with the sticky bit, as
// in /tmp, it is accepted.
func TestAWebConfigFileInADirectoryEveryUserMayWriteIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(web, []byte("http_server_config: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	err := checkWebConfigFiles(web)
	if err == nil || !strings.Contains(err.Error(), "web.yml") || !strings.Contains(err.Error(), "0777") {
		t.Fatalf("checkWebConfigFiles in a 0777 directory = %v, want a refusal naming the file and the directory's mode", err)
	}
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := checkWebConfigFiles(web); err != nil {
		t.Errorf("checkWebConfigFiles in a sticky 0777 directory = %v, want it accepted", err)
	}
}

// While the web configuration file is refused, nobody may trust what it
// says: anyone may have written it. The health endpoints, still served,
// must not read it: users of the writer's own would fail the kubelet's
// probes (401, the restart into a start that refuses the same file,
// rotations stopped, that serving them avoids), and a user's bcrypt hash
// of cost 31 would have a probe sending that user's name compute it for
// a day, holding the toolkit's one bcrypt lock and the probes' places.
func TestAWebConfigFileEveryUserMayWriteDecidesNothingForTheHealthEndpoints(t *testing.T) {
	e := newEnv(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse battery staple"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(web, fmt.Appendf(nil, "basic_auth_users:\n  prometheus: %s\n", hash), 0o600); err != nil {
		t.Fatal(err)
	}
	e.runWeb(WebOptions{ConfigFile: web})
	kubelet := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("prometheus:correct horse battery staple"))}}
	if code, _ := e.request("GET", "/healthz", kubelet); code != http.StatusOK {
		t.Fatalf("/healthz with the password = %d, want 200", code)
	}

	if err := os.Chmod(web, 0o666); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		// Another user only: the kubelet's password is no longer one.
		"users of its own": "basic_auth_users:\n  mallory: $2a$31$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy\n",
		// Not YAML: the toolkit answers 500.
		"unparsable": "basic_auth_users: [\n",
	} {
		if err := os.WriteFile(web, []byte(content), 0o666); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/healthz", "/-/healthy", "/readyz"} {
			if code, body := e.request("GET", p, kubelet); code != http.StatusOK && code != http.StatusServiceUnavailable {
				t.Errorf("%s: GET %s, the web config file 0666 = %d %.100q, want it answered", name, p, code, body)
			}
		}
		if code, body := e.request("GET", "/metrics", kubelet); code < 500 || strings.Contains(body, "rotatord_") {
			t.Errorf("%s: GET /metrics, the web config file 0666 = %d %.100q, want it refused", name, code, body)
		}
	}
}
