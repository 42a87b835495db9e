package exosim_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

func TestLoadSeedValid(t *testing.T) {
	seed, err := exosim.LoadSeed("testdata/seed-valid.yml")
	if err != nil {
		t.Fatal(err)
	}
	sim, err := exosim.New(seed)
	if err != nil {
		t.Fatal(err)
	}
	admin := sim.Admin()
	if admin.Key != "EXOaaaaaaaaaaaaaaaaaaaaaaaa" || admin.Secret != "admin-secret" {
		t.Errorf("admin = %+v", admin)
	}
	keys := sim.Keys()
	if len(keys) != 3 {
		t.Fatalf("%d keys, want 3", len(keys))
	}
	wantAdminRole := "11111111-1111-4111-8111-111111111111"
	if keys[0].Name != exosim.DefaultAdminName || keys[0].RoleID != wantAdminRole {
		t.Errorf("admin record = %+v, want name %s role %s", keys[0], exosim.DefaultAdminName, wantAdminRole)
	}
	if keys[1].RoleID != "22222222-2222-4222-8222-222222222222" || keys[2].Key != "EXO0123456789abcdef01234567" || keys[2].Secret != "fixed-secret" {
		t.Errorf("keys = %+v", keys[1:])
	}
	if !sim.Authenticate("EXO0123456789abcdef01234567", "fixed-secret") {
		t.Error("the seeded credential does not authenticate")
	}
}

// An empty seed still yields a usable admin, with an "admin" role added.
func TestEmptySeedGetsAnAdmin(t *testing.T) {
	seed, err := exosim.LoadSeed("testdata/seed-empty.yml")
	if err != nil {
		t.Fatal(err)
	}
	fixed := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	sim, err := exosim.New(seed, exosim.WithClock(func() time.Time { return fixed }))
	if err != nil {
		t.Fatal(err)
	}
	keys := sim.Keys()
	if len(keys) != 1 || keys[0].RoleID != exosim.AdminRoleID || keys[0].Name != "rotatord-admin" || !keys[0].CreatedAt.Equal(fixed) {
		t.Errorf("keys = %+v", keys)
	}
	if !sim.Authenticate(sim.Admin().Key, sim.Admin().Secret) {
		t.Error("the generated admin does not authenticate")
	}
}

func TestLoadSeedInvalid(t *testing.T) {
	tests := []struct {
		give string
		want string
	}{
		{give: "invalid-unknown-field.yml", want: "load seed testdata/invalid-unknown-field.yml: yaml: unmarshal errors:\n  line 2: field rolez not found in type exosim.Seed"},
		{give: "invalid-role-id.yml", want: `load seed testdata/invalid-role-id.yml: invalid seed: roles[0]: id "ci" is not a UUID`},
		{give: "invalid-duplicate-role-name.yml", want: `load seed testdata/invalid-duplicate-role-name.yml: invalid seed: roles[1]: duplicate name "ci"`},
		{give: "invalid-duplicate-role-id.yml", want: `load seed testdata/invalid-duplicate-role-id.yml: invalid seed: roles[1]: duplicate id 11111111-1111-4111-8111-111111111111`},
		{give: "invalid-key-role.yml", want: `load seed testdata/invalid-key-role.yml: invalid seed: keys[0]: role "nope" is neither a role id nor a role name`},
		{give: "invalid-key-no-role.yml", want: `load seed testdata/invalid-key-no-role.yml: invalid seed: keys[0]: role is required`},
		{give: "invalid-key-format.yml", want: `load seed testdata/invalid-key-format.yml: invalid seed: keys[0]: key "EXOABCDEF" is not EXO followed by 24 lowercase hex digits`},
		{give: "invalid-duplicate-key.yml", want: `load seed testdata/invalid-duplicate-key.yml: invalid seed: keys[0]: duplicate key EXO0123456789abcdef01234567`},
		{give: "invalid-key-name.yml", want: `load seed testdata/invalid-key-name.yml: invalid seed: keys[0]: name "" must be 1 to 255 characters`},
		{give: "invalid-two-documents.yml", want: `load seed testdata/invalid-two-documents.yml: more than one YAML document`},
		{give: "invalid-org-unknown-field.yml", want: "load seed testdata/invalid-org-unknown-field.yml: yaml: unmarshal errors:\n  line 3: field rolez not found in type exosim.Organization"},
		{give: "invalid-org-duplicate-name.yml", want: `load seed testdata/invalid-org-duplicate-name.yml: invalid seed: organizations[1]: duplicate name "green"`},
		{give: "invalid-org-name.yml", want: `load seed testdata/invalid-org-name.yml: invalid seed: organizations[0]: name "Green Team" is not lowercase letters, digits, '-' and '_' starting with a letter (at most 63)`},
		{give: "invalid-org-reserved-name.yml", want: `load seed testdata/invalid-org-reserved-name.yml: invalid seed: organizations[0]: name "default" is reserved for the top-level organization`},
		{give: "invalid-org-role-id-in-two.yml", want: `load seed testdata/invalid-org-role-id-in-two.yml: invalid seed: organizations[0] (green): roles[0]: id 11111111-1111-4111-8111-111111111111 is already a role of organization default`},
		{give: "invalid-org-key-in-two.yml", want: `load seed testdata/invalid-org-key-in-two.yml: invalid seed: organizations[1] (blue): keys[0]: key EXO0123456789abcdef01234567 is already a key of organization green`},
		{give: "invalid-org-admin-key-in-two.yml", want: `load seed testdata/invalid-org-admin-key-in-two.yml: invalid seed: organizations[0] (green): admin: key EXOaaaaaaaaaaaaaaaaaaaaaaaa is already a key of organization default`},
		{give: "invalid-org-foreign-role.yml", want: `load seed testdata/invalid-org-foreign-role.yml: invalid seed: organizations[0] (green): keys[0]: role 11111111-1111-4111-8111-111111111111 is a role of organization default`},
		{give: "invalid-org-key-role.yml", want: `load seed testdata/invalid-org-key-role.yml: invalid seed: organizations[0] (green): keys[0]: role "ci" is neither a role id nor a role name`},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			_, err := exosim.LoadSeed(filepath.Join("testdata", tt.give))
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.want {
				t.Errorf("error\n%s\nwant\n%s", err, tt.want)
			}
		})
	}
}

