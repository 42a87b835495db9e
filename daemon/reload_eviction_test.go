package daemon

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A reload waiting for the pass in flight sends and receives nothing: when
// every connection place is taken, the evicting listener closed it for the
// next connection, and the caller got no answer, though the reload then
// applied (issue #12). A connection whose reload waits is not evicted.
func TestReloadWaitingForAPassIsNotEvicted(t *testing.T) {
	e := newEnv(t)
	e.runWeb(WebOptions{EnableLifecycle: true, MaxConnections: 1})
	// A pass holds the engines until the end of the test's setup.
	release := e.holdEngines()
	defer release()

	type answer struct {
		code int
		body string
		err  error
	}
	post := func(method, path string) answer {
		req, _ := http.NewRequest(method, "http://"+e.listen+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return answer{err: err}
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{code: resp.StatusCode, body: string(b)}
	}
	reloaded := make(chan answer, 1)
	go func() { reloaded <- post("POST", "/-/reload") }()
	e.eventually("reload requested", func() bool {
		return e.logs.FilterMessage("reload requested over HTTP").Len() > 0
	})
	// Quiet for longer than evictAfter: the reload's connection would be
	// the one to go.
	time.Sleep(evictAfter + evictAfter/2)
	probed := make(chan answer, 1)
	go func() { probed <- post("GET", "/healthz") }()
	select {
	case a := <-reloaded:
		t.Fatalf("POST /-/reload answered before the pass ended, when another connection came: %d %q %v", a.code, a.body, a.err)
	case <-time.After(evictAfter):
	}
	release()
	if a := <-reloaded; a.err != nil || a.code != 200 || strings.TrimSpace(a.body) != reloadDone {
		t.Errorf("POST /-/reload = %d %q %v, want 200 %s", a.code, a.body, a.err, reloadDone)
	}
	if a := <-probed; a.err != nil || a.code != 200 {
		t.Errorf("GET /healthz after the reload = %d %v, want 200", a.code, a.err)
	}
}
