package metrics

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/rotatord/rotatord/state"
)

// comparePromhttp scrapes both handlers with the same headers and reports
// any difference in status, Content-Type, body (runtime families aside).
func comparePromhttp(t *testing.T, label string, fast, slow http.Handler, h http.Header) {
	t.Helper()
	fr, fb := get(t, fast, "/metrics", h)
	sr, sb := get(t, slow, "/metrics", h)
	if fr.Code != sr.Code {
		t.Errorf("%s %v: status %d, promhttp %d", label, h, fr.Code, sr.Code)
	}
	if got, want := fr.Header().Get("Content-Type"), sr.Header().Get("Content-Type"); got != want {
		t.Errorf("%s %v: Content-Type %q, promhttp %q", label, h, got, want)
	}
	if got, want := withoutRuntime(fb), withoutRuntime(sb); got != want {
		t.Errorf("%s %v: bodies differ\nhandler:\n%s\npromhttp:\n%s", label, h, got, want)
	}
}

// TestRandomStatesMatchPromhttp drives the store and the policies
// through random changes (rotations, deletions, keys losing their time,
// policies moving between accounts, removed, re-added, the same name in
// several policies and accounts) and compares every scrape with promhttp.
func TestRandomStatesMatchPromhttp(t *testing.T) {
	m, reg, store := newStoreMetrics(t)
	fast := m.Handler(reg, nil)
	slow := promhttp.HandlerFor(m.Gatherer(reg), promhttp.HandlerOpts{})

	rng := rand.New(rand.NewPCG(16, 16))
	policyNames := []string{"a", "b", "ci", "z"}
	accounts := []string{"", "default", "prod", "a-first", "zzz"}
	names := []string{"x", "x-1", "x.1", "X", "a@b", "m+n=o:p", "ci-runner", "0"}
	randomPolicies := func() []PolicyInfo {
		var ps []PolicyInfo
		for _, p := range policyNames {
			if rng.IntN(4) == 0 {
				continue
			}
			ps = append(ps, PolicyInfo{Name: p, Account: accounts[rng.IntN(len(accounts))], MaxAge: time.Hour, Sinks: []string{"file#0"}})
		}
		return ps
	}
	m.SetPolicies(randomPolicies())
	comparePromhttp(t, "empty", fast, slow, nil)
	for i := range 300 {
		switch op := rng.IntN(10); {
		case op < 5:
			r := state.Record{Policy: policyNames[rng.IntN(len(policyNames))], Name: names[rng.IntN(len(names))], CurrentKeyID: fmt.Sprint("k", i)}
			if rng.IntN(5) > 0 {
				r.CurrentSince = time.Unix(int64(rng.IntN(2_000_000_000)), int64(rng.IntN(1e9)))
			}
			if err := store.Put(r); err != nil {
				t.Fatal(err)
			}
		case op < 8:
			_ = store.Delete(policyNames[rng.IntN(len(policyNames))], names[rng.IntN(len(names))])
		default:
			m.SetPolicies(randomPolicies())
		}
		comparePromhttp(t, fmt.Sprint("step ", i), fast, slow, nil)
		if t.Failed() {
			return
		}
	}
}

