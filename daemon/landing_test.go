package daemon

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/state"
)

// Hostile text for the landing page: key names are whatever the
// organization called its keys (the engine skips names with such
// characters today, but the page must not rely on it), a last error
// quotes whatever the API or a sink said.
const (
	hostileImg    = `<img src=x onerror="window.__pwned='img';document.title='pwned'">`
	hostileScript = `<script>window.__pwned='script';document.title='pwned'</script>`
	hostileError  = `</td></tr></table><script>window.__pwned='error'</script><b id="injected">`
	hostileQuote  = `"><svg onload="window.__pwned='attr'">`
)

// putHostileRecords writes records with hostile names and errors into the
// daemon's state journal, beside ordinary ones of each phase.
func putHostileRecords(t *testing.T, d *Daemon) {
	t.Helper()
	now := d.Now()
	for _, r := range []state.Record{
		{Policy: "ci", Name: "ci-fresh", CurrentKeyID: "EXOfresh", CurrentSince: now.Add(-2 * time.Hour)},
		{Policy: "ci", Name: hostileImg, CurrentKeyID: "EXOimg", CurrentSince: now.Add(-3 * time.Hour)},
		{Policy: "ci", Name: hostileScript, CurrentKeyID: "EXOscript"},
		{Policy: "ci", Name: hostileQuote, CurrentKeyID: "EXOquote", CurrentSince: now.Add(-24 * time.Hour),
			Rotation: &state.Rotation{Phase: state.PhaseCreated, StartedAt: now.Add(-10 * time.Minute), NewCreatedAt: now.Add(-9 * time.Minute), NewKeyID: "EXOquote2"}},
		{Policy: "ci", Name: "ci-failing", CurrentKeyID: "EXOfail", CurrentSince: now.Add(-800 * time.Hour),
			Failures: 2, LastFailure: now.Add(-time.Minute), LastError: hostileError},
		{Policy: "ci", Name: "ci-delivered", CurrentKeyID: "EXOnew", CurrentSince: now.Add(-time.Minute),
			Rotation: &state.Rotation{Phase: state.PhaseDelivered, StartedAt: now.Add(-2 * time.Minute), NewKeyID: "EXOnew", OldKeyIDs: []string{"EXOold"},
				DeliveredAt: now.Add(-time.Minute), DeleteAfter: now.Add(59 * time.Minute)}},
	} {
		if err := d.account(config.DefaultAccount).store.Put(r); err != nil {
			t.Fatal(err)
		}
	}
}

// serveHandler serves the daemon's handler (without running the daemon:
// no pass, no API call) until the test ends.
func serveHandler(t *testing.T, d *Daemon) string {
	t.Helper()
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func getPage(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestLandingPageLinksAndPlan(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	e.d.opts.Now = func() time.Time { return now } // nothing runs the engine here
	putHostileRecords(t, e.d)
	base := serveHandler(t, e.d)

	resp, body := getPage(t, base+"/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`href="/metrics"`, `href="/healthz"`, `href="/readyz"`, // the links
		"<title>rotatord</title>", "Version: ",
		`<td class="name">ci-fresh</td>`, `<td class="age">2h</td>`, // key age
		`<td class="name">ci-delivered</td>`, "old key deleted in 59m", // phase delivered
		"in flight", "created (since 9m ago", // a rotation in flight
		"at the next pass (age unknown)",                 // no creation time
		"at the next pass (due 3d8h ago)",                // max_age is the default 720h
		"2 failure(s), last 1m ago", "backing off until", // failures
		"<td>ci</td><td>@every 1h</td><td>30d</td><td>0s</td>", // the policy
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / lacks %q", want)
		}
	}
	if strings.Contains(body, "debug/pprof") {
		t.Error("GET / links pprof, which rotatord does not serve")
	}
	// Escaped, every one: no tag of the hostile text reaches the page.
	for _, bad := range []string{"<img", "<script", "<svg", `<b id="injected"`, "onerror=\"", "onload=\""} {
		if strings.Contains(body, bad) {
			t.Errorf("GET / contains %q unescaped", bad)
		}
	}
	for _, want := range []string{"&lt;img src=x onerror=", "&lt;script&gt;window.__pwned=", "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;script&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / lacks the escaped %q", want)
		}
	}
	// Key ids are no secret, but the page has no use for them either.
	for _, id := range []string{"EXOfresh", "EXOimg", "EXOnew", "EXOold"} {
		if strings.Contains(body, id) {
			t.Errorf("GET / shows key id %s", id)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy %q: want default-src 'none' and no script source", csp)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no X-Content-Type-Options: nosniff")
	}

	// Only / is the landing page.
	if resp, _ := getPage(t, base+"/nothing-here"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing-here = %d, want 404", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST / = %d, want 405", resp.StatusCode)
		}
	}
}

