// Package vaulttest runs a real HashiCorp Vault dev server for the tests of
// the Vault sink and the end-to-end tests.
//
// The binary comes from $ROTATORD_VAULT_BIN (scripts/test sets it), or else
// from the cache of scripts/tools/vault when a build is already there: the
// tests never start the 17-minute build themselves. Without a binary the
// tests skip, unless $ROTATORD_REQUIRE_VAULT=1 (set in CI), which makes the
// absence a failure.
package vaulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Version is the Vault version scripts/tools/vault builds.
const Version = "v1.21.0"

// RootToken is the dev server's root token.
const RootToken = "root"

// Environment variables.
const (
	EnvBin     = "ROTATORD_VAULT_BIN"
	EnvRequire = "ROTATORD_REQUIRE_VAULT"
)

// Find returns the path of the Vault binary, or "" and why there is none.
func Find() (string, string) {
	if bin := os.Getenv(EnvBin); bin != "" {
		if fi, err := os.Stat(bin); err != nil || !fi.Mode().IsRegular() {
			return "", fmt.Sprintf("%s=%s: not a file (%v)", EnvBin, bin, err)
		}
		return bin, ""
	}
	cached := cachePath()
	if _, err := os.Stat(cached); err != nil {
		return "", fmt.Sprintf("no Vault binary: set %s, or run scripts/tools/vault once (it builds %s into %s, about 17 minutes)",
			EnvBin, Version, cached)
	}
	// The script checks the cached binary runs, and prints its path.
	if script := findScript(); script != "" {
		out, err := exec.Command(script).Output()
		if err != nil {
			return "", fmt.Sprintf("%s: %v", script, err)
		}
		return strings.TrimSpace(string(out)), ""
	}
	return cached, ""
}

// cachePath mirrors scripts/tools/vault.
func cachePath() string {
	cache := os.Getenv("ROTATORD_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "rotatord")
	}
	return filepath.Join(cache, "vault-"+Version, "vault")
}

// findScript looks for scripts/tools/vault in the working directory and
// its parents (a test runs in its package directory).
func findScript() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, "scripts", "tools", "vault")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Required reports whether a missing Vault must fail the tests.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// Server is a running `vault server -dev`.
type Server struct {
	// Addr is the server's URL, http://127.0.0.1:<port>.
	Addr string
	// LogPath holds the server's output.
	LogPath string

	bin, dir string
	cmd      *exec.Cmd
	waited   chan struct{}
	http     *http.Client
}

// Start runs a dev server on a free loopback port, with RootToken as its
// root token and KV v2 at secret/, and waits until it serves. dir receives
// its log.
func Start(bin, dir string) (*Server, error) {
	var lastErr error
	for range 3 { // the free port may be taken before Vault binds it
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addr := l.Addr().String()
		l.Close()
		s, err := start(bin, dir, addr)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// Restart starts a new dev server at the same address after Stop. Like
// every dev server it starts empty: only the root token and secret/.
func (s *Server) Restart() error {
	s.Stop()
	n, err := start(s.bin, s.dir, strings.TrimPrefix(s.Addr, "http://"))
	if err != nil {
		return err
	}
	*s = *n
	return nil
}

func start(bin, dir, addr string) (*Server, error) {
	logf, err := os.CreateTemp(dir, "vault-*.log")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "server", "-dev",
		"-dev-root-token-id="+RootToken,
		"-dev-listen-address="+addr,
		"-dev-no-store-token", // leave ~/.vault-token alone
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Nothing from the test's environment: no VAULT_* variable changes the
	// server, and the home directory is the temp dir.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{
		Addr:    "http://" + addr,
		LogPath: logf.Name(),
		bin:     bin,
		dir:     dir,
		cmd:     cmd,
		waited:  make(chan struct{}),
		http:    &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second},
	}
	go func() { _ = cmd.Wait(); close(s.waited) }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.waited:
			return nil, fmt.Errorf("vault server exited at start: %s", s.tail())
		default:
		}
		if s.healthy() {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("vault server not healthy after 60s: %s", s.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) healthy() bool {
	resp, err := s.http.Get(s.Addr + "/v1/sys/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// tail is the end of the server's log, for errors.
func (s *Server) tail() string {
	b, _ := os.ReadFile(s.LogPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Stop stops the server (SIGTERM, then SIGKILL after 10s) and waits for it.
// It may be called more than once.
func (s *Server) Stop() {
	select {
	case <-s.waited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.waited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.waited
	}
}

// Error is Vault's answer to a failed request.
type Error struct {
	Status int
	Errors []string
}

func (e *Error) Error() string {
	return fmt.Sprintf("vault: HTTP %d: %s", e.Status, strings.Join(e.Errors, "; "))
}

// Do sends a request with token to /v1/<path> and decodes the JSON answer
// into out when not nil.
func (s *Server) Do(ctx context.Context, token, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.Addr+"/v1/"+path, r)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Errors []string }
		_ = json.Unmarshal(b, &e)
		return &Error{Status: resp.StatusCode, Errors: e.Errors}
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Root is Do with the root token, failing t on error.
func (s *Server) Root(t testing.TB, method, path string, body, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Do(ctx, RootToken, method, path, body, out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

// IsStatus reports whether err is Vault answering status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}
