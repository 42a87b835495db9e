package vault

import (
	"errors"
	"testing"

	"github.com/rotatord/rotatord/sinks"
)

// A secret (or a mount) with delete_version_after gives every version a
// deletion_time in the future: Vault serves the version until then. Read
// as deleted, the write rotatord just made fails its read back, the engine
// finds the sink holding nothing and rolls the new key back, which Vault
// holds and consumers read: an outage at every rotation.
func TestVersionWithAFutureDeletionTimeIsHeld(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	s := e.sink(srv.token(t, nil), nil)
	ctx := ctxT(t)
	old := roundTrip(t, e, s, "expiring")
	srv.root(t, "POST", "secret/metadata/"+e.prefix+"/expiring", map[string]any{"delete_version_after": "1h"})

	// The version written before the setting has no deletion time; the
	// next one has.
	c := e.cred("expiring")
	if err := s.Probe(ctx, "expiring"); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if err := s.Write(ctx, c); err != nil {
		e.check(err)
		t.Fatalf("Write: %v", err)
	}
	out := srv.root(t, "GET", "secret/data/"+e.prefix+"/expiring", nil)
	if dt, _ := out["data"].(map[string]any)["metadata"].(map[string]any)["deletion_time"].(string); dt == "" {
		t.Fatal("Vault set no deletion_time: the test does not test anything")
	}
	if err := s.Verify(ctx, c); err != nil {
		e.check(err)
		t.Errorf("Verify of the version Vault serves: %v", err)
	}
	h, err := s.Read(ctx, "expiring")
	switch {
	case errors.Is(err, sinks.ErrNotHeld):
		t.Errorf("Read: %v: the latest version is served until its deletion_time", err)
	case err != nil:
		t.Errorf("Read: %v", err)
	case h.KeyID != c.KeyID || h.KeyID == old.KeyID:
		t.Errorf("Read = %s, want the new key %s", h.KeyID, c.KeyID)
	}
}

// delete_version_after makes Vault delete the version rotatord wrote on
// its own: from its deletion_time until the next rotation, consumers find
// nothing in Vault (and with a grace period longer than it, the new key
// is gone from Vault before the old one is deleted). A write into such a
// secret works (Vault serves the version until then) but warns, naming
// when Vault deletes the key.
func TestWriteWarnsWhenVaultWillDeleteTheVersion(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	s := e.sink(srv.token(t, nil), nil)
	roundTrip(t, e, s, "expiring")
	if n := e.logs.FilterMessageSnippet("Vault deletes").Len(); n != 0 {
		t.Fatalf("%d warnings of a deletion for a secret without delete_version_after", n)
	}
	srv.root(t, "POST", "secret/metadata/"+e.prefix+"/expiring", map[string]any{"delete_version_after": "2h"})
	roundTrip(t, e, s, "expiring")
	logs := e.logs.FilterMessageSnippet("Vault deletes").All()
	if len(logs) != 1 {
		t.Fatalf("%d warnings that Vault deletes the version rotatord wrote, want 1", len(logs))
	}
	if _, ok := logs[0].ContextMap()["deletion_time"]; !ok {
		t.Errorf("warning %q does not say when: %v", logs[0].Message, logs[0].ContextMap())
	}
}
