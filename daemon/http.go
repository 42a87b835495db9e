package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// What /-/reload answers. A rejected reload is answered without details,
// as issue #11 prescribes: the reason quotes the policy file (its path, a
// line, a value written in the wrong field, which may be a short secret or
// a UUID), and anyone who reaches the port may POST. It goes to the log.
const (
	// lifecycleDisabled is Prometheus's answer without --web.enable-lifecycle.
	lifecycleDisabled = "Lifecycle API is not enabled."
	reloadCrossOrigin = "cross-origin requests are refused"
	reloadRejected    = "failed to reload config; the previous configuration stays in force (the reason is in rotatord's log)"
	reloadDone        = "reloaded"
	reloadsWaiting    = "too many reloads are waiting for the pass in flight; try again once it ends"
	reloadStopping    = "rotatord is stopping: the configuration was not reloaded"
)

// errReloadStopping answers a reload the loop took as the stop began.
var errReloadStopping = errors.New(reloadStopping)

// maxReloadsWaiting is how many /-/reload requests may wait for the pass
// in flight at once. Each keeps its connection from eviction (holdConn)
// and gives its place among the requests in flight back, so without this
// bound enough of them held every connection place until the pass ended,
// and the probes waited in the accept queue. The others answer 503.
const maxReloadsWaiting = 4

func newHandler(d *Daemon) http.Handler {
	// rotatord_ready says what /readyz answers; it is read at scrape
	// time, and only /metrics below shows it.
	d.metrics.SetReady(func() bool { ok, _ := d.Ready(); return ok })
	mux := http.NewServeMux()
	// "/{$}": the landing page is / only; other paths are 404.
	mux.Handle("GET /{$}", newLandingPage(d))
	mux.Handle("GET /metrics", d.metrics.Handler(d.reg, d.reg))
	healthy := func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	}
	ready := func(w http.ResponseWriter, r *http.Request) {
		ok, why := d.Ready()
		if !ok {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, why)
	}
	// Kubernetes' spellings, and Prometheus's and Alertmanager's beside
	// /-/reload (GET also serves HEAD).
	mux.HandleFunc("GET /healthz", healthy)
	mux.HandleFunc("GET /-/healthy", healthy)
	mux.HandleFunc("GET /readyz", ready)
	mux.HandleFunc("GET /-/ready", ready)
	// POST and PUT, as Prometheus.
	reload := d.reloadHandler()
	mux.HandleFunc("POST /-/reload", reload)
	mux.HandleFunc("PUT /-/reload", reload)
	return mux
}

// reloadHandler serves /-/reload: 403 unless the lifecycle API is enabled
// (as Prometheus), 403 to a request a browser sends on behalf of a page
// (it carries Origin), 400 without details when the new file is refused (the log has them).
func (d *Daemon) reloadHandler() http.HandlerFunc {
	log := d.log.Named("http")
	return func(w http.ResponseWriter, r *http.Request) {
		if !d.opts.Web.EnableLifecycle {
			http.Error(w, lifecycleDisabled, http.StatusForbidden)
			return
		}
		// A page in a browser can make it POST anywhere (a "simple"
		// request needs no preflight): such requests carry Origin, and
		// Sec-Fetch-Site unless the user typed the URL. curl, scripts
		// and sidecars send neither.
		// Any Origin header, even an empty one: only a browser sends it.
		_, hasOrigin := r.Header["Origin"]
		if o := r.Header.Get("Origin"); hasOrigin || !fetchedByUser(r) {
			log.Warn("/-/reload refused: cross-origin request", zap.String("remote", r.RemoteAddr),
				zap.String("origin", o), zap.String("sec_fetch_site", r.Header.Get("Sec-Fetch-Site")))
			http.Error(w, reloadCrossOrigin, http.StatusForbidden)
			return
		}
		if d.reloadsWaiting.Add(1) > maxReloadsWaiting {
			d.reloadsWaiting.Add(-1)
			log.Warn("/-/reload refused: too many reloads waiting", zap.String("remote", r.RemoteAddr), zap.Int("waiting", maxReloadsWaiting))
			w.Header().Set("Retry-After", "10")
			http.Error(w, reloadsWaiting, http.StatusServiceUnavailable)
			return
		}
		defer d.reloadsWaiting.Add(-1)
		log.Info("reload requested over HTTP", zap.String("remote", r.RemoteAddr))
		// A reload waits for the pass in flight, which can outlast the
		// server's write timeout (a minute): the answer must still reach
		// the caller, who would otherwise not know whether it applied.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		// Nor may its quiet connection be evicted for a new one; and
		// its wait does not keep other requests from being served.
		defer holdConn(r)()
		leaveInFlight(r)
		var stopped <-chan struct{}
		if c := d.reloadStop.Load(); c != nil {
			stopped = *c
		}
		done := make(chan error, 1)
		select {
		case d.reloadReq <- done:
		case <-stopped:
			// The reload loop has ended (a stop): nothing would take it.
			http.Error(w, reloadStopping, http.StatusServiceUnavailable)
			return
		case <-r.Context().Done():
			return
		}
		select {
		case err := <-done:
			if errors.Is(err, errReloadStopping) {
				http.Error(w, reloadStopping, http.StatusServiceUnavailable)
				return
			}
			if err != nil {
				// Reload logged why. 400, not Prometheus's 500: the
				// file is at fault.
				http.Error(w, reloadRejected, http.StatusBadRequest)
				return
			}
			fmt.Fprintln(w, reloadDone)
		case <-r.Context().Done():
		}
	}
}

// fetchedByUser reports whether the request is not one a browser made for
// a page: no Sec-Fetch-Site, or "none" (the user typed the URL).
func fetchedByUser(r *http.Request) bool {
	s := r.Header.Get("Sec-Fetch-Site")
	return s == "" || s == "none"
}
