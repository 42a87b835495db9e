package daemon

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/rotation"
)

// TestPassLogsOneSummaryLine: every pass that acts logs one line at info
// with what it did and how long it took (issue 12: a long pass looked hung).
func TestPassLogsOneSummaryLine(t *testing.T) {
	e := newEnv(t)
	if _, err := e.d.RunPass(context.Background(), nil, rotation.Options{}); err != nil {
		t.Fatal(err)
	}
	lines := e.logs.FilterMessage("pass done").All()
	if len(lines) != 1 {
		t.Fatalf("%d pass done lines, want 1", len(lines))
	}
	l := lines[0]
	if l.Level != zap.InfoLevel {
		t.Errorf("pass done logged at %s, want info", l.Level)
	}
	f := l.ContextMap()
	for k, want := range map[string]any{"names": int64(2), "rotated": int64(2), "failed": int64(0), "deleted": int64(0)} {
		if f[k] != want {
			t.Errorf("pass done %s = %v, want %v (%v)", k, f[k], want, f)
		}
	}
	if _, ok := f["duration"]; !ok {
		t.Errorf("pass done has no duration: %v", f)
	}
	if p, _ := f["policies"].([]any); len(p) != 1 || p[0] != "ci" {
		t.Errorf("pass done policies = %v, want [ci]", f["policies"])
	}

	// A dry run (plan) changes nothing and logs no summary.
	if _, err := e.d.RunPass(context.Background(), nil, rotation.Options{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if n := e.logs.FilterMessage("pass done").Len(); n != 1 {
		t.Errorf("%d pass done lines after a dry run, want still 1", n)
	}
}

// TestCallerReportsLogsNoPassError: once and plan print a failed pass
// themselves; the daemon must not log it too (issue 12: each error was
// printed twice).
func TestCallerReportsLogsNoPassError(t *testing.T) {
	e := newEnv(t)
	e.d.opts.CallerReports = true
	e.sim.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorRate: 1})
	if _, err := e.d.RunPass(context.Background(), nil, rotation.Options{}); err == nil {
		t.Fatal("pass succeeded with the listing failing")
	}
	if n := e.logs.FilterLevelExact(zap.ErrorLevel).Len() + e.logs.FilterLevelExact(zap.WarnLevel).Len(); n != 0 {
		t.Errorf("%d warnings or errors logged, want 0: the caller reports the error: %v", n, e.logs.All())
	}
	e.d.opts.CallerReports = false
	if _, err := e.d.RunPass(context.Background(), nil, rotation.Options{}); err == nil {
		t.Fatal("pass succeeded with the listing failing")
	}
	if n := e.logs.FilterMessage("pass failed").Len(); n != 1 {
		t.Errorf("the daemon logged %d pass failed lines, want 1", n)
	}
}

// TestRetriesAreLoggedAtDebug: each API retry is a debug line naming the
// operation, the attempt and the wait.
func TestRetriesAreLoggedAtDebug(t *testing.T) {
	e := newEnv(t)
	body, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.config, []byte(strings.Replace(string(body), "max_retries: 0", "max_retries: 1", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	e.d.Close()
	d, err := New(Options{ConfigPath: e.config, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	e.sim.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorNext: 1, ErrorStatus: 503})
	if _, err := d.RunPass(context.Background(), nil, rotation.Options{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	lines := logs.FilterMessage("retrying API request").All()
	if len(lines) != 1 || lines[0].Level != zap.DebugLevel {
		t.Fatalf("retry log lines %v, want one at debug", lines)
	}
	f := lines[0].ContextMap()
	if f["operation"] != "list-api-keys" || f["attempt"] != int64(1) || f["wait"] == nil || !strings.Contains(f["error"].(string), "503") {
		t.Errorf("retry log fields %v", f)
	}
}

// TestListenOverridesThePolicyFile: Options.Listen (--web.listen-address)
// wins over the file's listen.
func TestListenOverridesThePolicyFile(t *testing.T) {
	e := newEnv(t)
	override := freePort(t)
	e.d.opts.Listen = []string{override}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.d.Run(ctx, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	e.eventually("HTTP server up on the override", func() bool {
		resp, err := http.Get("http://" + override + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if resp, err := http.Get("http://" + e.listen + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("the file's listen %s answers too", e.listen)
	}
}
