package daemon

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/rotation"
)

// The landing page in a real browser: Chromium, headless, driven with
// chromedp. scripts/test installs Chromium (scripts/tools/chromium) and
// passes its path in ROTATORD_CHROMIUM_BIN; without a browser the test
// skips, unless ROTATORD_REQUIRE_BROWSER=1 (CI) makes that a failure.
const (
	envChromium       = "ROTATORD_CHROMIUM_BIN"
	envRequireBrowser = "ROTATORD_REQUIRE_BROWSER"
)

// chromiumPath returns the browser to drive, or skips the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv(envRequireBrowser) == "1" {
			t.Fatalf(format+" ("+envRequireBrowser+"=1)", args...)
		}
		t.Skipf(format, args...)
	}
	if p := os.Getenv(envChromium); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s=%s: %v", envChromium, p, err) // set, and wrong
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	missing("no Chromium: run scripts/tools/chromium, or set %s", envChromium)
	return ""
}

// browser starts a headless Chromium for the test and returns a tab.
func browser(t *testing.T, bin string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.DisableGPU,
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root with its sandbox (CI's
		// containers); the page under test is ours.
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // kills the browser and waits for it
	})
	// The first action starts the browser and binds its life to ctx,
	// which therefore has no timeout; each page load has one.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	return ctx
}

// pageReport is what the test reads back from the page, after the browser
// has parsed it and run whatever it would run.
type pageReport struct {
	Title     string   `json:"title"`
	Pwned     string   `json:"pwned"` // window.__pwned, "" when unset
	Names     []string `json:"names"` // the text of the name cells
	Errors    []string `json:"errors"`
	Rows      int      `json:"rows"`
	Injected  int      `json:"injected"` // elements the hostile text would make
	Links     []string `json:"links"`
	Ready     string   `json:"ready"`
	PlanCells int      `json:"planCells"` // cells of the plan's first row
}

const reportJS = `(() => {
	const text = (sel) => Array.from(document.querySelectorAll(sel)).map(e => e.textContent);
	const first = document.querySelector('#plan tbody tr');
	return {
		title: document.title,
		pwned: window.__pwned === undefined ? "" : String(window.__pwned),
		names: text('#plan td.name'),
		errors: text('#plan td.error').filter(s => s !== ""),
		rows: document.querySelectorAll('#plan tbody tr').length,
		injected: document.querySelectorAll('img, script, svg, #injected, iframe').length,
		links: Array.from(document.querySelectorAll('a')).map(a => new URL(a.href).pathname),
		ready: (document.querySelector('#ready') || {}).textContent || "",
		planCells: first ? first.children.length : 0,
	};
})()`

