package main

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRunServesEveryListenAddress: --web.listen-address could be given
// once (a second one was a usage error), where the exporters of the
// exporter toolkit take it repeatedly (--web.listen-address=:9100
// --web.listen-address=[::1]:9100) and serve the same endpoints on each.
func TestRunServesEveryListenAddress(t *testing.T) {
	e := newSimEnv(t, "")
	addrs := []string{freeAddr(t), freeAddr(t)}
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, _, stderr := runCLI("run", "--config.file", e.config, "--log.level", "error",
			"--web.listen-address", addrs[0], "--web.listen-address", addrs[1])
		done <- result{code, stderr}
	}()
	stopped := false
	t.Cleanup(func() {
		if stopped {
			return
		}
		select {
		case <-done:
			return
		default:
		}
		// run holds SIGTERM (signals) while it serves: this ends it.
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
		<-done
	})
	for _, addr := range addrs {
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get("http://" + addr + "/-/healthy")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET http://%s/-/healthy = %d, want 200", addr, resp.StatusCode)
				}
				break
			}
			select {
			case r := <-done:
				stopped = true
				t.Fatalf("run --web.listen-address %s --web.listen-address %s = %d before serving, stderr %q; want both served", addrs[0], addrs[1], r.code, r.stderr)
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("nothing answers on %s: %v", addr, err)
			}
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-done
	stopped = true
	if r.code != 0 {
		t.Errorf("run stopped by SIGTERM = %d, stderr %q; want 0", r.code, r.stderr)
	}
}

// TestRunRefusesATakenListenAddress: with --web.listen-address given
// twice, a second address that cannot be bound stops run at start, naming
// that address, before anything rotates, and the first is let go.
func TestRunRefusesATakenListenAddress(t *testing.T) {
	e := newSimEnv(t, "")
	free := freeAddr(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	code, _, stderr := runCLI("run", "--config.file", e.config,
		"--web.listen-address", free, "--web.listen-address", taken.Addr().String())
	if code != 1 || !strings.Contains(stderr, "--web.listen-address") || !strings.Contains(stderr, taken.Addr().String()) {
		t.Errorf("run with %s taken = %d, stderr %q; want 1, naming --web.listen-address and %s", taken.Addr(), code, stderr, taken.Addr())
	}
	if out, _ := os.ReadDir(filepath.Join(e.dir, "out")); len(out) != 0 {
		t.Errorf("run that could not listen rotated: out/ holds %d files", len(out))
	}
	ln, err := net.Listen("tcp", free)
	if err != nil {
		t.Errorf("run that could not listen still holds %s: %v", free, err)
	} else {
		ln.Close()
	}
}
