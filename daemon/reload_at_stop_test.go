package daemon

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStopAnswersTheReloadsItWillNotRun: a stop (SIGTERM) while two
// /-/reload requests wait for the pass in flight, the first taken by the
// reload loop, the second waiting for it. The second was either run after
// the stop began or, once the loop had ended, never answered: its request
// held the servers' shutdown for their whole grace (5 s), and its caller
// got a closed connection and could not tell whether the file applied.
// It must be answered at once, 503, saying rotatord stops and the file
// was not read. The first, still waiting for the engines, is abandoned
// and answered so too: it could wait past the servers' grace
// (TestReloadHeldByADeletionRoundAtStopIsAnswered).
func TestStopAnswersTheReloadsItWillNotRun(t *testing.T) {
	// systemd's notify socket: RELOADING=1 says the loop took a reload.
	nc := listenNotify(t)
	reloading := make(chan struct{}, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := nc.Read(buf)
			if err != nil {
				return
			}
			if strings.Contains(string(buf[:n]), "RELOADING=1") {
				reloading <- struct{}{}
			}
		}
	}()

	e := newEnv(t)
	// A grace the test never waits out: a request left waiting holds the
	// stop until the hang check below gives up.
	e.d.opts.Web = WebOptions{EnableLifecycle: true, shutdownGrace: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.d.Run(ctx, nil) }()
	e.eventually("port open", func() bool {
		c, err := net.Dial("tcp", e.listen)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})

	// The pass at start over: held by the engines below, it would hold
	// the scheduler's stop, and the servers' shutdown after it.
	e.eventually("the pass at start over", func() bool {
		return e.logs.FilterMessage("pass done").Len()+e.logs.FilterMessage("pass failed").Len() > 0
	})
	release := e.holdEngines()
	defer release()
	type answer struct {
		code int
		body string
		err  error
	}
	post := func(to chan<- answer) {
		tr := &http.Transport{DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Post("http://"+e.listen+"/-/reload", "", nil)
		if err != nil {
			to <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		to <- answer{resp.StatusCode, strings.TrimSpace(string(b)), err}
	}
	first, second := make(chan answer, 1), make(chan answer, 1)
	go post(first)
	select {
	case <-reloading:
	case <-time.After(15 * time.Second):
		t.Fatal("the reload loop never took the first reload")
	}
	go post(second)
	e.eventually("the second reload waiting for the loop", func() bool { return e.d.reloadsWaiting.Load() == 2 })

	cancel() // SIGTERM
	// The servers shut down (their listener closes) after the reload
	// loop's stop: from then on the loop is told to stop.
	e.eventually("the listener closed", func() bool {
		c, err := net.Dial("tcp", e.listen)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	release() // the pass in flight ends

	wait := func(what string, ch <-chan answer) answer {
		t.Helper()
		select {
		case a := <-ch:
			return a
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: no answer, while the stop waits for it", what)
			return answer{}
		}
	}
	if a := wait("the reload taken before the stop", first); a.err != nil || a.code != http.StatusServiceUnavailable || a.body != reloadStopping {
		t.Errorf("the reload taken before the stop, waiting for the pass: %d %q %v, want 503 %q", a.code, a.body, a.err, reloadStopping)
	}
	if a := wait("the reload waiting at the stop", second); a.err != nil || a.code != http.StatusServiceUnavailable || !strings.Contains(a.body, "stopping") {
		t.Errorf("the reload waiting at the stop: %d %q %v, want 503 saying rotatord is stopping", a.code, a.body, a.err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("Run did not return: the shutdown waits for a request")
	}
}
