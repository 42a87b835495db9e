package state

import (
	"testing"
	"time"
)

// The search for the keys of a retried create is durable (it must survive
// a SIGKILL between the delivery and the search), and the copy the store
// hands back does not alias it: the search moves its SearchFrom in place.
func TestRetriedCreateSurvivesReopenUnaliased(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	give := Record{
		Policy: "ci", Name: "ci-runner", RoleID: "role", CurrentKeyID: "EXObbb", CurrentSince: now,
		RetriedCreate: &Rotation{Phase: PhaseIntent, StartedAt: now, RoleID: "role", NewKeyID: "EXObbb",
			OldKeyIDs: []string{"EXOaaa"}, KnownKeyIDs: []string{"EXOaaa"}},
	}
	if err := s.Put(give); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get("ci", "ci-runner")
	got.RetriedCreate.KnownKeyIDs[0] = "mutated"
	got.RetriedCreate.SearchFrom = now.Add(time.Hour)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	back, ok := s2.Get("ci", "ci-runner")
	rc := back.RetriedCreate
	if !ok || rc == nil {
		t.Fatalf("record after reopen = %+v, want its retried create", back)
	}
	if rc.NewKeyID != "EXObbb" || rc.KnownKeyIDs[0] != "EXOaaa" || rc.OldKeyIDs[0] != "EXOaaa" || !rc.StartedAt.Equal(now) || !rc.SearchFrom.IsZero() {
		t.Errorf("retried create after reopen = %+v, want it as put", rc)
	}
}