// TestLandingPageCostsNoAPICall: a page view reads the state journal, not
// the API, and a flood of views renders the page once per TTL.
func TestLandingPageCostsNoAPICall(t *testing.T) {
	e := newEnv(t)
	putHostileRecords(t, e.d)
	base := serveHandler(t, e.d)
	before := apiRequests(t, e)
	for range 20 {
		if resp, _ := getPage(t, base+"/"); resp.StatusCode != 200 {
			t.Fatalf("GET / = %d", resp.StatusCode)
		}
	}
	if after := apiRequests(t, e); after != before {
		t.Errorf("20 page views made %v API requests", after-before)
	}

	// Cached: a new record shows only once the TTL is over.
	lp := newLandingPage(e.d)
	lp.ttl = time.Hour
	first, err := lp.page()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.d.account(config.DefaultAccount).store.Put(state.Record{Policy: "ci", Name: "ci-late", CurrentKeyID: "EXOlate", CurrentSince: e.d.Now()}); err != nil {
		t.Fatal(err)
	}
	if again, _ := lp.page(); string(again) != string(first) {
		t.Error("the page was rendered again within its TTL")
	}
	lp.ttl = 0
	if again, _ := lp.page(); !strings.Contains(string(again), "ci-late") {
		t.Error("the page was not rendered again after its TTL")
	}
}

func apiRequests(t *testing.T, e *env) float64 {
	t.Helper()
	n, _ := counterSum(t, e.reg, "rotatord_api_requests_total", nil)
	return n
}

// TestLandingPageAfterRotationsShowsNoSecret runs the daemon until it has
// rotated, then checks the page lists the names and no secret.
func TestLandingPageAfterRotationsShowsNoSecret(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.eventually("ci-runner delivered", func() bool {
		_, err := os.Stat(filepath.Join(e.dir, "out", "ci-runner.json"))
		return err == nil
	})
	e.eventually("ready", func() bool { code, _ := e.get("/readyz"); return code == 200 })
	_, body := e.get("/")
	if !strings.Contains(body, `<td class="name">ci-runner</td>`) {
		t.Errorf("GET / does not list ci-runner:\n%s", body)
	}
	for _, k := range e.sim.Keys() {
		if k.Secret != "" && strings.Contains(body, k.Secret) {
			t.Errorf("GET / shows the secret of %s", k.Name)
		}
	}
	if !strings.Contains(body, `<strong id="ready">yes</strong>`) {
		t.Error("GET / does not say ready after a successful pass")
	}
}

// TestReadyGaugeFollowsReadyz: rotatord_ready is 1 exactly when /readyz
// answers 200.
func TestReadyGaugeFollowsReadyz(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.eventually("ready", func() bool { code, _ := e.get("/readyz"); return code == 200 })
	_, body := e.get("/metrics")
	if !strings.Contains(body, "\nrotatord_ready 1\n") {
		t.Errorf("/readyz is 200 but /metrics says:\n%s", grepLines(body, "rotatord_ready"))
	}
	for _, want := range []string{`rotatord_state_records{account="default",phase="none",policy="ci"}`, "go_goroutines ", "rotatord_build_info{"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestReadyGaugeZeroWhenTheAPIRefuses(t *testing.T) {
	e := newEnv(t)
	e.sim.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorRate: 1})
	e.start()
	e.eventually("a pass ran", func() bool { return e.d.account(config.DefaultAccount).apiTried.Load() })
	if code, _ := e.get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d, want 503", code)
	}
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(`
# HELP rotatord_ready 1 when rotatord is ready (/readyz answers 200: the last pass listed the API keys), else 0.
# TYPE rotatord_ready gauge
rotatord_ready 0
`), "rotatord_ready"); err != nil {
		t.Error(err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
