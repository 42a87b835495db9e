package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rotatord/rotatord/state"
)

// validate accepts a grace period of up to about 292 years: a deletion due
// past 2262 is beyond what Unix nanoseconds hold. Its due time must not
// wrap around to a date long past, which RotatordDeletionOverdue reads as
// a deletion overdue by centuries.
func TestDeletionDueCenturiesAheadIsNotInThePast(t *testing.T) {
	m, reg, store := newTestMetrics(t)
	grace := 250 * 365 * 24 * time.Hour
	m.SetPolicies([]PolicyInfo{{Name: "ci", MaxAge: time.Hour, GracePeriod: grace}})
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	if err := store.Put(state.Record{Policy: "ci", Name: "a", CurrentKeyID: "EXOa2", CurrentSince: at,
		Rotation: &state.Rotation{Phase: state.PhaseDelivered, NewKeyID: "EXOa2", OldKeyIDs: []string{"EXOa"}, DeliveredAt: at, DeleteAfter: at.Add(grace)}}); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`
# HELP rotatord_state_oldest_deletion_due_timestamp_seconds The earliest delete_after of the policy's delivered rotations, moved to the next opening of the policy's windows: when the longest-waiting old keys became (or become) deletable, Unix time; absent while none waits.
# TYPE rotatord_state_oldest_deletion_due_timestamp_seconds gauge
rotatord_state_oldest_deletion_due_timestamp_seconds{account="default",policy="ci"} %g
`, float64(at.Add(grace).Unix()))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rotatord_state_oldest_deletion_due_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}
