package rotation

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/state"
)

// selfJournalReads counts the reads of the own-key policy's records: the
// journal's List scans (and copies into a slice the size of) every record.
type selfJournalReads struct {
	state.Journal
	n atomic.Int64
}

func (w *selfJournalReads) List(policy string) []state.Record {
	if policy == "_self" {
		w.n.Add(1)
	}
	return w.Journal.List(policy)
}

// rolelessListing leaves every key's role out of the listing (every field
// of the API's schema is optional); GETs still give it.
type rolelessListing struct{ *signedAPI }

func (r rolelessListing) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	keys, err := r.signedAPI.ListKeys(ctx)
	for i := range keys {
		keys[i].RoleID = ""
	}
	return keys, err
}

// The first pass of a process (rotatord's own key not yet noted from a
// listing) asks for the role of the keys of the own name that the listing
// shows without one. Telling which keys those are read the own-key
// policy's records once per key listed without its role: with an API
// whose listing gives no roles, 10,000 keys made 10,000 scans of the whole
// journal, each copying it into a new slice (2.8 GB at 10,000 records).
func TestFirstPassAsksOwnNameRolesWithoutReadingTheJournalPerKey(t *testing.T) {
	sh := newSelfHarness(t, 0)
	h := sh.harness
	const n = 200
	for i := range n {
		h.api.add(fmt.Sprintf("ci-%05d", i), roleCI)
	}
	sh.pass(Options{}) // records of every name, the own key's among them

	reads := &selfJournalReads{}
	api := rolelessListing{sh.sapi}
	h.wrap = func(j state.Journal) state.Journal { reads.Journal = j; return reads }
	sh.restartWith(api, api)
	reads.n.Store(0)
	sh.pass(Options{})
	if got := reads.n.Load(); got > n/10 {
		t.Errorf("the first pass read the own-key policy's records %d times for %d keys listed without their role, want a few", got, n)
	}
}
