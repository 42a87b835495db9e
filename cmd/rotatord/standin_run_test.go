package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// rotatordBinary returns the real binary: ROTATORD_BIN, or one built once
// for the tests (not with -short).
func rotatordBinary(t *testing.T) string {
	if bin := os.Getenv("ROTATORD_BIN"); bin != "" {
		return bin
	}
	if testing.Short() {
		t.Skip("builds the binary")
	}
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rotatord-standin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "rotatord")
		out, err := exec.Command("go", "build", "-o", binaryPath, ".").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// binaryModes picks the stand-in's liberties the binary tests take: a few
// (every one with STANDIN_ALL=1, those whose name has STANDIN_MODE in it
// with that set).
func binaryModes(name string) bool {
	if f := os.Getenv("STANDIN_MODE"); f != "" {
		return strings.Contains(name, f)
	}
	if os.Getenv("STANDIN_ALL") != "" {
		return true
	}
	switch name {
	case "plain", "everything", "sparse answers", "pending delete", "idle connections closed",
		"every third request 429, Retry-After 1", "HTML error pages, unknown key 403", "null and unknown fields":
		return true
	}
	return false
}

// TestStandInRunBinary runs the real rotatord binary's daemon against the
// stand-in for a while, rotating every few seconds.
func TestStandInRunBinary(t *testing.T) {
	bin := rotatordBinary(t)
	for _, tt := range standInModes {
		if tt.ownOnly || tt.failsFirst || !binaryModes(tt.name) {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStandIn(t, tt.configure)
			names := []string{"app-1", "app-2", "app-3"}
			olds := map[string]string{}
			for _, n := range names {
				olds[n] = s.seed(n).secret
			}
			dir, config := standInConfig(t, s)
			b, _ := os.ReadFile(config)
			c := strings.Replace(string(b), "    grace_period: 0s\n", "    grace_period: 2s\n    max_age: 4s\n    schedule: \"@every 1s\"\n", 1)
			c = strings.Replace(c, "state_dir: state\n", "state_dir: state\nlisten: 127.0.0.1:0\n", 1)
			if err := os.WriteFile(config, []byte(c), 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			cmd := exec.Command(bin, "run", "--config.file", config, "--web.listen-address", "127.0.0.1:0")
			cmd.Env = append(os.Environ(), "ROTATORD_TEST_MIN_SCHEDULE=1s")
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// 20 s of rotations every few seconds, then until every name
			// was delivered once: on a loaded machine (CI), a create that
			// timed out waits the settle time (twice the timeout) before
			// its orphan search, and may not be done within the 20 s.
			time.Sleep(20 * time.Second)
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
				if !slices.ContainsFunc(names, func(n string) bool {
					_, err := os.Stat(filepath.Join(dir, "out", n+".json"))
					return err != nil
				}) {
					break
				}
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			err := cmd.Wait()
			if err != nil {
				t.Errorf("run: %v", err)
			}
			text := out.String()
			for _, n := range names {
				live := s.live(n)
				if len(live) == 0 || len(live) > 2 {
					t.Errorf("%s: %d live keys", n, len(live))
				}
				for _, k := range live {
					if strings.Contains(text, k.secret) {
						t.Errorf("%s: a live secret is in the output", n)
					}
				}
				if strings.Contains(text, olds[n]) {
					t.Errorf("%s: the first secret is in the output", n)
				}
				fb, err := os.ReadFile(filepath.Join(dir, "out", n+".json"))
				if err != nil {
					t.Errorf("%s: %v", n, err)
					continue
				}
				var got map[string]string
				if err := json.Unmarshal(fb, &got); err != nil {
					t.Errorf("%s: sink file: %v", n, err)
				}
				ok := false
				for _, k := range live {
					if slices.Contains(mapValues(got), k.id) && slices.Contains(mapValues(got), k.secret) {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s: the sink holds no live key", n)
				}
			}
			s.mu.Lock()
			total := len(s.keys)
			s.mu.Unlock()
			if t.Failed() || testing.Verbose() {
				t.Logf("keys made in all: %d; output tail:\n%s", total, tail(text, 16000))
			}
		})
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestStandInTLSBinary runs the real binary's once against the stand-in
// over TLS with HTTP/2 (the binary, so that SSL_CERT_FILE is read).
func TestStandInTLSBinary(t *testing.T) {
	bin := rotatordBinary(t)
	for _, tt := range standInModes {
		if tt.ownOnly || tt.failsFirst || !binaryModes(tt.name) {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStandIn(t, func(s *standIn) {
				if tt.configure != nil {
					tt.configure(s)
				}
				s.tls = true
			})
			old := s.seed("app-1")
			dir, config := standInConfig(t, s)
			cert := filepath.Join(t.TempDir(), "ca.pem")
			if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}), 0o600); err != nil {
				t.Fatal(err)
			}
			for i, args := range [][]string{{"once", "--force"}, {"once"}, {"once"}} {
				cmd := exec.Command(bin, append(args, "--config.file", config)...)
				cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+cert)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("once #%d: %v\n%s", i+1, err, out)
				}
				for _, k := range append(s.live("app-1"), *old) {
					if strings.Contains(string(out), k.secret) {
						t.Errorf("once #%d: a secret is in the output", i+1)
					}
				}
			}
			if slices.ContainsFunc(s.live("app-1"), func(k standInKey) bool { return k.id == old.id }) {
				t.Errorf("the old key is alive")
			}
			checkDelivered(t, s, dir, "app-1")
			s.mu.Lock()
			proto := s.proto
			s.mu.Unlock()
			if proto != "HTTP/2.0" {
				t.Errorf("requests came over %s, not HTTP/2", proto)
			}
		})
	}
}
