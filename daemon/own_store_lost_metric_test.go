package daemon

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/rotation"
)

// ownStoreLost returns rotatord_sink_checks_total{policy="_self",state="lost"}.
func ownStoreLost(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	n, _ := counterSum(t, reg, "rotatord_sink_checks_total", ownStoreLostLabels)
	return n
}

var ownStoreLostLabels = map[string]string{"policy": "_self", "state": "lost"}

// newSelfDaemonWithRegistry opens a daemon on newSelfEnv(t, "1h") (the
// own key's grace period an hour) whose metrics go to the returned
// registry, closed at the end of the test.
func newSelfDaemonWithRegistry(t *testing.T) (*selfEnv, *Daemon, *prometheus.Registry) {
	t.Helper()
	e := newSelfEnv(t, "1h")
	reg := prometheus.NewRegistry()
	d, err := New(Options{ConfigPath: e.config, Logger: zap.NewNop(), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return e, d, reg
}

// A credential store that no longer holds the key rotatord signs with,
// and that rotatord will not or cannot put right (a consumer's credential
// pasted there: a restart would sign as that key), was only logged: no
// metric moved, so no alert fired before the restart that reads it. It is
// counted as a lost sink of _self (rotatord_sink_checks_total{state=
// "lost"}, the RotatordSinkLostKey alert), as the check of any other
// key's sinks counts one; so is a store found emptied and written back.
func TestOwnStoreHoldingAnotherKeyIsCountedLost(t *testing.T) {
	e, d, reg := newSelfDaemonWithRegistry(t)
	ctx := context.Background()
	if _, err := d.RunPass(ctx, nil, rotation.Options{}); err != nil {
		t.Fatal(err)
	}
	if n := ownStoreLost(t, reg); n != 0 {
		t.Fatalf("lost %v with the store holding the key in use, want 0", n)
	}

	// A ci key's credential pasted over rotatord's.
	var ci exosim.KeyRecord
	for _, k := range e.sim.Keys() {
		if k.Alive && k.Name != exosim.DefaultAdminName {
			ci = k
			break
		}
	}
	cred, _ := json.Marshal(map[string]string{"api_key": ci.Key, "api_secret": ci.Secret})
	store := filepath.Join(e.dir, "credential.json")
	if err := os.WriteFile(store, cred, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RunPass(ctx, nil, rotation.Options{}); err != nil {
		t.Fatal(err)
	}
	if n := ownStoreLost(t, reg); n < 1 {
		t.Errorf("lost %v with a ci key's credential in the store, want at least 1", n)
	}

	// Emptied: written back, and counted.
	before := ownStoreLost(t, reg)
	if err := os.WriteFile(store, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RunPass(ctx, nil, rotation.Options{}); err != nil {
		t.Fatal(err)
	}
	if n := ownStoreLost(t, reg); n <= before {
		t.Errorf("lost %v after the store was emptied (was %v), want more", n, before)
	}
}

// ownStoreLostSeries reports whether the series
// rotatord_sink_checks_total{policy="_self",state="lost"} exists.
func ownStoreLostSeries(t *testing.T, reg *prometheus.Registry) bool {
	t.Helper()
	_, found := counterSum(t, reg, "rotatord_sink_checks_total", ownStoreLostLabels)
	return found
}

// RotatordSinkLostKey fires on increase(rotatord_sink_checks_total
// {state="lost"}[6h]) > 0: a series born at 1 shows no increase, so a
// store found emptied once (written back, counted once) never fired it.
// The own key's lost series exists at zero from the start, and a reload
// does not drop it.
func TestOwnStoreLostSeriesExistsAtZeroBeforeAnyLoss(t *testing.T) {
	_, d, reg := newSelfDaemonWithRegistry(t)
	if _, err := d.RunPass(context.Background(), nil, rotation.Options{}); err != nil {
		t.Fatal(err)
	}
	if !ownStoreLostSeries(t, reg) {
		t.Fatal(`no rotatord_sink_checks_total{policy="_self",state="lost"} series before any loss: the first loss is born at 1 and increase() never shows it`)
	}
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if !ownStoreLostSeries(t, reg) {
		t.Fatal(`the reload dropped rotatord_sink_checks_total{policy="_self",state="lost"}`)
	}
	if n := ownStoreLost(t, reg); n != 0 {
		t.Errorf("lost %v with the store holding the key in use, want 0", n)
	}
}
