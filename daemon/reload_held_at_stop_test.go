package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// heldReloadEnv is a daemon whose deleter holds a round in the API's
// DELETE of an old key until the test lets it go: the round's handler
// holds the engine meanwhile (a consumer check does not: it runs outside
// the install lock), so a reload taken then waits for it, as for a slow
// API or sink. ShutdownTimeout is long, so that the stop waits for the
// round as long as the test holds it; the web servers keep their grace
// (5 s).
type heldReloadEnv struct {
	*env
	notify  func(wait time.Duration) string // the next systemd message, "" once none comes within wait
	held    chan struct{}                   // a DELETE reached the API
	release func()                          // lets the DELETEs through
	done    chan error                      // what Run returned
	cancel  context.CancelFunc              // SIGTERM
}

func newHeldReloadEnv(t *testing.T, sighup <-chan struct{}) *heldReloadEnv {
	nc := listenNotify(t)
	h := &heldReloadEnv{env: newEnv(t), held: make(chan struct{}, 1)}
	h.notify = func(wait time.Duration) string {
		t.Helper()
		buf := make([]byte, 4096)
		nc.SetReadDeadline(time.Now().Add(wait))
		n, err := nc.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	// The API, behind a proxy that holds every DELETE until released.
	gate := make(chan struct{})
	h.release = sync.OnceFunc(func() { close(gate) })
	target, err := url.Parse(h.sim.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			select {
			case h.held <- struct{}{}:
			default:
			}
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(api.Close)
	t.Cleanup(h.release) // before the API closes: Close waits for its requests
	write := func(policies string) {
		t.Helper()
		body := strings.Replace(fmt.Sprintf(policyTmpl, api.URL+target.Path, h.sim.Admin().Key, h.listen, policies),
			"  max_retries: 0\n", "  max_retries: 0\n  timeout: 10m\n", 1)
		if err := os.WriteFile(h.config, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The pass at start rotates ci-runner; its old key falls due a
	// second later, for the deleter's round, whose DELETE waits.
	const ci = `  - name: ci
    match: {name: "ci-runner"}
    schedule: "@every 1h"
    grace_period: 1s
    adopt: rotate
    sinks: [{type: file, path: "out/{{.Name}}.json"}]
`
	write(ci)
	if err := h.d.Reload(); err != nil {
		t.Fatal(err)
	}
	h.d.opts.ShutdownTimeout = time.Hour
	h.d.opts.Web = WebOptions{EnableLifecycle: true}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.d.Run(ctx, sighup) }()
	t.Cleanup(func() {
		h.release()
		cancel()
		select {
		case err := <-h.done:
			h.done <- err
		case <-time.After(30 * time.Second):
			t.Error("Run did not return")
		}
	})
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, l := range h.logs.All() {
			t.Logf("LOG %s %v", l.Message, l.ContextMap())
		}
	})
	h.eventually("the pass at start over", func() bool {
		return h.logs.FilterMessage("pass done").Len() > 0
	})
	select {
	case <-h.held:
	case <-time.After(15 * time.Second):
		t.Fatal("the deleter's round never sent its DELETE")
	}
	// The reload adds a policy: whether it applied is plain to see.
	write(ci + `  - name: added-by-the-reload
    match: {name: "other-*"}
    sinks: [{type: file, path: "out/other/{{.Name}}.json"}]
`)
	return h
}

// reloadTaken waits for the reload loop to take a reload (RELOADING=1).
func (h *heldReloadEnv) reloadTaken() {
	h.t.Helper()
	for {
		m := h.notify(15 * time.Second)
		if m == "" {
			h.t.Fatal("the reload loop never took the reload (no RELOADING=1)")
		}
		if strings.Contains(m, "RELOADING=1") {
			return
		}
	}
}

// stop sends SIGTERM and waits for STOPPING=1.
func (h *heldReloadEnv) stop() {
	h.t.Helper()
	h.cancel()
	for {
		m := h.notify(15 * time.Second)
		if m == "" {
			h.t.Fatal("no STOPPING=1")
		}
		if strings.Contains(m, "STOPPING=1") {
			return
		}
	}
}

// endRound lets the deleter's round go on, waits for Run to return, and
// returns whether the reload applied (its policy is in force), checking
// that systemd was told no READY=1 after STOPPING=1.
func (h *heldReloadEnv) endRound() (applied bool) {
	h.t.Helper()
	h.release()
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		h.t.Fatal("Run did not return once the round went on")
	}
	for m := h.notify(100 * time.Millisecond); m != ""; m = h.notify(100 * time.Millisecond) {
		if strings.Contains(m, "READY=1") {
			h.t.Errorf("after STOPPING=1, systemd was sent %q", m)
		}
	}
	for _, p := range h.d.Config().Policies {
		if p.Name == "added-by-the-reload" {
			return true
		}
	}
	return false
}

