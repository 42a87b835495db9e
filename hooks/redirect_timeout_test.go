package hooks

// Review of issue 14 (hooks): tests that try to break the exec and webhook
// runners. A failing test here is a defect.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A webhook receiver that answers a redirect (a moved endpoint, a load
// balancer sending unauthenticated requests to a login page) never saw the
// signed event. The default client follows a 302 as a GET to the new
// location, and a 200 there counts as the hook succeeding: a before_delete
// consumer check "passes" without ever being asked, and the old key goes.
func TestWebhookRedirectIsNotSuccess(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("hook-key"), 0o600)
	var posts atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/login", http.StatusFound)
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
		w.Write([]byte("<html>please log in</html>"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	err := (Webhook{URL: srv.URL + "/hook", KeyFile: keyFile, Backoff: time.Millisecond}).Run(context.Background(), testEvent())
	if err == nil {
		t.Errorf("a webhook answered with 302 to a login page counted as success (the event was POSTed %d times to the target): a before_delete consumer check passes unasked", posts.Load())
	}
}

// A 307/308 redirect makes the client POST the signed body again, with its
// signature header, to wherever the receiver (or someone who controls its
// answers) points: plain http to any host included, which the config
// refuses for the hook's own URL.
func TestWebhookDoesNotResendSignedBodyOnRedirect(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("hook-key"), 0o600)
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(SignatureHeader) != "" {
			elsewhere.Add(1)
		}
	}))
	defer other.Close()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/collect", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	// The daemon uses the default client: trust the test server's
	// certificate there, as a real receiver's would be trusted.
	saved := http.DefaultClient.Transport
	http.DefaultClient.Transport = srv.Client().Transport
	defer func() { http.DefaultClient.Transport = saved }()
	_ = (Webhook{URL: srv.URL + "/hook", KeyFile: keyFile, Backoff: time.Millisecond}).Run(context.Background(), testEvent())
	if n := elsewhere.Load(); n > 0 {
		t.Errorf("an https webhook redirected (307) to plain http %s: the signed event and its signature were sent there %d times", other.URL, n)
	}
}

// A hook that times out is killed, but only the program rotatord started:
// what it started (a consumer check script running curl, a sleep) keeps
// running after rotatord declared the hook failed, and the next retry
// starts a second copy beside it. The timeout should end the whole tree
// (a process group killed as one).
func TestExecTimeoutKillsTheHooksChildren(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	script := "/bin/sleep 30 & echo $! > " + pidFile + "; wait"
	err := (Exec{Command: []string{"/bin/sh", "-c", script}, Timeout: 300 * time.Millisecond}).Run(context.Background(), testEvent())
	if err == nil {
		t.Fatal("the hook succeeded past its timeout")
	}
	var pid int
	for i := 0; i < 50; i++ {
		b, _ := os.ReadFile(pidFile)
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			pid = p
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatal("the hook's child did not start")
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)
	if err := syscall.Kill(pid, 0); err == nil {
		// Reaped zombies (not ours) are gone; a live one answers.
		if st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); !strings.Contains(string(st), ") Z ") {
			t.Errorf("the hook timed out, yet its child %d is still running", pid)
		}
	}
}
