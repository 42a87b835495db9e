package metrics

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

// TestHookFailingKeptAcrossReloadDuringRefresh: the key series' refresh
// drops the rotatord_hook_failing series of the names its walk of the
// policies does not find. A reload that adds a policy, followed by a
// failed hook run for one of its names, may land while a refresh runs,
// after it read the policies in force: that failure is no name gone, and
// its series must stay (nothing runs the hook again before its next
// rotation to bring it back). The policies read here makes the reload
// and the failure land right after the refresh's read of them, as a
// reload and a pass racing a scrape would. Both a policy added and one
// removed then restored (its series dropped by the removal, and failing
// again) are tried.
func TestHookFailingKeptAcrossReloadDuringRefresh(t *testing.T) {
	hooks := []HookInfo{{Label: "exec#0", Event: "before_delete"}}
	ci := PolicyInfo{Name: "ci", MaxAge: time.Hour, Hooks: hooks}
	added := PolicyInfo{Name: "added", MaxAge: time.Hour, Hooks: hooks}
	for _, tc := range []struct {
		name   string
		before []PolicyInfo // in force before the scrape
		during func(m *Metrics)
	}{
		{"policy added", []PolicyInfo{ci}, nil},
		{"policy removed and restored", []PolicyInfo{ci, added}, func(m *Metrics) {
			m.SetPolicies([]PolicyInfo{ci})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, reg, store := newStoreMetrics(t, tc.before...)
			g := m.Gatherer(reg)
			if err := store.Put(state.Record{Policy: "added", Name: "added-a", CurrentKeyID: "EXO1", CurrentSince: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if len(tc.before) > 1 {
				// Failing already: the refresh's snapshot of the failing
				// names holds it.
				m.HookRun("added", "added-a", "exec#0", "before_delete", false, time.Second)
			}
			read := m.keys.policies
			// The registry may collect the families in parallel: once.
			var raced atomic.Bool
			m.keys.policies = func() ([]PolicyInfo, uint64) {
				if !raced.CompareAndSwap(false, true) {
					return read()
				}
				if tc.during != nil {
					tc.during(m)
				}
				policies, gen := read()
				m.SetPolicies([]PolicyInfo{ci, added})
				m.HookRun("added", "added-a", "exec#0", "before_delete", false, time.Second)
				return policies, gen
			}
			families(t, g)
			if !raced.Load() {
				t.Fatal("the scrape did not read the policies")
			}
			key := hookFailingKey{"default", "added", "added-a", "exec#0", "before_delete"}
			m.failing.mu.Lock()
			_, ok := m.failing.set[key]
			m.failing.mu.Unlock()
			if !ok {
				t.Errorf("the failure of added-a's hook, recorded after the reload that added its policy, lost its %s series to the refresh that read the policies before it", hookFailingFamily)
			}
		})
	}
}
