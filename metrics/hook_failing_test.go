package metrics

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rotatord/rotatord/state"
)

const hookFailingFamily = namespace + "_hook_failing"

// failingSeries returns rotatord_hook_failing's series, each as
// "name hook event=value", sorted.
func failingSeries(t *testing.T, g prometheus.Gatherer) []string {
	t.Helper()
	var out []string
	if mf := families(t, g)[hookFailingFamily]; mf != nil {
		for _, s := range mf.GetMetric() {
			l := labelsOf(s)
			if l["account"] != "default" || l["policy"] != "ci" {
				t.Errorf("series %v: want account default, policy ci", l)
			}
			out = append(out, l["name"]+" "+l["hook"]+" "+l["event"]+"="+formatValue(s.GetGauge().GetValue()))
		}
	}
	slices.Sort(out)
	return out
}

// TestHookFailingPerName: a hook that fails for one name and succeeds
// for the policy's others has a series for that name only (the counter
// per policy shows successes, and RotatordHookFailing never fired), gone
// once the hook next succeeds for that name, once the name leaves the
// policy (its record is gone, as its key age series), and once a reload
// removes the hook or the policy. No name that does not fail has one.
func TestHookFailingPerName(t *testing.T) {
	hooks := []HookInfo{{Label: "exec#0", Event: "before_delete"}, {Label: "webhook#1", Event: "on_failure"}}
	m, reg, store := newStoreMetrics(t, PolicyInfo{Name: "ci", MaxAge: time.Hour, Hooks: hooks})
	g := m.Gatherer(reg)
	now := time.Now()
	for _, n := range []string{"ci-a", "ci-b"} {
		if err := store.Put(state.Record{Policy: "ci", Name: n, CurrentKeyID: "EXO1", CurrentSince: now}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string, want ...string) {
		t.Helper()
		if got := failingSeries(t, g); !slices.Equal(got, want) {
			t.Errorf("%s: %s = %q, want %q", when, hookFailingFamily, got, want)
		}
	}
	check("before any run")

	m.HookRun("ci", "ci-a", "exec#0", "before_delete", false, time.Second)
	m.HookRun("ci", "ci-b", "exec#0", "before_delete", true, time.Second)
	check("ci-a failed, ci-b passed", "ci-a exec#0 before_delete=1")

	m.HookRun("ci", "ci-a", "exec#0", "before_delete", true, time.Second)
	check("ci-a passed at its retry")

	// The name leaves the policy: its record goes, and its series with it.
	m.HookRun("ci", "ci-a", "exec#0", "before_delete", false, time.Second)
	m.HookRun("ci", "ci-b", "webhook#1", "on_failure", false, time.Second)
	check("both failing", "ci-a exec#0 before_delete=1", "ci-b webhook#1 on_failure=1")
	if err := store.Delete("ci", "ci-a"); err != nil {
		t.Fatal(err)
	}
	check("ci-a left the policy", "ci-b webhook#1 on_failure=1")

	// A reload that removes the hook; then one that removes the policy.
	m.HookRun("ci", "ci-b", "exec#0", "before_delete", false, time.Second)
	m.SetPolicies([]PolicyInfo{{Name: "ci", MaxAge: time.Hour, Hooks: hooks[:1]}})
	check("webhook#1 removed", "ci-b exec#0 before_delete=1")
	m.SetPolicies([]PolicyInfo{{Name: "other", MaxAge: time.Hour, Hooks: hooks}})
	check("policy ci removed")
}

// TestHookFailingAfterReload: a run that ends after a reload removed its
// hook (a consumer check outlasting the reload) adds no series, which no
// later run would clear; a name with a record but no current key yet (an
// on_failure hook of its first rotation) keeps its series.
func TestHookFailingAfterReload(t *testing.T) {
	hooks := []HookInfo{{Label: "exec#0", Event: "before_delete"}, {Label: "webhook#1", Event: "on_failure"}}
	m, reg, store := newStoreMetrics(t, PolicyInfo{Name: "ci", MaxAge: time.Hour, Hooks: hooks})
	g := m.Gatherer(reg)
	if err := store.Put(state.Record{Policy: "ci", Name: "ci-a", LastError: "create failed"}); err != nil {
		t.Fatal(err)
	}
	m.HookRun("ci", "ci-a", "webhook#1", "on_failure", false, time.Second)
	if got, want := failingSeries(t, g), []string{"ci-a webhook#1 on_failure=1"}; !slices.Equal(got, want) {
		t.Errorf("a name without a current key: %q, want %q", got, want)
	}
	m.SetPolicies([]PolicyInfo{{Name: "ci", MaxAge: time.Hour, Hooks: hooks[1:]}})
	m.HookRun("ci", "ci-a", "exec#0", "before_delete", false, time.Second)
	if got, want := failingSeries(t, g), []string{"ci-a webhook#1 on_failure=1"}; !slices.Equal(got, want) {
		t.Errorf("after a run of a hook the reload removed: %q, want %q", got, want)
	}
}

// TestHookFailingNameEscaped: the name is written into the text
// exposition escaped, as the key age series writes it: a name is chosen
// by whoever may create keys.
func TestHookFailingNameEscaped(t *testing.T) {
	m, reg, store := newStoreMetrics(t, PolicyInfo{Name: "ci", MaxAge: time.Hour, Hooks: []HookInfo{{Label: "exec#0", Event: "before_delete"}}})
	name := "ci-\"x\"\\\n} 1\nrotatord_leader 1"
	if err := store.Put(state.Record{Policy: "ci", Name: name, CurrentKeyID: "EXO1", CurrentSince: time.Now()}); err != nil {
		t.Fatal(err)
	}
	m.HookRun("ci", name, "exec#0", "before_delete", false, time.Second)
	rr := httptest.NewRecorder()
	m.Handler(reg, nil).ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	body := rr.Body.String()
	want := hookFailingFamily + `{account="default",event="before_delete",hook="exec#0",name="` + escapeLabelValue(name) + `",policy="ci"} 1` + "\n"
	if !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %q:\n%s", want, body)
	}
	if strings.Contains(body, "\nrotatord_leader 1\n") {
		t.Error("the name wrote a line of its own")
	}
}
