package hooks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rotatord/rotatord/secret"
)

// validate refuses a webhook key file everyone may read (anyone on the
// host could forge signed events), but run and once still signed with it,
// and with one made world-readable after validate ran. The check is made
// where the key is read; the error names the file, never its content
// (issue #14).
func TestWebhookRefusesAWorldReadableKey(t *testing.T) {
	const key = "hook-key-content-never-shown"
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	h := Webhook{URL: srv.URL, KeyFile: keyFile}
	err := h.Run(context.Background(), testEvent())
	if err == nil || !strings.Contains(err.Error(), "world-readable") || !strings.Contains(err.Error(), secret.ShownPath(keyFile)) {
		t.Errorf("Run with a world-readable key file = %v, want refused, naming the file", err)
	}
	if err != nil && strings.Contains(err.Error(), key) {
		t.Errorf("the error shows the key: %v", err)
	}
	if calls.Load() != 0 {
		t.Errorf("%d events sent signed with a world-readable key, want none", calls.Load())
	}

	// Not a file: refused too.
	if err := (Webhook{URL: srv.URL, KeyFile: t.TempDir()}).Run(context.Background(), testEvent()); err == nil || !strings.Contains(err.Error(), "not a file") {
		t.Errorf("Run with a directory as key file = %v, want refused", err)
	}

	// Once only its owner and group may read it, it signs.
	if err := os.Chmod(keyFile, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := h.Run(context.Background(), testEvent()); err != nil || calls.Load() != 1 {
		t.Errorf("Run with a 0640 key file = %v after %d calls, want one call, nil", err, calls.Load())
	}
}
