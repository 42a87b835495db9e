package daemon

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/config"
)

// TestPrometheusHealthPaths: rotatord's reload is Prometheus's /-/reload,
// but its health was only at /healthz and /readyz: a probe or a blackbox
// check written for Prometheus or Alertmanager (/-/healthy, /-/ready) got
// 404. Both spellings answer the same.
func TestPrometheusHealthPaths(t *testing.T) {
	e := newEnv(t)
	e.sim.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorRate: 1})
	e.start()
	e.eventually("a pass ran", func() bool { return e.d.account(config.DefaultAccount).apiTried.Load() })
	if code, _ := e.get("/-/healthy"); code != http.StatusOK {
		t.Errorf("/-/healthy = %d, want 200", code)
	}
	code, body := e.get("/-/ready")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "listing failed") {
		t.Errorf("/-/ready = %d %q while the listing fails, want 503 as /readyz", code, body)
	}
}
