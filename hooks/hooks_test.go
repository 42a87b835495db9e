package hooks

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func testEvent() Event {
	return Event{Event: BeforeDelete, Policy: "ci", Name: "ci-runner", NewKeyID: "EXO2", OldKeyIDs: []string{"EXO1"},
		Sinks: []string{"/etc/ci/ci-runner.json"}, IdempotencyKey: Key(BeforeDelete, "ci", "ci-runner", "EXO2")}
}

func TestExecHookGetsTheEventAndNoSecret(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	t.Setenv("EXOSCALE_API_SECRET", "TOP-SECRET")
	h := Exec{Command: []string{"/bin/sh", "-c", "env > " + out}, Timeout: 5 * time.Second}
	if err := h.Run(context.Background(), testEvent()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	env := string(b)
	for _, want := range []string{"ROTATORD_EVENT=before_delete", "ROTATORD_POLICY=ci", "ROTATORD_NAME=ci-runner", "ROTATORD_NEW_KEY_ID=EXO2", "ROTATORD_OLD_KEY_IDS=EXO1", "ROTATORD_IDEMPOTENCY_KEY="} {
		if !strings.Contains(env, want) {
			t.Errorf("the hook's environment lacks %s", want)
		}
	}
	if strings.Contains(env, "TOP-SECRET") {
		t.Error("rotatord's own environment (a secret) reached the hook")
	}
}

func TestExecHookFailureAndTimeout(t *testing.T) {
	if err := (Exec{Command: []string{"/bin/false"}}).Run(context.Background(), testEvent()); err == nil {
		t.Error("a failing command succeeded")
	}
	err := (Exec{Command: []string{"/bin/sleep", "5"}, Timeout: 100 * time.Millisecond}).Run(context.Background(), testEvent())
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("a slow command: %v, want a timeout", err)
	}
}

func TestWebhookIsSignedAndCarriesNoSecret(t *testing.T) {
	key := []byte("hook-key")
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, append(key, '\n'), 0o600)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		sig := r.Header.Get(SignatureHeader)
		ts, v1, _ := strings.Cut(strings.TrimPrefix(sig, "t="), ",v1=")
		sec, _ := strconv.ParseInt(ts, 10, 64)
		if v1 != Sign(key, ts, body) || time.Since(time.Unix(sec, 0)) > time.Minute {
			t.Errorf("bad signature %q", sig)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev Event
		if err := json.Unmarshal(body, &ev); err != nil || ev.Name != "ci-runner" || ev.IdempotencyKey == "" {
			t.Errorf("body %s: %v", body, err)
		}
		if strings.Contains(strings.ToLower(string(body)), "secret") {
			t.Errorf("the body names a secret: %s", body)
		}
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // retried
			return
		}
	}))
	defer srv.Close()
	h := Webhook{URL: srv.URL, KeyFile: keyFile, Retries: 2, Backoff: 10 * time.Millisecond}
	if err := h.Run(context.Background(), testEvent()); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d calls, want 2 (one retry after a 503)", calls.Load())
	}
	h.Retries = 0
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	if err := h.Run(context.Background(), testEvent()); err == nil {
		t.Error("a 500 counted as success")
	}
}

func TestIdempotencyKeyIsStable(t *testing.T) {
	if Key(AfterDelivery, "ci", "n", "EXO1") != Key(AfterDelivery, "ci", "n", "EXO1") || Key(AfterDelivery, "ci", "n", "EXO1") == Key(BeforeDelete, "ci", "n", "EXO1") {
		t.Error("idempotency keys are not one per policy, name, new key and event")
	}
}

func TestExecHookTimeoutWithAChildLeftRunning(t *testing.T) {
	start := time.Now()
	err := (Exec{Command: []string{"/bin/sh", "-c", "sleep 5 & sleep 5"}, Timeout: 200 * time.Millisecond}).Run(context.Background(), testEvent())
	if err == nil {
		t.Fatal("a hook past its timeout succeeded")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the hook took %s to time out (timeout 200ms): a child held it", took)
	}
}

func TestWebhookRefusesAnEmptyKey(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("\n"), 0o600)
	if err := (Webhook{URL: "https://127.0.0.1:1/x", KeyFile: keyFile}).Run(context.Background(), testEvent()); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("an empty key: %v", err)
	}
}