func TestLoadSeedOrganizations(t *testing.T) {
	seed, err := exosim.LoadSeed("testdata/seed-organizations.yml")
	if err != nil {
		t.Fatal(err)
	}
	sim, err := exosim.New(seed)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sim.Organizations(), []string{exosim.DefaultOrg, "green", "blue"}; !slices.Equal(got, want) {
		t.Errorf("Organizations() = %v, want %v", got, want)
	}
	if admin := sim.Admin(); admin.Key != "EXOaaaaaaaaaaaaaaaaaaaaaaaa" || admin.Secret != "admin-secret" {
		t.Errorf("default admin = %+v", admin)
	}
	green, err := sim.AdminOf("green")
	if err != nil || green.Key != "EXObbbbbbbbbbbbbbbbbbbbbbbb" || green.Secret != "green-admin-secret" {
		t.Errorf("AdminOf(green) = %+v, %v", green, err)
	}
	if def, err := sim.AdminOf(exosim.DefaultOrg); err != nil || def != sim.Admin() {
		t.Errorf("AdminOf(default) = %+v, %v; want Admin()", def, err)
	}
	blue, err := sim.AdminOf("blue")
	if err != nil || !sim.Authenticate(blue.Key, blue.Secret) {
		t.Errorf("blue's generated admin %+v does not authenticate (%v)", blue, err)
	}
	if _, err := sim.AdminOf("nope"); !errors.Is(err, exosim.ErrNoSuchOrg) {
		t.Errorf("AdminOf(nope): err = %v, want ErrNoSuchOrg", err)
	}

	// Seed order, the default organization first, each admin first.
	type rec struct{ org, name, role string }
	var got []rec
	for _, k := range sim.Keys() {
		got = append(got, rec{k.Org, k.Name, k.RoleID})
	}
	want := []rec{
		{exosim.DefaultOrg, exosim.DefaultAdminName, "11111111-1111-4111-8111-111111111111"},
		{exosim.DefaultOrg, "ci-runner", "22222222-2222-4222-8222-222222222222"},
		{"green", exosim.DefaultAdminName, "33333333-3333-4333-8333-333333333333"},
		{"green", "ci-runner", "44444444-4444-4444-8444-444444444444"},
		{"green", "green-deploy", "44444444-4444-4444-8444-444444444444"},
		// The default organization declared its own admin role, so blue's
		// added one may take the well-known id.
		{"blue", exosim.DefaultAdminName, exosim.AdminRoleID},
	}
	if !slices.Equal(got, want) {
		t.Errorf("keys\n%v\nwant\n%v", got, want)
	}
}