// load opens url, waits for the page and reports on it. A script the page
// would run has run by then: inline scripts run while the page is parsed,
// and onerror of an image with a bad URL fires at once; the short wait
// leaves time for anything asynchronous.
func load(t *testing.T, ctx context.Context, url, waitFor string) pageReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Do(ctx,
		chromedp.Navigate(url),
		chromedp.WaitReady(chromedp.CSS(waitFor)),
		chromedp.Sleep(300*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	r, err := chromedp.Run(ctx, chromedp.Evaluate[pageReport](reportJS))
	if err != nil {
		t.Fatalf("%s: reading the page: %v", url, err)
	}
	return r
}

// TestLandingPageInBrowser: the plan table renders in Chromium, and key
// names and errors carrying HTML and script show as text and run nothing,
// with the page's Content-Security-Policy and without it (escaping alone
// must suffice). A control page that embeds the same text unescaped shows
// that the browser would have run it.
func TestLandingPageInBrowser(t *testing.T) {
	bin := chromiumPath(t)
	e := newEnv(t)
	putHostileRecords(t, e.d)
	handler := e.d.Handler()
	mux := http.NewServeMux()
	mux.Handle("/", handler)
	// The same page without its CSP header.
	mux.HandleFunc("/no-csp/", func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/"
		handler.ServeHTTP(noCSPWriter{w}, r2)
	})
	// The control: the hostile text as a page that does not escape it.
	mux.HandleFunc("/control", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<html><head><title>control</title></head><body><table id=\"plan\"><tbody><tr><td class=\"name\">%s</td></tr></tbody></table></body></html>", hostileImg)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx := browser(t, bin)

	control := load(t, ctx, srv.URL+"/control", "#plan")
	if control.Pwned != "img" || control.Title != "pwned" {
		t.Fatalf("the control page did not run its script (pwned %q, title %q): the test cannot see a script run", control.Pwned, control.Title)
	}

	for _, path := range []string{"/", "/no-csp/"} {
		r := load(t, ctx, srv.URL+path, "#plan")
		if r.Title != "rotatord" || r.Pwned != "" {
			t.Errorf("%s: a script ran: title %q, window.__pwned %q", path, r.Title, r.Pwned)
		}
		if r.Injected != 0 {
			t.Errorf("%s: %d elements made from record text (img, script, svg, ...)", path, r.Injected)
		}
		if r.Rows != 6 || r.PlanCells != 6 {
			t.Errorf("%s: the plan has %d rows of %d cells, want 6 of 6", path, r.Rows, r.PlanCells)
		}
		for _, want := range []string{hostileImg, hostileScript, hostileQuote, "ci-fresh", "ci-failing", "ci-delivered"} {
			if !slices.Contains(r.Names, want) {
				t.Errorf("%s: no name cell reads %q literally; name cells: %q", path, want, r.Names)
			}
		}
		if len(r.Errors) != 1 || !strings.HasSuffix(r.Errors[0], hostileError) {
			t.Errorf("%s: the error cells read %q, want one ending in %q", path, r.Errors, hostileError)
		}
		for _, want := range []string{"/metrics", "/healthz", "/readyz"} {
			if !slices.Contains(r.Links, want) {
				t.Errorf("%s: no link to %s; links: %q", path, want, r.Links)
			}
		}
		if r.Ready != "no" {
			t.Errorf("%s: ready %q, want no (no pass has run)", path, r.Ready)
		}
	}
}

// noCSPWriter drops the Content-Security-Policy header.
type noCSPWriter struct{ http.ResponseWriter }

func (w noCSPWriter) WriteHeader(code int) {
	w.Header().Del("Content-Security-Policy")
	w.ResponseWriter.WriteHeader(code)
}

func (w noCSPWriter) Write(b []byte) (int, error) {
	w.Header().Del("Content-Security-Policy")
	return w.ResponseWriter.Write(b)
}

// TestLandingPageShowsHostileNamesFromTheAPIAsText: key names carrying
// HTML, script and control characters, created through the API as anyone
// allowed to create keys could, are left alone by the pass and listed on
// the page as text: nothing runs, nothing is made of them, and a control
// character shows escaped.
func TestLandingPageShowsHostileNamesFromTheAPIAsText(t *testing.T) {
	bin := chromiumPath(t)
	e := newEnv(t)
	// No "/": the policy's glob (ci-*) does not match across one.
	names := []string{"ci-" + hostileImg, "ci-<script>window.__pwned='script';document.title='pwned'", "ci-" + hostileQuote, "ci-\x1b[2Kbell"}
	for _, n := range names {
		if _, err := e.sim.CreateKey(n, exosim.CIRoleID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.d.RunPass(context.Background(), nil, rotation.Options{}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.d.Handler())
	defer srv.Close()
	ctx := browser(t, bin)
	r := load(t, ctx, srv.URL+"/", "#skipped")
	if r.Title != "rotatord" || r.Pwned != "" || r.Injected != 0 {
		t.Errorf("hostile names ran or made elements: title %q, window.__pwned %q, %d elements", r.Title, r.Pwned, r.Injected)
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	shown, err := chromedp.Run(tctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#skipped td.name')).map(e => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{names[0], names[1], names[2], `ci-\u001b[2Kbell`} {
		if !slices.Contains(shown, want) {
			t.Errorf("no skipped-name cell reads %q; cells: %q", want, shown)
		}
	}
}
