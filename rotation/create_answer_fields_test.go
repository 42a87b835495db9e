package rotation

// The create answer is documented as {"key","name","role-id","secret"},
// but every field of the API's schema is optional. An API that answers a
// create with the new key's id and secret only (or with one of name and
// role left out) made a key of the request's name and role all the same:
// refusing the answer threw its secret away, and each pass created and
// deleted a key and never rotated.

import (
	"context"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// terseCreate answers a create without some of the key's fields.
type terseCreate struct {
	*fakeAPI
	dropName, dropRole bool
}

func (c *terseCreate) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	k, err := c.fakeAPI.CreateKey(ctx, name, roleID)
	if c.dropName {
		k.Name = ""
	}
	if c.dropRole {
		k.RoleID = ""
	}
	return k, err
}

func TestCreateAnswerWithoutNameOrRoleStillRotates(t *testing.T) {
	for _, tc := range []struct {
		what               string
		dropName, dropRole bool
	}{{"no name", true, false}, {"no role", false, true}, {"neither", true, true}} {
		t.Run(tc.what, func(t *testing.T) {
			h := newHarness(t, 0)
			old := h.api.add("ci-runner", roleCI)
			h.pass(Options{})
			h.useAPI(&terseCreate{fakeAPI: h.api, dropName: tc.dropName, dropRole: tc.dropRole})
			h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
			h.clock.Add(3 * time.Minute)
			h.engine.Pass(context.Background(), []string{"ci"}, Options{IgnoreBackoff: true})

			held := h.sinkA.holds("ci-runner")
			if held == "" || held == old {
				t.Fatalf("the sink holds %q: no rotation away from %s (last error %q, created %d keys)", held, old, h.record("ci-runner").LastError, len(h.api.issued))
			}
			if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != held {
				t.Errorf("live keys %v, want only the key the sinks hold (%s)", live, held)
			}
			if n := len(h.api.issued); n != 1 {
				t.Errorf("%d keys created for one rotation, want 1", n)
			}
		})
	}
}