func TestLoadSeedOrganizationsJSON(t *testing.T) {
	seed, err := exosim.LoadSeed("testdata/seed-organizations.json")
	if err != nil {
		t.Fatal(err)
	}
	sim, err := exosim.New(seed)
	if err != nil {
		t.Fatal(err)
	}
	green, err := sim.AdminOf("green")
	if err != nil || green.Secret != "green-admin-secret" {
		t.Errorf("AdminOf(green) = %+v, %v", green, err)
	}
	if n := len(sim.Keys()); n != 4 {
		t.Errorf("%d keys, want 4 (two admins, two ci-runners)", n)
	}
}

// An organization that declares the well-known admin role id keeps it; the
// admin role exosim adds elsewhere gets another id, since role ids are
// unique across organizations.
func TestAddedAdminRoleAvoidsDeclaredIDs(t *testing.T) {
	sim, err := exosim.New(exosim.Seed{Organizations: []exosim.Organization{{
		Name:  "green",
		Roles: []exosim.Role{{ID: exosim.AdminRoleID, Name: "admin"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range sim.Keys() {
		if owns := k.RoleID == exosim.AdminRoleID; owns != (k.Org == "green") {
			t.Errorf("key of %s has role %s", k.Org, k.RoleID)
		}
	}
}

func TestLoadSeedMissingFile(t *testing.T) {
	_, err := exosim.LoadSeed("testdata/nope.yml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want ErrNotExist", err)
	}
}

func TestNewRejectsInvalidSeed(t *testing.T) {
	_, err := exosim.New(exosim.Seed{Keys: []exosim.SeedKey{{Name: "x", Role: "nope"}}})
	if !errors.Is(err, exosim.ErrInvalidSeed) {
		t.Errorf("err = %v, want ErrInvalidSeed", err)
	}
}

func TestDefaultSeed(t *testing.T) {
	if err := exosim.DefaultSeed().Validate(); err != nil {
		t.Fatal(err)
	}
	sim, err := exosim.New(exosim.DefaultSeed())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range sim.Keys() {
		if !keyFormat.MatchString(k.Key) || !secretFormat.MatchString(k.Secret) {
			t.Errorf("generated key %q / secret %d chars: wrong format", k.Key, len(k.Secret))
		}
	}
}

func TestLoadFaults(t *testing.T) {
	tests := []struct {
		give string
		want map[string]exosim.Fault
	}{
		{give: "faults-valid.yml", want: map[string]exosim.Fault{
			exosim.OpCreateAPIKey: {LoseResponseNext: 1, Latency: 50 * time.Millisecond},
			exosim.OpDeleteAPIKey: {PendingPolls: 2},
		}},
		{give: "faults-valid.json", want: map[string]exosim.Fault{
			exosim.OpListAPIKeys:  {ErrorRate: 0.1, ErrorStatus: 502},
			exosim.OpCreateAPIKey: {Latency: time.Second},
		}},
		{give: "faults-consistency.yml", want: map[string]exosim.Fault{
			exosim.OpCreateAPIKey: {LateApply: 2 * time.Second, LateApplyRate: 0.2, LoseResponseRate: 0.05},
			exosim.OpListAPIKeys:  {StaleFor: time.Second, StaleRate: 0.3},
			exosim.OpGetAPIKey:    {StaleFor: time.Second, StaleNext: 3},
			exosim.OpDeleteAPIKey: {FailRate: 0.1, FailReason: "busy", ZombieRate: 0.05, ZombieFor: 15 * time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := exosim.LoadFaults(filepath.Join("testdata", tt.give))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for op, f := range tt.want {
				if got[op] != f {
					t.Errorf("%s = %+v, want %+v", op, got[op], f)
				}
			}
		})
	}
}

func TestLoadFaultsInvalid(t *testing.T) {
	tests := []struct {
		give string
		want string
	}{
		{give: "invalid-faults-operation.yml", want: `load faults testdata/invalid-faults-operation.yml: unknown operation "create-key"`},
		{give: "invalid-faults-field.yml", want: "load faults testdata/invalid-faults-field.yml: yaml: unmarshal errors:\n  line 2: field error_nxt not found in type exosim.Fault"},
		{give: "invalid-faults-rate.yml", want: `load faults testdata/invalid-faults-rate.yml: create-api-key: invalid fault: error_rate 1.5 is not between 0 and 1`},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			_, err := exosim.LoadFaults(filepath.Join("testdata", tt.give))
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
}
