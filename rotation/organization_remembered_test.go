package rotation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/state"
)

// A credential found to be of the journal's organization stays so: key
// ids are unique across organizations. Once the journal's roles were
// deleted (the platform then removes their keys) and its names made again
// under a new role, a listing shares nothing with the journal, and the
// roles listing has none of its roles: the check, made again by each new
// process, refused the journal's own credential for good ("another
// organization") until the state directory was moved. The journal
// remembers the credentials that passed, across restarts; another
// credential is still checked.
func TestSameOrganizationRemembersACheckedCredential(t *testing.T) {
	const (
		roleA = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
		roleB = "6fa459ea-ee8a-3ca4-894e-db77e160355e"
		own   = "EXOeeeeeeeeeeeeeeeeeeeeeeee"
	)
	ctx := context.Background()
	dir := t.TempDir()
	st, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(state.Record{Policy: "ci", Name: "ci-runner", CurrentKeyID: "EXOaaaaaaaaaaaaaaaaaaaaaaaa", RoleID: roleA}); err != nil {
		t.Fatal(err)
	}
	first := &Engine{store: st, ownKeyID: own, now: time.Now}
	listed := []apiclient.Key{{ID: "EXOaaaaaaaaaaaaaaaaaaaaaaaa", Name: "ci-runner", RoleID: roleA}}
	if err := first.sameOrganization(ctx, &rolesAPI{}, listed, own); err != nil {
		t.Fatalf("the journal's own listing: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Role A deleted with its keys, ci-runner made again under role B; a
	// restart.
	st, err = state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	moved := []apiclient.Key{{ID: "EXObbbbbbbbbbbbbbbbbbbbbbbb", Name: "ci-runner", RoleID: roleB}}
	roles := &rolesAPI{roles: []apiclient.Role{{ID: roleB}}}
	restarted := &Engine{store: st, ownKeyID: own, now: time.Now}
	if err := restarted.sameOrganization(ctx, roles, moved, own); err != nil {
		t.Fatalf("the credential checked before, after the journal's role was deleted: %v", err)
	}
	if roles.calls != 0 {
		t.Errorf("the roles of a credential on record were listed %d times", roles.calls)
	}
	for _, r := range st.List("ci") {
		if r.Name != "ci-runner" {
			t.Errorf("the remembered credential shows as a record of policy ci: %+v", r)
		}
	}

	// Another credential, sharing nothing, is still refused.
	other := &Engine{store: st, ownKeyID: "EXO111111111111111111111111", now: time.Now}
	err = other.sameOrganization(ctx, roles, moved, "EXO111111111111111111111111")
	if err == nil || !strings.Contains(err.Error(), "another organization") {
		t.Fatalf("another credential sharing nothing with the journal: %v, want it refused", err)
	}
}

// Only a check that found the journal's organization is remembered: an
// empty journal, or a roles listing the API does not serve, cannot tell,
// and the next process checks again.
func TestSameOrganizationRemembersOnlyWhatItFound(t *testing.T) {
	const (
		roleA = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
		roleB = "6fa459ea-ee8a-3ca4-894e-db77e160355e"
		own   = "EXOeeeeeeeeeeeeeeeeeeeeeeee"
	)
	ctx := context.Background()
	st, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	foreign := []apiclient.Key{{ID: "EXObbbbbbbbbbbbbbbbbbbbbbbb", Name: "ci-runner", RoleID: roleB}}
	if err := (&Engine{store: st, ownKeyID: own, now: time.Now}).sameOrganization(ctx, &rolesAPI{}, foreign, own); err != nil {
		t.Fatalf("empty journal: %v", err)
	}
	if err := st.Put(state.Record{Policy: "ci", Name: "ci-runner", CurrentKeyID: "EXOaaaaaaaaaaaaaaaaaaaaaaaa", RoleID: roleA}); err != nil {
		t.Fatal(err)
	}
	notServed := &rolesAPI{err: &apiclient.Error{Op: apiclient.OpListRoles, Kind: apiclient.KindNotFound}}
	if err := (&Engine{store: st, ownKeyID: own, now: time.Now}).sameOrganization(ctx, notServed, foreign, own); err != nil {
		t.Fatalf("roles not served: %v", err)
	}
	err = (&Engine{store: st, ownKeyID: own, now: time.Now}).sameOrganization(ctx, &rolesAPI{roles: []apiclient.Role{{ID: roleB}}}, foreign, own)
	if err == nil || !strings.Contains(err.Error(), "another organization") {
		t.Fatalf("a credential that was never found of the journal's organization: %v, want it refused", err)
	}
}

// The journal's organization is not for good, though a key id's is: every
// name of organization A forgotten (its keys all deleted), the journal is
// empty, cannot tell, and takes organization B's credential and names.
// A's credential, remembered from before, put back by mistake (a stale
// credential file restored) must then be checked against B's records, as
// it was before the memory, not let through to adopt A's keys into B's
// journal and sinks.
func TestSameOrganizationForgetsWhenTheJournalCannotTell(t *testing.T) {
	const (
		roleA = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
		roleB = "6fa459ea-ee8a-3ca4-894e-db77e160355e"
		ownA  = "EXOeeeeeeeeeeeeeeeeeeeeeeee"
		ownB  = "EXOfffffffffffffffffffffffff"
	)
	ctx := context.Background()
	st, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Put(state.Record{Policy: "ci", Name: "ci-runner", CurrentKeyID: "EXOaaaaaaaaaaaaaaaaaaaaaaaa", RoleID: roleA}); err != nil {
		t.Fatal(err)
	}
	listedA := []apiclient.Key{{ID: "EXOaaaaaaaaaaaaaaaaaaaaaaaa", Name: "ci-runner", RoleID: roleA}}
	if err := (&Engine{store: st, ownKeyID: ownA, now: time.Now}).sameOrganization(ctx, &rolesAPI{}, listedA, ownA); err != nil {
		t.Fatalf("organization A's own listing: %v", err)
	}

	// A's keys all deleted: the name forgotten (pass.go), the journal
	// empty; B's credential cannot be told apart and goes on, and B's
	// name is adopted.
	if err := st.Delete("ci", "ci-runner"); err != nil {
		t.Fatal(err)
	}
	listedB := []apiclient.Key{{ID: "EXObbbbbbbbbbbbbbbbbbbbbbbb", Name: "ci-runner", RoleID: roleB}}
	if err := (&Engine{store: st, ownKeyID: ownB, now: time.Now}).sameOrganization(ctx, &rolesAPI{}, listedB, ownB); err != nil {
		t.Fatalf("an empty journal: %v", err)
	}
	if err := st.Put(state.Record{Policy: "ci", Name: "ci-runner", CurrentKeyID: "EXObbbbbbbbbbbbbbbbbbbbbbbb", RoleID: roleB}); err != nil {
		t.Fatal(err)
	}

	// A's credential back, listing A's keys made since.
	listedA = []apiclient.Key{{ID: "EXOcccccccccccccccccccccccc", Name: "ci-runner", RoleID: roleA}}
	err = (&Engine{store: st, ownKeyID: ownA, now: time.Now}).sameOrganization(ctx, &rolesAPI{roles: []apiclient.Role{{ID: roleA}}}, listedA, ownA)
	if err == nil || !strings.Contains(err.Error(), "another organization") {
		t.Fatalf("organization A's credential on organization B's journal: %v, want it refused", err)
	}
}

// plan and validate --online open the journal read-only: a check that
// cannot tell goes on there without an error, and the credentials
// remembered stay for the daemon.
func TestSameOrganizationReadOnlyKeepsTheCredentials(t *testing.T) {
	const own = "EXOeeeeeeeeeeeeeeeeeeeeeee"
	dir := t.TempDir()
	st, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := recordCredential(st, "EXO111111111111111111111111", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := state.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	listed := []apiclient.Key{{ID: "EXObbbbbbbbbbbbbbbbbbbbbbbb", Name: "ci-runner", RoleID: "6fa459ea-ee8a-3ca4-894e-db77e160355e"}}
	if err := (&Engine{store: ro, ownKeyID: own, now: time.Now}).sameOrganization(context.Background(), &rolesAPI{}, listed, own); err != nil {
		t.Fatalf("an empty journal opened read-only: %v", err)
	}
	if !credentialOnRecord(ro, "EXO111111111111111111111111") {
		t.Errorf("a read-only journal lost the credentials it remembered")
	}
}

// The check read the records of the policies in force only. A policy
// renamed (ci to ci-prod) leaves its records under the old name until its
// names are adopted again: a first pass after the rename, with another
// organization's credential in place, found no record, could not tell,
// and adopted that organization's keys. Every record of the journal is
// the journal's organization's.
func TestSameOrganizationReadsTheRecordsOfARenamedPolicy(t *testing.T) {
	const (
		roleA = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
		roleB = "6fa459ea-ee8a-3ca4-894e-db77e160355e"
	)
	st, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Put(state.Record{Policy: "ci", Name: "ci-runner", CurrentKeyID: "EXOaaaaaaaaaaaaaaaaaaaaaaaa", RoleID: roleA}); err != nil {
		t.Fatal(err)
	}
	foreign := []apiclient.Key{{ID: "EXObbbbbbbbbbbbbbbbbbbbbbbb", Name: "ci-runner", RoleID: roleB}}
	e := &Engine{store: st, ownKeyID: "EXO111111111111111111111111", now: time.Now}
	err = e.sameOrganization(context.Background(), &rolesAPI{roles: []apiclient.Role{{ID: roleB}}}, foreign, e.ownKeyID)
	if err == nil || !strings.Contains(err.Error(), "another organization") {
		t.Fatalf("another organization's credential after the policy's rename: %v, want it refused", err)
	}
}

// Reading a removed policy's records too refuses the journal's own
// credential when that policy's roles were deleted with it and the
// policies in force have no record yet (their names new), unless the
// credential is on record: the check cannot tell that from another
// organization's credential after a rename. The refusal said only to put
// back the journal's credential or use another state directory; it now
// names the policies not in force whose records it read.
func TestSameOrganizationRefusalNamesTheRecordsOfPoliciesNotInForce(t *testing.T) {
	const (
		roleDead = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
		roleNew  = "6fa459ea-ee8a-3ca4-894e-db77e160355e"
	)
	st, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Put(state.Record{Policy: "legacy", Name: "legacy-app", CurrentKeyID: "EXOaaaaaaaaaaaaaaaaaaaaaaaa", RoleID: roleDead}); err != nil {
		t.Fatal(err)
	}
	own := "EXO111111111111111111111111"
	listed := []apiclient.Key{{ID: own, Name: "rotatord-admin"}, {ID: "EXObbbbbbbbbbbbbbbbbbbbbbbb", Name: "ci-runner", RoleID: roleNew}}
	e := &Engine{store: st, ownKeyID: own, now: time.Now, policies: []Policy{{Name: "ci"}}}
	err = e.sameOrganization(context.Background(), &rolesAPI{roles: []apiclient.Role{{ID: roleNew}}}, listed, own)
	if err == nil || !strings.Contains(err.Error(), `policies no longer in force ("legacy")`) {
		t.Fatalf("a refusal on a removed policy's records: %v, want it to name that policy", err)
	}
}