// TestReloadHeldByADeletionRoundAtStopIsAnswered: a /-/reload taken just
// before a stop, waiting for a deletion round in flight (its API request,
// here held), got no answer while the stop waited for the round: the web
// servers' 5 s grace ended first, and once the round went on the reload
// applied, during the stop, and its 200 raced the process's exit (the
// caller, a CI job, got a closed connection and could not tell whether
// its file was in force). It must get a definite answer, and what it
// says must be true.
func TestReloadHeldByADeletionRoundAtStopIsAnswered(t *testing.T) {
	h := newHeldReloadEnv(t, nil)
	type answer struct {
		code int
		body string
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		tr := &http.Transport{DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Post("http://"+h.listen+"/-/reload", "", nil)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answered <- answer{resp.StatusCode, strings.TrimSpace(string(b)), err}
	}()
	h.reloadTaken()
	h.stop()

	var a answer
	held := false
	select {
	case a = <-answered:
	case <-time.After(15 * time.Second):
		held = true
	}
	applied := h.endRound()
	if held {
		select {
		case a = <-answered:
		case <-time.After(15 * time.Second):
			t.Fatalf("the reload held at the stop: no answer while the stop waited for the deletion round, nor after it (applied: %v)", applied)
		}
		t.Fatalf("the reload held at the stop: no answer while the stop waited for the deletion round; after it: %d %q %v (applied: %v)", a.code, a.body, a.err, applied)
	}
	switch {
	case a.err != nil:
		t.Errorf("the reload held at the stop: %v (applied: %v)", a.err, applied)
	case a.code == http.StatusOK && !applied:
		t.Errorf("the reload held at the stop: 200 %q, yet the file was not applied", a.body)
	case a.code == http.StatusServiceUnavailable && applied:
		t.Errorf("the reload held at the stop: 503 %q, yet the file applied", a.body)
	case a.code != http.StatusOK && a.code != http.StatusServiceUnavailable:
		t.Errorf("the reload held at the stop: %d %q, want 200 (applied) or 503 (not applied)", a.code, a.body)
	case a.code == http.StatusServiceUnavailable && a.body != reloadStopping:
		t.Errorf("the reload held at the stop: 503 %q, want %q", a.body, reloadStopping)
	}
}

// TestSIGHUPHeldByADeletionRoundAtStopIsNotApplied: the same for a
// SIGHUP's reload, which has no answer but the log and systemd: held by
// the round when the stop begins, it is abandoned at once, says so, and
// does not apply once the round goes on (no "configuration reloaded" in
// a stopping daemon, no READY=1 after STOPPING=1).
func TestSIGHUPHeldByADeletionRoundAtStopIsNotApplied(t *testing.T) {
	sighup := make(chan struct{}, 1)
	h := newHeldReloadEnv(t, sighup)
	sighup <- struct{}{}
	h.reloadTaken()
	h.stop()
	h.eventually("the reload abandoned, while the round is held", func() bool {
		return h.logs.FilterMessage("reload abandoned: rotatord is stopping; the configuration was not reloaded").Len() == 1
	})
	if applied := h.endRound(); applied {
		t.Error("the SIGHUP's reload, abandoned at the stop, applied once the round went on")
	}
	if n := h.logs.FilterMessage("configuration reloaded").Len(); n != 1 { // the test's own, before Run
		t.Errorf("%d \"configuration reloaded\" lines, want 1 (the test's, before Run)", n)
	}
	if n := h.logs.FilterMessage("reload rejected; keeping the previous configuration").Len(); n > 0 {
		t.Errorf("the abandoned reload was logged as rejected (%d lines): the file is not at fault", n)
	}
}
