package rotation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/state"
)

// The roles and keys of two organizations, A (the journal's) and B.
const (
	orgRoleA = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
	orgRoleB = "6fa459ea-ee8a-3ca4-894e-db77e160355e"
	orgKeyA  = "EXOaaaaaaaaaaaaaaaaaaaaaaaa"
	orgKeyB  = "EXObbbbbbbbbbbbbbbbbbbbbbbb"
)

// ciRunnerOf is ci-runner's record with key id and role.
func ciRunnerOf(id, role string) state.Record {
	return state.Record{Policy: "ci", Name: "ci-runner", CurrentKeyID: id, RoleID: role}
}

// listedCIRunner is a listing of ci-runner's key id, of role.
func listedCIRunner(id, role string) []apiclient.Key {
	return []apiclient.Key{{ID: id, Name: "ci-runner", RoleID: role}}
}

// journalIn opens the journal in dir with recs put in it, closed at the
// end of the test unless closed before.
func journalIn(t *testing.T, dir string, recs ...state.Record) *state.Store {
	t.Helper()
	st, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, r := range recs {
		if err := st.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// checkOrganization is a new process's check of a listing signed with
// own, against the journal j.
func checkOrganization(j state.Journal, api apiclient.API, listed []apiclient.Key, own string) error {
	return (&Engine{store: j, ownKeyID: own, now: time.Now}).sameOrganization(context.Background(), api, listed, own)
}

// wantRefused fails the test unless err refuses the credential as of
// another organization.
func wantRefused(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "another organization") {
		t.Fatalf("%s: %v, want it refused", what, err)
	}
}

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
	const own = "EXOeeeeeeeeeeeeeeeeeeeeeee"
	dir := t.TempDir()
	st := journalIn(t, dir, ciRunnerOf(orgKeyA, orgRoleA))
	if err := checkOrganization(st, &rolesAPI{}, listedCIRunner(orgKeyA, orgRoleA), own); err != nil {
		t.Fatalf("the journal's own listing: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Role A deleted with its keys, ci-runner made again under role B; a
	// restart.
	st = journalIn(t, dir)
	moved := listedCIRunner(orgKeyB, orgRoleB)
	roles := &rolesAPI{roles: []apiclient.Role{{ID: orgRoleB}}}
	if err := checkOrganization(st, roles, moved, own); err != nil {
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
	wantRefused(t, checkOrganization(st, roles, moved, "EXO111111111111111111111111"), "another credential sharing nothing with the journal")
}

// Only a check that found the journal's organization is remembered: an
// empty journal, or a roles listing the API does not serve, cannot tell,
// and the next process checks again.
func TestSameOrganizationRemembersOnlyWhatItFound(t *testing.T) {
	const own = "EXOeeeeeeeeeeeeeeeeeeeeeee"
	st := journalIn(t, t.TempDir())
	foreign := listedCIRunner(orgKeyB, orgRoleB)
	if err := checkOrganization(st, &rolesAPI{}, foreign, own); err != nil {
		t.Fatalf("empty journal: %v", err)
	}
	if err := st.Put(ciRunnerOf(orgKeyA, orgRoleA)); err != nil {
		t.Fatal(err)
	}
	notServed := &rolesAPI{err: &apiclient.Error{Op: apiclient.OpListRoles, Kind: apiclient.KindNotFound}}
	if err := checkOrganization(st, notServed, foreign, own); err != nil {
		t.Fatalf("roles not served: %v", err)
	}
	wantRefused(t, checkOrganization(st, &rolesAPI{roles: []apiclient.Role{{ID: orgRoleB}}}, foreign, own),
		"a credential that was never found of the journal's organization")
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
		ownA = "EXOeeeeeeeeeeeeeeeeeeeeeee"
		ownB = "EXOfffffffffffffffffffffffff"
	)
	st := journalIn(t, t.TempDir(), ciRunnerOf(orgKeyA, orgRoleA))
	if err := checkOrganization(st, &rolesAPI{}, listedCIRunner(orgKeyA, orgRoleA), ownA); err != nil {
		t.Fatalf("organization A's own listing: %v", err)
	}

	// A's keys all deleted: the name forgotten (pass.go), the journal
	// empty; B's credential cannot be told apart and goes on, and B's
	// name is adopted.
	if err := st.Delete("ci", "ci-runner"); err != nil {
		t.Fatal(err)
	}
	if err := checkOrganization(st, &rolesAPI{}, listedCIRunner(orgKeyB, orgRoleB), ownB); err != nil {
		t.Fatalf("an empty journal: %v", err)
	}
	if err := st.Put(ciRunnerOf(orgKeyB, orgRoleB)); err != nil {
		t.Fatal(err)
	}

	// A's credential back, listing A's keys made since.
	wantRefused(t, checkOrganization(st, &rolesAPI{roles: []apiclient.Role{{ID: orgRoleA}}}, listedCIRunner("EXOcccccccccccccccccccccccc", orgRoleA), ownA),
		"organization A's credential on organization B's journal")
}

// plan and validate --online open the journal read-only: a check that
// cannot tell goes on there without an error, and the credentials
// remembered stay for the daemon.
func TestSameOrganizationReadOnlyKeepsTheCredentials(t *testing.T) {
	const own = "EXOeeeeeeeeeeeeeeeeeeeeeee"
	dir := t.TempDir()
	st := journalIn(t, dir)
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
	if err := checkOrganization(ro, &rolesAPI{}, listedCIRunner(orgKeyB, orgRoleB), own); err != nil {
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
	st := journalIn(t, t.TempDir(), ciRunnerOf(orgKeyA, orgRoleA))
	e := &Engine{store: st, ownKeyID: "EXO111111111111111111111111", now: time.Now, policies: []Policy{{Name: "ci-prod"}}}
	wantRefused(t, e.sameOrganization(context.Background(), &rolesAPI{roles: []apiclient.Role{{ID: orgRoleB}}}, listedCIRunner(orgKeyB, orgRoleB), e.ownKeyID),
		"another organization's credential after the policy's rename")
}

// Reading a removed policy's records too refuses the journal's own
// credential when that policy's roles were deleted with it and the
// policies in force have no record yet (their names new), unless the
// credential is on record: the check cannot tell that from another
// organization's credential after a rename. The refusal said only to put
// back the journal's credential or use another state directory; it now
// names the policies not in force whose records it read.
func TestSameOrganizationRefusalNamesTheRecordsOfPoliciesNotInForce(t *testing.T) {
	const own = "EXO111111111111111111111111"
	// legacy's role (orgRoleA) deleted with it; ci's names new, of role B.
	st := journalIn(t, t.TempDir(), state.Record{Policy: "legacy", Name: "legacy-app", CurrentKeyID: orgKeyA, RoleID: orgRoleA})
	listed := append([]apiclient.Key{{ID: own, Name: "rotatord-admin"}}, listedCIRunner(orgKeyB, orgRoleB)...)
	e := &Engine{store: st, ownKeyID: own, now: time.Now, policies: []Policy{{Name: "ci"}}}
	err := e.sameOrganization(context.Background(), &rolesAPI{roles: []apiclient.Role{{ID: orgRoleB}}}, listed, own)
	if err == nil || !strings.Contains(err.Error(), `policies no longer in force ("legacy")`) {
		t.Fatalf("a refusal on a removed policy's records: %v, want it to name that policy", err)
	}
}
