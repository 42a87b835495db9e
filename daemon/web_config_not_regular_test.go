//go:build unix

package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// withinOrHang runs f and fails the test when it still waits after 20 s
// (a blocking open of a named pipe), then ends the opens by opening the
// pipe for writing.
func withinOrHang(t *testing.T, fifo, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		for range 5 {
			if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s waits on a named pipe", what)
		return nil
	}
}

// The web configuration file (--web.config.file) and the TLS files it
// names are read by the exporter toolkit with blocking opens: a named
// pipe at one held the start. The start refuses one that is not a regular
// file, naming the field and the file, and so does a reload (the toolkit
// reads them again at each connection).
func TestWebConfigFilesThatAreNoRegularFilesAreRefused(t *testing.T) {
	dir, err := os.MkdirTemp("", "web")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, tc := range []struct{ field, pipe string }{
		{"web config file", "web.yml"},
		{"tls_server_config.cert_file", "cert.pem"},
		{"tls_server_config.key_file", "key.pem"},
		{"tls_server_config.client_ca_file", "ca.pem"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			sub, err := os.MkdirTemp(dir, "case")
			if err != nil {
				t.Fatal(err)
			}
			web := filepath.Join(sub, "web.yml")
			for _, f := range []string{"cert.pem", "key.pem", "ca.pem"} {
				if err := os.WriteFile(filepath.Join(sub, f), []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(web, []byte("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_ca_file: ca.pem\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			fifo := filepath.Join(sub, tc.pipe)
			os.Remove(fifo)
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			check := func(what string, err error) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), fifo) ||
					!strings.Contains(err.Error(), "not a regular file") {
					t.Fatalf("%s: got %v, want an error naming %s %s: not a regular file", what, err, tc.field, fifo)
				}
			}
			check("start", withinOrHang(t, fifo, "the start", func() error { return ValidateWebConfig(web) }))

			e := newEnv(t)
			e.d.opts.Web.ConfigFile = web
			check("reload", withinOrHang(t, fifo, "a reload", e.d.Reload))
		})
	}
}
