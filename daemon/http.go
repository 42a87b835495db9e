package daemon

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func newHandler(d *Daemon) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{Registry: d.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, why := d.Ready()
		if !ok {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, why)
	})
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
		done := make(chan error, 1)
		select {
		case d.reloadReq <- done:
		case <-r.Context().Done():
			return
		}
		select {
		case err := <-done:
			if err != nil {
				http.Error(w, "reload rejected, previous configuration kept: "+err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprintln(w, "reloaded")
		case <-r.Context().Done():
		}
	})
	return mux
}
