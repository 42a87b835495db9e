package metrics

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// Gatherer gathers g and the per-name series, which New keeps out of the
// registry.
func (m *Metrics) Gatherer(g prometheus.Gatherer) prometheus.Gatherer {
	if m.keys == nil {
		return g
	}
	return prometheus.Gatherers{g, m.keys}
}

// Handler serves /metrics: what g gathers (the registry New registered
// into) and the per-name series. In the text format, the one Prometheus
// scrapes without native histograms, the per-name series are written from
// their cached lines; any other format, and a name[] filter, go through
// promhttp over Gatherer. reg receives promhttp's error counter.
func (m *Metrics) Handler(g prometheus.Gatherer, reg prometheus.Registerer) http.Handler {
	full := promhttp.HandlerFor(m.Gatherer(g), promhttp.HandlerOpts{Registry: reg})
	if m.keys == nil {
		return full
	}
	// promhttp registered its error counter in reg: the text path counts
	// its failed writes there too.
	encodingErrors := func() {}
	if reg != nil {
		var are prometheus.AlreadyRegisteredError
		if err := reg.Register(promhttpErrors()); errors.As(err, &are) {
			if c, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				encodingErrors = c.WithLabelValues("encoding").Inc
			}
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := expfmt.Negotiate(r.Header)
		if format.FormatType() != expfmt.TypeTextPlain || r.URL.Query().Has("name[]") {
			full.ServeHTTP(w, r)
			return
		}
		mfs, err := g.Gather()
		if err != nil {
			// promhttp answers a failed gather the way Prometheus's
			// tools do (500, the error counted).
			full.ServeHTTP(w, r)
			return
		}
		lines, gen := m.keys.refresh()

		// As promhttp: the answer depends on both headers.
		w.Header().Add("Vary", "Accept")
		w.Header().Add("Vary", "Accept-Encoding")
		w.Header().Set("Content-Type", string(format))
		var out io.Writer = w
		var gz *splicedGzip
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			w.Header().Set("Content-Encoding", "gzip")
			gz = newSplicedGzip(w)
			out = gz
		}
		bw := bufio.NewWriterSize(out, 32<<10)
		enc := expfmt.NewEncoder(bw, format)
		writeKeys := func() error {
			if len(lines) == 0 {
				return nil
			}
			defer func() { lines = nil }()
			if gz != nil {
				// Compressed once per change of the lines (gzipsplice.go).
				block, err := m.keys.deflated(lines, gen)
				if err != nil {
					return err
				}
				if err := bw.Flush(); err != nil {
					return err
				}
				return gz.splice(block)
			}
			if _, err := bw.WriteString(keyCreatedTextHeader); err != nil {
				return err
			}
			for _, l := range lines {
				if _, err := bw.WriteString(l.text); err != nil {
					return err
				}
			}
			return nil
		}
		// The families in name order, the per-name one among them. A
		// failed write (the client went away) ends the answer, counted.
		err = func() error {
			for _, mf := range mfs {
				if mf.GetName() > keyCreatedName {
					if err := writeKeys(); err != nil {
						return err
					}
				}
				if err := enc.Encode(mf); err != nil {
					return err
				}
			}
			if err := writeKeys(); err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return err
			}
			if gz != nil {
				return gz.Close()
			}
			return nil
		}()
		if err != nil {
			encodingErrors()
		}
	})
}

// promhttpErrors is promhttp's promhttp_metric_handler_errors_total, to be
// found in the registry it registered it in.
func promhttpErrors() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "promhttp_metric_handler_errors_total",
		Help: "Total number of internal errors encountered by the promhttp metric handler.",
	}, []string{"cause"})
}

// acceptsGzip reads an Accept-Encoding header: gzip listed with a weight
// above zero. (A bare * gets the identity, as promhttp answers it.)
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" {
			continue
		}
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		if q > 0 {
			return true
		}
	}
	return false
}
