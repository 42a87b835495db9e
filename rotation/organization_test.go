package rotation

import (
	"strings"
	"testing"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/state"
)

// sameOrganization goes on when the listing shares one key or one role
// with the journal, or cannot tell, and refuses a listing that shares
// nothing; it checks again when the credential changes.
func TestSameOrganization(t *testing.T) {
	const (
		roleA = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
		roleB = "6fa459ea-ee8a-3ca4-894e-db77e160355e"
	)
	records := []state.Record{{Policy: "ci", Name: "ci-runner", CurrentKeyID: "EXOaaaaaaaaaaaaaaaaaaaaaaaa", RoleID: roleA}}
	inFlight := []state.Record{{Policy: "ci", Name: "ci-runner", RoleID: "", Rotation: &state.Rotation{
		Phase: state.PhaseDelivered, NewKeyID: "EXOcccccccccccccccccccccccc", OldKeyIDs: []string{"EXOdddddddddddddddddddddddd"}}}}
	for _, tc := range []struct {
		name    string
		records []state.Record
		listed  []apiclient.Key
		refused bool
	}{
		{"empty journal", nil, []apiclient.Key{{ID: "EXObbbbbbbbbbbbbbbbbbbbbbbb", Name: "ci-runner", RoleID: roleB}}, false},
		{"a recorded key listed, roles all new", records, []apiclient.Key{{ID: "EXOaaaaaaaaaaaaaaaaaaaaaaaa", Name: "ci-runner", RoleID: roleB}}, false},
		{"no recorded key, a recorded role (a journal restored from an old backup)", records, []apiclient.Key{{ID: "EXObbbbbbbbbbbbbbbbbbbbbbbb", Name: "other", RoleID: strings.ToUpper(roleA)}}, false},
		{"an API that gives no role", records, []apiclient.Key{{ID: "EXObbbbbbbbbbbbbbbbbbbbbbbb", Name: "ci-runner"}}, false},
		{"a rotation's new key listed", inFlight, []apiclient.Key{{ID: "EXOcccccccccccccccccccccccc", Name: "ci-runner", RoleID: roleB}}, false},
		{"a rotation's old key listed", inFlight, []apiclient.Key{{ID: "EXOdddddddddddddddddddddddd", Name: "ci-runner", RoleID: roleB}}, false},
		{"nothing shared", records, []apiclient.Key{{ID: "EXObbbbbbbbbbbbbbbbbbbbbbbb", Name: "ci-runner", RoleID: roleB}}, true},
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
			e := &Engine{store: st, ownKeyID: "EXOeeeeeeeeeeeeeeeeeeeeeeee"}
			err = e.sameOrganization(tc.listed, []Policy{{Name: "ci"}}, e.ownKeyID)
			if refused := err != nil; refused != tc.refused {
				t.Fatalf("refused = %v (%v), want %v", refused, err, tc.refused)
			}
			if err != nil && !strings.Contains(err.Error(), "another organization") {
				t.Errorf("the refusal does not say why: %v", err)
			}
			if tc.refused {
				return
			}
			// Checked for this credential: a later listing is not read
			// against the journal again; a new credential is.
			if err := e.sameOrganization([]apiclient.Key{{ID: "EXOffffffffffffffffffffffff", RoleID: "00000000-0000-4000-8000-000000000000"}}, []Policy{{Name: "ci"}}, e.ownKeyID); err != nil {
				t.Errorf("the same credential checked again: %v", err)
			}
			e.ownKeyID = "EXO111111111111111111111111"
			err = e.sameOrganization([]apiclient.Key{{ID: "EXOffffffffffffffffffffffff", RoleID: "00000000-0000-4000-8000-000000000000"}}, []Policy{{Name: "ci"}}, e.ownKeyID)
			if len(tc.records) > 0 && err == nil {
				t.Errorf("a new credential whose listing shares nothing with the journal was not checked again")
			}
		})
	}
}
