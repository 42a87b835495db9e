package vault

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

var errFenceSocketDeposed = errors.New("this replica does not hold the Lease")

// A replica paused right after the last check before a write (SIGSTOP, a
// frozen VM) and woken once another replica leads must not send the write:
// the new leader may have rolled back the key it holds, and the secret of
// a deleted key would replace the one consumers use. The write's
// connection asks the fence again; reads and logins go on meanwhile.
func TestVaultWriteFencedAtTheSocket(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	// 0: leads; 1: armed, the next question (a write's check) is answered
	// yes and every later one no; 2: deposed.
	var state atomic.Int32
	s := e.sink(srv.token(t, nil), func(o *Options) {
		o.Fence = func() (time.Time, error) {
			if !state.CompareAndSwap(1, 2) && state.Load() == 2 {
				return time.Time{}, errFenceSocketDeposed
			}
			return time.Now().Add(time.Minute), nil
		}
	})
	first := roundTrip(t, e, s, "paused")
	_, v1 := e.secretData("paused")

	next := e.cred("paused")
	ctx := ctxT(t)
	if err := s.Probe(ctx, "paused"); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	state.Store(1)
	err := s.Write(ctx, next)
	e.check(err)
	if err == nil {
		t.Fatal("the write succeeded after the Lease was lost")
	}
	data, v2 := e.secretData("paused")
	if v2 != v1 || data[FieldAPIKey] != first.KeyID {
		t.Fatalf("Vault holds version %d with key %v after a write refused at the socket; want version %d with %s", v2, data[FieldAPIKey], v1, first.KeyID)
	}
	// A standby still reads (the spared requests keep their connections).
	h, err := s.Read(ctx, "paused")
	if err != nil || h.KeyID != first.KeyID {
		t.Fatalf("a deposed replica's read: %v, %v; want %s", h.KeyID, err, first.KeyID)
	}

	// Leading again: the write goes.
	state.Store(0)
	if err := s.Write(ctx, next); err != nil {
		t.Fatalf("a write with the Lease held again: %v", err)
	}
	if data, _ := e.secretData("paused"); data[FieldAPIKey] != next.KeyID {
		t.Fatalf("Vault holds %v, want %s", data[FieldAPIKey], next.KeyID)
	}
}
