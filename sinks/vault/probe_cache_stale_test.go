package vault

import "testing"

// TestStaleProbeSurvivesUnmanagedProbe: what an earlier Probe kept
// must not serve the Write after a later Probe of the same path that
// found the secret gone or no longer rotatord's.
func TestStaleProbeSurvivesUnmanagedProbe(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	tok := srv.token(t, nil)
	ctx := ctxT(t)
	t.Run("secret deleted between two probes", func(t *testing.T) {
		s := e.sink(tok, nil)
		roundTrip(t, e, s, "gone")
		if err := s.Probe(ctx, "gone"); err != nil { // no Write follows
			t.Fatalf("Probe: %v", err)
		}
		srv.root(t, "DELETE", "secret/metadata/"+e.prefix+"/gone", nil)
		if err := s.Probe(ctx, "gone"); err != nil {
			t.Fatalf("Probe: %v", err)
		}
		if err := s.Write(ctx, e.cred("gone")); err != nil {
			e.check(err)
			t.Errorf("first Write after the secret was deleted: %v", err)
		}
	})
	t.Run("take over after the marker was removed", func(t *testing.T) {
		s := e.sink(tok, func(o *Options) { o.TakeOver = true })
		roundTrip(t, e, s, "unmarked")
		if err := s.Probe(ctx, "unmarked"); err != nil {
			t.Fatalf("Probe: %v", err)
		}
		srv.root(t, "POST", "secret/metadata/"+e.prefix+"/unmarked",
			map[string]any{"custom_metadata": map[string]string{"owner": "team-x"}})
		if err := s.Probe(ctx, "unmarked"); err != nil {
			t.Fatalf("Probe: %v", err)
		}
		if err := s.Write(ctx, e.cred("unmarked")); err != nil {
			e.check(err)
			t.Fatalf("Write: %v", err)
		}
		if cm := e.customMetadata("unmarked"); cm[ManagedByKey] != ManagedByValue {
			t.Errorf("after a take-over the custom metadata is %v, want rotatord's marker", cm)
		}
	})
}
