package rotation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/state"
)

// rolesAPI answers ListRoles; any other call panics (nil API).
type rolesAPI struct {
	apiclient.API
	roles []apiclient.Role
	err   error
	calls int
}

func (a *rolesAPI) ListRoles(context.Context) ([]apiclient.Role, error) {
	a.calls++
	return a.roles, a.err
}

// sameOrganization goes on when the listing shares one key or one role
// with the journal, or the organization has one of its roles, or it
// cannot tell; it refuses a credential whose organization has none of the
// journal's keys and roles, and checks again when the credential changes.
func TestSameOrganization(t *testing.T) {
	const (
		roleA = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
		roleB = "6fa459ea-ee8a-3ca4-894e-db77e160355e"
	)
	records := []state.Record{{Policy: "ci", Name: "ci-runner", CurrentKeyID: "EXOaaaaaaaaaaaaaaaaaaaaaaaa", RoleID: roleA}}
	inFlight := []state.Record{{Policy: "ci", Name: "ci-runner", RoleID: "", Rotation: &state.Rotation{
		Phase: state.PhaseDelivered, NewKeyID: "EXOcccccccccccccccccccccccc", OldKeyIDs: []string{"EXOdddddddddddddddddddddddd"}}}}
	other := []apiclient.Key{{ID: "EXObbbbbbbbbbbbbbbbbbbbbbbb", Name: "ci-runner", RoleID: roleB}}
	const (
		goesOn  = "goes on"
		refused = "refused"
		failed  = "fails"
	)
	for _, tc := range []struct {
		name     string
		records  []state.Record
		listed   []apiclient.Key
		roles    []string
		rolesErr error
		want     string
	}{
		{"empty journal", nil, other, nil, nil, goesOn},
		{"a recorded key listed, roles all new", records, []apiclient.Key{{ID: "EXOaaaaaaaaaaaaaaaaaaaaaaaa", Name: "ci-runner", RoleID: roleB}}, nil, nil, goesOn},
		{"no recorded key, a recorded role (a journal restored from an old backup)", records, []apiclient.Key{{ID: "EXObbbbbbbbbbbbbbbbbbbbbbbb", Name: "other", RoleID: strings.ToUpper(roleA)}}, nil, nil, goesOn},
		{"a rotation's new key listed", inFlight, []apiclient.Key{{ID: "EXOcccccccccccccccccccccccc", Name: "ci-runner", RoleID: roleB}}, nil, nil, goesOn},
		{"a rotation's old key listed", inFlight, []apiclient.Key{{ID: "EXOdddddddddddddddddddddddd", Name: "ci-runner", RoleID: roleB}}, nil, nil, goesOn},
		{"every recorded key deleted by hand, no key of its role left, the role still there", records, other, []string{roleB, strings.ToUpper(roleA)}, nil, goesOn},
		{"an API that lists no role on keys, the role there", records, []apiclient.Key{{ID: "EXObbbbbbbbbbbbbbbbbbbbbbbb", Name: "ci-runner"}}, []string{roleA}, nil, goesOn},
		{"no role on record: cannot tell", inFlight, other, nil, nil, goesOn},
		{"roles not served: cannot tell", records, other, nil, &apiclient.Error{Op: apiclient.OpListRoles, Kind: apiclient.KindNotFound}, goesOn},
		{"roles not readable: refused (a least-privilege credential of another organization)", records, other, nil, &apiclient.Error{Op: apiclient.OpListRoles, Kind: apiclient.KindAuth}, refused},
		{"roles listing unavailable", records, other, nil, &apiclient.Error{Op: apiclient.OpListRoles, Kind: apiclient.KindUnavailable}, failed},
		{"nothing shared: another organization", records, other, []string{roleB}, nil, refused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := state.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for _, r := range tc.records {
				if err := st.Put(r); err != nil {
					t.Fatal(err)
				}
			}
			api := &rolesAPI{err: tc.rolesErr}
			for _, id := range tc.roles {
				api.roles = append(api.roles, apiclient.Role{ID: id})
			}
			e := &Engine{store: st, ownKeyID: "EXOeeeeeeeeeeeeeeeeeeeeeee", now: time.Now}
			err = e.sameOrganization(context.Background(), api, tc.listed, e.ownKeyID)
			got := goesOn
			switch {
			case err != nil && strings.Contains(err.Error(), "another organization"):
				got = refused
			case err != nil:
				got = failed
			}
			if got != tc.want {
				t.Fatalf("%s (%v), want it %s", got, err, tc.want)
			}
			if tc.want != goesOn || tc.rolesErr != nil || len(tc.records) == 0 || tc.records[0].RoleID == "" {
				return
			}
			// Checked for this credential: a later listing is not read
			// against the journal again; a new credential is.
			nothing := []apiclient.Key{{ID: "EXOffffffffffffffffffffffff", RoleID: "00000000-0000-4000-8000-000000000000"}}
			api.roles = nil
			if err := e.sameOrganization(context.Background(), api, nothing, e.ownKeyID); err != nil {
				t.Errorf("the same credential checked again: %v", err)
			}
			if err := e.sameOrganization(context.Background(), api, nothing, "EXO111111111111111111111111"); err == nil {
				t.Errorf("a new credential whose organization shares nothing with the journal was not checked again")
			}
		})
	}
}