// TestConcurrentScrapes: scrapes in every format while records
// are written and the policies change; run with -race.
func TestConcurrentScrapes(t *testing.T) {
	m, reg, store := newHandlerTest(t)
	h := m.Handler(reg, reg)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				hdr := http.Header{}
				switch (g + i) % 3 {
				case 1:
					hdr.Set("Accept-Encoding", "gzip")
				case 2:
					hdr.Set("Accept", `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited`)
				}
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header = hdr
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					t.Errorf("status %d: %s", rec.Code, rec.Body)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 400 {
			name := fmt.Sprint("n", i%50)
			if i%3 == 0 {
				_ = store.Delete("ci", name)
			} else {
				_ = store.Put(state.Record{Policy: "ci", Name: name, CurrentKeyID: "k", CurrentSince: time.Unix(int64(1e9+i), 0)})
			}
			if i%40 == 0 {
				acc := []string{"", "prod"}[i/40%2]
				m.SetPolicies([]PolicyInfo{{Name: "ci", Account: acc, MaxAge: time.Hour, Sinks: []string{"file#0"}}, {Name: "web", Account: "prod", MaxAge: time.Hour}})
			}
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	// After the storm, the text still matches promhttp.
	comparePromhttp(t, "after", m.Handler(reg, nil), promhttp.HandlerFor(m.Gatherer(reg), promhttp.HandlerOpts{}), nil)
}

// TestPrometheusAcceptHeaders: what Prometheus 2.x and 3.x send,
// and other clients: same Content-Type and body as promhttp.
func TestPrometheusAcceptHeaders(t *testing.T) {
	m, reg, _ := newHandlerTest(t)
	fast := m.Handler(reg, nil)
	slow := promhttp.HandlerFor(m.Gatherer(reg), promhttp.HandlerOpts{})
	for _, accept := range []string{
		// Prometheus 2.x default.
		`application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1`,
		// Prometheus 3.x default.
		`application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1`,
		`text/plain;version=1.0.0;escaping=underscores`,
		`text/plain;version=1.0.0;escaping=values`,
		`text/plain;version=1.0.0;escaping=dots`,
		`text/plain;version=0.0.4`,
		`application/openmetrics-text; version=1.0.0; charset=utf-8`,
		`*/*`,
		`text/html`,
		``,
	} {
		comparePromhttp(t, "", fast, slow, http.Header{"Accept": {accept}, "Accept-Encoding": {"gzip"}})
	}
}

// TestVaryHeader: promhttp answers with Vary: Accept and Vary:
// Accept-Encoding (the body depends on both); the text path sends no Vary,
// so a cache in front of /metrics may hand a gzip body to a client that
// did not ask for one, or text to one that asked for protobuf.
func TestVaryHeader(t *testing.T) {
	m, reg, _ := newHandlerTest(t)
	fast := m.Handler(reg, nil)
	slow := promhttp.HandlerFor(m.Gatherer(reg), promhttp.HandlerOpts{})
	h := http.Header{"Accept-Encoding": {"gzip"}}
	fr, _ := get(t, fast, "/metrics", h)
	sr, _ := get(t, slow, "/metrics", h)
	if got, want := fr.Header().Values("Vary"), sr.Header().Values("Vary"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Vary %q, promhttp %q", got, want)
	}
}

// badCollector is a collector whose Gather fails: two metrics with the same
// labels.
type badCollector struct{ desc *prometheus.Desc }

func (c badCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c badCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 2)
}

// TestGatherErrorMatchesPromhttp: a registry whose Gather fails is
// answered as promhttp answers it, and the failure is counted once.
func TestGatherErrorMatchesPromhttp(t *testing.T) {
	m, reg, _ := newHandlerTest(t)
	reg.MustRegister(badCollector{prometheus.NewDesc("zz_bad", "bad", nil, nil)})
	fast := m.Handler(reg, reg)
	fr, fb := get(t, fast, "/metrics", nil)
	if fr.Code != http.StatusInternalServerError || !strings.Contains(fb, "zz_bad") {
		t.Errorf("status %d body %q", fr.Code, fb)
	}
	if err := testutil.GatherAndCompare(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		all, _ := reg.Gather()
		return all, nil
	}), strings.NewReader(`
# HELP promhttp_metric_handler_errors_total Total number of internal errors encountered by the promhttp metric handler.
# TYPE promhttp_metric_handler_errors_total counter
promhttp_metric_handler_errors_total{cause="encoding"} 0
promhttp_metric_handler_errors_total{cause="gathering"} 1
`), "promhttp_metric_handler_errors_total"); err != nil {
		t.Error(err)
	}
}

// failingWriter fails every write, as a scraper that went away.
type failingWriter struct{ h http.Header }

func (w *failingWriter) Header() http.Header         { return w.h }
func (w *failingWriter) WriteHeader(int)             {}
func (w *failingWriter) Write(p []byte) (int, error) { return 0, errors.New("broken pipe") }

// TestEncodingErrorsCounted: promhttp counts a failed write in
// promhttp_metric_handler_errors_total{cause="encoding"}; the text path
// drops it, so that counter (which the handler still registers and
// exports) stays at 0 for the text format, the one Prometheus uses.
func TestEncodingErrorsCounted(t *testing.T) {
	m, reg, _ := newHandlerTest(t)
	fast := m.Handler(reg, reg)
	fast.ServeHTTP(&failingWriter{h: http.Header{}}, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	count := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "promhttp_metric_handler_errors_total" {
				for _, s := range mf.GetMetric() {
					if s.GetLabel()[0].GetValue() == "encoding" {
						return s.GetCounter().GetValue()
					}
				}
			}
		}
		return -1
	}
	if n := count(); n < 1 {
		t.Errorf("after a scrape whose writes failed, promhttp_metric_handler_errors_total{cause=\"encoding\"} = %v, want >= 1 (as promhttp)", n)
	}
}

// TestHeadGetsPromhttpHeaders: HEAD (which GET /metrics in a ServeMux also serves)
// gets the same headers as promhttp's.
func TestHeadGetsPromhttpHeaders(t *testing.T) {
	m, reg, _ := newHandlerTest(t)
	for _, h := range []http.Handler{m.Handler(reg, nil), promhttp.HandlerFor(m.Gatherer(reg), promhttp.HandlerOpts{})} {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", h)
		srv := httptest.NewServer(mux)
		resp, err := http.Head(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("HEAD: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
