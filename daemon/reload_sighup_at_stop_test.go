package daemon

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestSIGHUPAtStopRunsNoReload: a SIGHUP that arrives once the stop began
// (STOPPING=1 sent) while the scheduler's stop still waits for the pass
// in flight is not run, as a /-/reload waiting then is not: the loop took
// it, sent systemd RELOADING=1 and then READY=1 after STOPPING=1, and
// applied a file during the stop. A /-/reload then must be answered 503
// at once, not held for the pass and run. The pass at start is held in flight
// (engines held: it waits for the "reload" to end), so the stop waits.
func TestSIGHUPAtStopRunsNoReload(t *testing.T) {
	nc := listenNotify(t)
	// read returns the next message, or "" once none comes within wait.
	read := func(wait time.Duration) string {
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

	e := newEnv(t)
	e.d.opts.ShutdownTimeout = time.Hour // the stop waits for the pass
	e.d.opts.Web = WebOptions{EnableLifecycle: true}
	release := e.holdEngines()
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sighup := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() { done <- e.d.Run(ctx, sighup) }()
	e.eventually("the pass at start in flight, waiting for the engines", func() bool {
		return e.logs.FilterMessage("a reload is waiting: the next pass acts under the new policies").Len() > 0
	})

	cancel() // SIGTERM
	for {
		m := read(15 * time.Second)
		if m == "" {
			t.Fatal("no STOPPING=1")
		}
		if strings.Contains(m, "STOPPING=1") {
			break
		}
	}
	sighup <- struct{}{}
	e.eventually("the SIGHUP taken by the reload loop, or the loop closed", func() bool {
		if len(sighup) == 0 {
			return true
		}
		select {
		case <-*e.d.reloadStop.Load():
			return true
		default:
			return false
		}
	})
	// A /-/reload then (the servers still serve: they shut down after
	// the scheduler's stop) is answered at once, not after the pass.
	answered := make(chan string, 1)
	go func() {
		tr := &http.Transport{DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Post("http://"+e.listen+"/-/reload", "", nil)
		if err != nil {
			answered <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answered <- resp.Status + " " + strings.TrimSpace(string(b))
	}()
	select {
	case a := <-answered:
		if !strings.HasPrefix(a, "503 ") || !strings.Contains(a, reloadStopping) {
			t.Errorf("a /-/reload after STOPPING=1: %q, want 503 %q", a, reloadStopping)
		}
	case <-time.After(15 * time.Second):
		t.Error("a /-/reload after STOPPING=1 is not answered while the pass in flight holds the stop")
	}
	release() // the pass ends: the stop goes on
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	// Every message Run sent is queued: read them all.
	for m := read(100 * time.Millisecond); m != ""; m = read(100 * time.Millisecond) {
		if strings.Contains(m, "RELOADING=1") || strings.Contains(m, "READY=1") {
			t.Errorf("after STOPPING=1, systemd was sent %q: the SIGHUP at the stop was run", m)
		}
	}
	if n := e.logs.FilterMessage("configuration reloaded").Len() + e.logs.FilterMessage("reload rejected; keeping the previous configuration").Len(); n > 0 {
		t.Errorf("the SIGHUP at the stop ran a reload (%d log lines)", n)
	}
}
