package hooks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Incoming-webhook services (Slack, Teams, Discord, many chat bridges) put
// their token in the URL's path: https://hooks.example/services/T0/B0/TOKEN.
// A failing hook's error is logged and shown in metrics-adjacent output, so
// it names the receiver's host, never its path.
func TestWebhookErrorNeverShowsTheURLPath(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("hook-key"), 0o600); err != nil {
		t.Fatal(err)
	}
	const token = "XyZzy0PathToken9f8e7d6c"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer srv.Close()
	for name, url := range map[string]string{
		"answered 500": srv.URL + "/services/T01/B02/" + token,
		"unreachable":  "http://127.0.0.1:1/services/T01/B02/" + token,
	} {
		err := (Webhook{URL: url, KeyFile: keyFile, Backoff: time.Millisecond}).Run(context.Background(), testEvent())
		if err == nil {
			t.Fatalf("%s: the webhook succeeded", name)
		}
		if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "/services") {
			t.Errorf("%s: the error shows the URL's path, which holds the receiver's token: %v", name, err)
		}
		if !strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("%s: the error does not name the receiver's host: %v", name, err)
		}
	}
}
