package daemon

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// README, Metrics: "per-policy series exist at zero from the start", the
// hook counter's too (one per hook, event and result), as
// rotatord_sink_writes_total's: Prometheus's increase() misses the first
// failure of a hook whose series is born at 1, and RotatordHookFailing
// is built on it.
func TestHookRunSeriesExistAtZeroFromTheStart(t *testing.T) {
	e := newEnv(t)
	e.writePolicy(`  - name: ci
    match: {name: "ci-runner"}
    hooks:
      - {event: before_delete, exec: {command: [/bin/true], timeout: 5s}}
    sinks: [{type: file, path: "out/{{.Name}}.json"}]
`)
	if err := e.d.Reload(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.d.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body := string(b)
	if !strings.Contains(body, `rotatord_sink_writes_total{account="default",policy="ci",result="failure",sink="file#0"} 0`) {
		t.Fatalf("no zero sink series either:\n%s", body)
	}
	want := `rotatord_hook_runs_total{account="default",event="before_delete",hook="exec#0",policy="ci",result="failure"} 0`
	if !strings.Contains(body, want) {
		t.Errorf("missing at start: %s", want)
	}
}
