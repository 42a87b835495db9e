package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rotatord/rotatord/state"
)

// BenchmarkScrape serves /metrics (as the daemon does, with gzip as
// Prometheus and Go's client ask for it) over a state store with 10000
// managed names: the handler reads every record at each scrape. The
// promhttp case is the registry's own path, for comparison.
func BenchmarkScrape(b *testing.B) {
	const n = 10000
	store, err := state.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// Every Put syncs: spread them over a few writers.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				id := fmt.Sprintf("EXO%024x", i)
				r := state.Record{Policy: "ci", Name: fmt.Sprintf("ci-%05d", i), RoleID: "22222222-2222-2222-2222-222222222222",
					CurrentKeyID: id, CurrentSince: since, CreatedByUs: true, FirstSeen: state.KeyTimesOf(map[string]time.Time{id: since})}
				if err := store.Put(r); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := New(reg, store)
	m.SetPolicies([]PolicyInfo{{Name: "ci", MaxAge: 30 * 24 * time.Hour, Sinks: []string{"file#0"}}})
	// Prometheus asks for protobuf first with native histograms (or
	// scrape_protocols listing PrometheusProto first): that still goes
	// through promhttp, over the cached series.
	const protobuf = `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,text/plain;version=0.0.4;q=0.3`
	for _, c := range []struct {
		name, accept string
		h            http.Handler
	}{
		{"handler", "", m.Handler(reg, nil)},
		{"handler-protobuf", protobuf, m.Handler(reg, nil)},
		{"promhttp", "", promhttp.HandlerFor(m.Gatherer(reg), promhttp.HandlerOpts{})},
	} {
		b.Run(fmt.Sprintf("%s/names=%d", c.name, n), func(b *testing.B) {
			for range b.N {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Accept-Encoding", "gzip")
				if c.accept != "" {
					req.Header.Set("Accept", c.accept)
				}
				c.h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") != "gzip" {
					b.Fatalf("status %d, encoding %q", rec.Code, rec.Header().Get("Content-Encoding"))
				}
				b.ReportMetric(float64(rec.Body.Len()), "gzip-bytes")
			}
		})
	}
}
