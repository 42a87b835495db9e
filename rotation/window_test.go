package rotation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/internal/window"
	"github.com/rotatord/rotatord/state"
)

// weekdays09to16 is Monday to Friday, 09:00 to 16:00 UTC.
func weekdays09to16() window.Set {
	var days [7]bool
	for d := time.Monday; d <= time.Friday; d++ {
		days[d] = true
	}
	return window.Set{{Days: days, Start: 9 * time.Hour, End: 16 * time.Hour, Zone: time.UTC}}
}

func TestDecideWaitsForTheWindow(t *testing.T) {
	sat := time.Date(2026, 12, 12, 12, 0, 0, 0, time.UTC) // a Saturday
	mon9 := time.Date(2026, 12, 14, 9, 0, 0, 0, time.UTC)
	live := []apiclient.Key{{ID: "EXO1", Name: "ci-x", RoleID: "r"}}
	old := state.Record{Name: "ci-x", RoleID: "r", CurrentKeyID: "EXO1", CurrentSince: sat.Add(-48 * time.Hour)}
	in := Input{Now: sat, MaxAge: time.Hour, Live: live, Record: old, Windows: weekdays09to16()}
	if d := Decide(in); d.Action != ActionNone || d.Reason != ReasonOutsideWindow || !d.Due.Equal(mon9) {
		t.Errorf("due on Saturday: %+v, want to wait for Monday 09:00", d)
	}
	in.Force = true
	if d := Decide(in); d.Action != ActionNone || d.Reason != ReasonOutsideWindow {
		t.Errorf("--force alone: %+v, want to wait for the window", d)
	}
	in.IgnoreWindows = true
	if d := Decide(in); d.Action != ActionRotate {
		t.Errorf("--ignore-windows: %+v, want rotate", d)
	}
	in = Input{Now: mon9.Add(time.Hour), MaxAge: time.Hour, Live: live, Record: old, Windows: weekdays09to16()}
	if d := Decide(in); d.Action != ActionRotate {
		t.Errorf("due inside the window: %+v, want rotate", d)
	}

	// A deletion whose grace period ended waits too.
	del := old
	del.Rotation = &state.Rotation{Phase: state.PhaseDelivered, NewKeyID: "EXO1", OldKeyIDs: []string{"EXO0"}, DeleteAfter: sat.Add(-time.Hour)}
	in = Input{Now: sat, MaxAge: time.Hour, Live: live, Record: del, Windows: weekdays09to16()}
	if d := Decide(in); d.Action != ActionNone || d.Reason != ReasonOutsideWindow {
		t.Errorf("deletion on Saturday: %+v, want to wait", d)
	}
	// A rotation interrupted by a crash is finished at once.
	rec := old
	rec.Rotation = &state.Rotation{Phase: state.PhaseCreated, NewKeyID: "EXO2", OldKeyIDs: []string{"EXO1"}}
	in = Input{Now: sat, MaxAge: time.Hour, Live: live, Record: rec, Windows: weekdays09to16()}
	if d := Decide(in); d.Action != ActionRecover {
		t.Errorf("interrupted rotation on Saturday: %+v, want recover", d)
	}
}

func TestJitterSpreadsNamesEvenly(t *testing.T) {
	const n, jitter, buckets = 2000, 10 * time.Hour, 10
	var count [buckets]int
	for i := range n {
		name := fmt.Sprintf("ci-%04d", i)
		off := JitterOffset(name, jitter)
		if off < 0 || off >= jitter {
			t.Fatalf("%s: offset %s outside [0, %s)", name, off, jitter)
		}
		if again := JitterOffset(name, jitter); again != off {
			t.Fatalf("%s: offset %s then %s: not deterministic", name, off, again)
		}
		count[int(off*buckets/jitter)]++
	}
	// 200 expected per hour; a uniform spread stays well within 150-250.
	for b, c := range count {
		if c < 150 || c > 250 {
			t.Errorf("hour %d of the jitter holds %d of %d names: not spread (%v)", b, c, n, count)
		}
	}
	if JitterOffset("ci-x", 0) != 0 {
		t.Error("no jitter moved a due time")
	}
}

func TestJitterMovesTheDueTime(t *testing.T) {
	now := time.Date(2026, 12, 14, 12, 0, 0, 0, time.UTC)
	rec := state.Record{Name: "ci-x", RoleID: "r", CurrentKeyID: "EXO1", CurrentSince: now.Add(-time.Hour)}
	in := Input{Now: now, MaxAge: time.Hour, Live: []apiclient.Key{{ID: "EXO1", Name: "ci-x", RoleID: "r"}}, Record: rec,
		JitterOffset: 30 * time.Minute}
	if d := Decide(in); d.Action != ActionNone || !d.Due.Equal(now.Add(30*time.Minute)) {
		t.Errorf("with 30 m of jitter: %+v, want due 30 m later", d)
	}
}

// With grace_period 0, a rotation that completes outside the windows (a
// recovery on a Sunday) leaves the old key for the next window.
func TestGraceZeroDeletionWaitsForTheWindow(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", "ci-role")
	h.clock.now = time.Date(2026, 12, 13, 12, 0, 0, 0, time.UTC) // a Sunday
	h.policy.Windows = weekdays09to16()
	h.newEngine()
	h.policy.Windows = nil // the rotation runs (as if a window had just closed)
	h.newEngine()
	h.sinkB.failWrite = errors.New("disk full") // the first sink holds the new key: kept, resumed
	h.pass(Options{Force: true})
	h.sinkB.failWrite = nil
	h.policy.Windows = weekdays09to16()
	h.newEngine()
	h.clock.Add(2 * time.Minute)
	h.pass(Options{IgnoreBackoff: true}) // the recovery finishes it, on a Sunday
	if !slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatal("the old key was deleted outside the window")
	}
	h.clock.now = time.Date(2026, 12, 14, 10, 0, 0, 0, time.UTC) // Monday 10:00
	h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
	if slices.Contains(h.api.live("ci-runner"), old) {
		t.Error("the old key is still alive in the window")
	}
}
