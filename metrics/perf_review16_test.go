package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rotatord/rotatord/state"
)

// BenchmarkReview16ScrapeFormats: /metrics at 10,000 names in the formats
// Prometheus asks for: text with and without gzip, and protobuf (what
// Prometheus asks first with native histograms / scrape_protocols
// PrometheusProto), which still goes through promhttp over Gatherer.
func BenchmarkReview16ScrapeFormats(b *testing.B) {
	const n = 10000
	store, err := state.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				_ = store.Put(state.Record{Policy: "ci", Name: fmt.Sprintf("ci-%05d", i), CurrentKeyID: "k", CurrentSince: since})
			}
		}()
	}
	wg.Wait()
	reg := prometheus.NewRegistry()
	m := New(reg, store)
	m.SetPolicies([]PolicyInfo{{Name: "ci", MaxAge: 30 * 24 * time.Hour, Sinks: []string{"file#0"}}})
	h := m.Handler(reg, nil)
	for _, c := range []struct{ name, accept, enc string }{
		{"text", "", ""},
		{"text-gzip", "", "gzip"},
		{"protobuf-gzip", `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,text/plain;version=0.0.4;q=0.3`, "gzip"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				if c.accept != "" {
					req.Header.Set("Accept", c.accept)
				}
				if c.enc != "" {
					req.Header.Set("Accept-Encoding", c.enc)
				}
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}
