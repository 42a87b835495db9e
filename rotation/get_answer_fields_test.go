package rotation

// A GET of a key is documented as {"key","name","role-id"}, but every
// field of the API's schema is optional. An API whose GET leaves the name
// or the role out (its listing has them) answers about the key all the
// same: the deleter, which looks old keys up by GET, took such an answer
// for a key "not of this name and role", refused to delete it, and
// cleared the rotation: the old key lived on, in no sink and on no record.

import (
	"context"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// terseGet answers GET without some of the key's fields.
type terseGet struct {
	*fakeAPI
	dropName, dropRole bool
}

func (g *terseGet) GetKey(ctx context.Context, id string) (apiclient.Key, error) {
	k, err := g.fakeAPI.GetKey(ctx, id)
	if g.dropName {
		k.Name = ""
	}
	if g.dropRole {
		k.RoleID = ""
	}
	return k, err
}

func TestGetAnswerWithoutNameOrRoleStillDeletesTheOldKey(t *testing.T) {
	for _, tc := range []struct {
		what               string
		dropName, dropRole bool
	}{{"no name", true, false}, {"no role", false, true}, {"neither", true, true}} {
		t.Run(tc.what, func(t *testing.T) {
			h := newHarness(t, time.Hour)
			old := h.api.add("ci-runner", roleCI)
			h.pass(Options{})
			h.useAPI(&terseGet{fakeAPI: h.api, dropName: tc.dropName, dropRole: tc.dropRole})
			h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
			for range 3 {
				h.clock.Add(time.Hour + time.Minute)
				h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
				h.engine.Pass(context.Background(), []string{"ci"}, Options{IgnoreBackoff: true})
			}

			held := h.sinkA.holds("ci-runner")
			if held == "" || held == old {
				t.Fatalf("the sink holds %q: no rotation away from %s (last error %q)", held, old, h.record("ci-runner").LastError)
			}
			live := h.api.live("ci-runner")
			r := h.record("ci-runner")
			if len(live) != 1 || live[0] != held {
				t.Errorf("live keys %v, want only the key the sinks hold (%s); record: rotation %+v, deleted %v, last error %q", live, held, r.Rotation, r.Deleted, r.LastError)
			}
		})
	}
}

// The same with sinks that cannot give a secret back (templates): no
// adoption can re-schedule the old key's deletion.
func TestGetAnswerWithoutRoleStillDeletesTheOldKeyOfTemplateSinks(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", roleCI)
	h.sinkA.opaque = true
	h.sinkB.opaque = true
	h.setSinks(fpSink{h.sinkA}, fpSink{h.sinkB})
	h.pass(Options{})
	h.useAPI(&terseGet{fakeAPI: h.api, dropRole: true})
	h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
	newID := h.sinkA.holds("ci-runner")
	if newID == "" || newID == old {
		t.Fatalf("no rotation: sinks hold %q", newID)
	}
	for range 3 {
		h.clock.Add(time.Hour + time.Minute)
		h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
		h.engine.Pass(context.Background(), []string{"ci"}, Options{IgnoreBackoff: true})
	}
	r := h.record("ci-runner")
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != newID {
		t.Errorf("live keys %v, want only the key the sinks hold (%s); old key %s on record: rotation %+v, deleted %v", live, newID, old, r.Rotation, r.Deleted)
	}
}
