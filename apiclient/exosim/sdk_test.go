package exosim_test

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	v3 "github.com/exoscale/egoscale/v3"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
)

var (
	keyFormat    = regexp.MustCompile(`^EXO[0-9a-f]{24}$`)
	secretFormat = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
)

// TestSDKDrivesEveryOperation runs the official client through the whole
// surface, the way the daemon will.
func TestSDKDrivesEveryOperation(t *testing.T) {
	srv, c := start(t)
	admin := srv.Admin()

	list, err := c.ListAPIKeys(ctx(t))
	if err != nil {
		t.Fatalf("ListAPIKeys: %v", err)
	}
	var names []string
	for _, k := range list.APIKeys {
		names = append(names, k.Name)
		if !keyFormat.MatchString(k.Key) {
			t.Errorf("listed key %q has the wrong format", k.Key)
		}
	}
	wantNames := []string{"rotatord-admin", "ci-runner", "ci-deploy", "backup-agent", "monitoring"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("listed names %v, want %v (the admin is a normal key)", names, wantNames)
	}

	roles, err := c.ListIAMRoles(ctx(t))
	if err != nil {
		t.Fatalf("ListIAMRoles: %v", err)
	}
	ci, err := roles.FindIAMRole("ci")
	if err != nil {
		t.Fatalf("FindIAMRole(ci): %v", err)
	}
	if ci.ID != exosim.CIRoleID || ci.Editable == nil || *ci.Editable {
		t.Errorf("role ci = %+v, want id %s and editable false", ci, exosim.CIRoleID)
	}
	role, err := c.GetIAMRole(ctx(t), v3.UUID(exosim.ReadonlyRoleID))
	if err != nil {
		t.Fatalf("GetIAMRole: %v", err)
	}
	if role.Name != "readonly" {
		t.Errorf("GetIAMRole name = %q, want readonly", role.Name)
	}

	created, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "new-key", RoleID: v3.UUID(exosim.CIRoleID)})
	if err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	if !keyFormat.MatchString(created.Key) || !secretFormat.MatchString(created.Secret) {
		t.Errorf("created key %q / secret of %d chars: wrong format", created.Key, len(created.Secret))
	}
	if created.Name != "new-key" || created.RoleID != exosim.CIRoleID {
		t.Errorf("created = %+v", created)
	}
	if rec := findKey(t, srv, created.Key); rec.Secret != created.Secret || !rec.Alive {
		t.Errorf("Keys() record = %+v, want the created secret, alive", rec)
	}

	got, err := c.GetAPIKey(ctx(t), created.Key)
	if err != nil {
		t.Fatalf("GetAPIKey: %v", err)
	}
	if got.Key != created.Key || got.Name != "new-key" || got.RoleID != exosim.CIRoleID {
		t.Errorf("GetAPIKey = %+v", got)
	}

	// The new credential works at once...
	newClient := exosimtest.Client(t, srv, exosim.Credential{Key: created.Key, Secret: created.Secret})
	if _, err := newClient.ListAPIKeys(ctx(t)); err != nil {
		t.Fatalf("ListAPIKeys with the new key: %v", err)
	}

	op, err := c.DeleteAPIKey(ctx(t), created.Key)
	if err != nil {
		t.Fatalf("DeleteAPIKey: %v", err)
	}
	if op.State != v3.OperationStateSuccess || op.Reference == nil || op.Reference.Command != "delete-api-key" {
		t.Errorf("delete operation = %+v", op)
	}
	done, err := c.Wait(ctx(t), op, v3.OperationStateSuccess)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if done.ID != op.ID {
		t.Errorf("Wait returned %s, want %s", done.ID, op.ID)
	}
	polled, err := c.GetOperation(ctx(t), op.ID)
	if err != nil {
		t.Fatalf("GetOperation after success: %v", err)
	}
	if polled.State != v3.OperationStateSuccess {
		t.Errorf("GetOperation state = %s, want success", polled.State)
	}

	// ...and is refused at once after deletion.
	_, err = newClient.ListAPIKeys(ctx(t))
	if !errors.Is(err, v3.ErrForbidden) {
		t.Fatalf("ListAPIKeys with a deleted key: err = %v, want ErrForbidden", err)
	}
	if srv.Authenticate(created.Key, created.Secret) {
		t.Error("Authenticate accepts a deleted key")
	}
	if rec := findKey(t, srv, created.Key); rec.Alive || rec.DeletedAt == nil {
		t.Errorf("Keys() record after delete = %+v", rec)
	}
	if !srv.Authenticate(admin.Key, admin.Secret) {
		t.Error("Authenticate refuses the admin")
	}

	zones, err := c.ListZones(ctx(t))
	if err != nil {
		t.Fatalf("ListZones: %v", err)
	}
	if len(zones.Zones) != 8 {
		t.Fatalf("ListZones gave %d zones, want 8", len(zones.Zones))
	}
	ep, err := c.GetZoneAPIEndpoint(ctx(t), v3.ZoneNameDEFra1)
	if err != nil {
		t.Fatalf("GetZoneAPIEndpoint: %v", err)
	}
	if string(ep) != srv.Endpoint {
		t.Errorf("de-fra-1 endpoint = %s, want %s", ep, srv.Endpoint)
	}
	// A client switched to that zone's endpoint reaches the same keys.
	if _, err := c.WithEndpoint(ep).GetAPIKey(ctx(t), admin.Key); err != nil {
		t.Errorf("GetAPIKey through the zone endpoint: %v", err)
	}
}

func TestSDKErrorShapes(t *testing.T) {
	srv, c := start(t)
	missingKey := "EXO000000000000000000000000"
	unknownRole := "00000000-0000-4000-8000-000000000000"

	tests := []struct {
		name        string
		call        func() error
		wantErr     error
		wantMessage string
	}{
		{
			name:        "get missing key",
			call:        func() error { _, err := c.GetAPIKey(ctx(t), missingKey); return err },
			wantErr:     v3.ErrNotFound,
			wantMessage: "API Key not found",
		},
		{
			name:        "delete unknown key",
			call:        func() error { _, err := c.DeleteAPIKey(ctx(t), missingKey); return err },
			wantErr:     v3.ErrForbidden,
			wantMessage: "API Key not in organization",
		},
		{
			name: "delete a key twice",
			call: func() error {
				k := srv.Keys()[1].Key
				if _, err := c.DeleteAPIKey(ctx(t), k); err != nil {
					t.Fatalf("first delete: %v", err)
				}
				_, err := c.DeleteAPIKey(ctx(t), k)
				return err
			},
			wantErr:     v3.ErrForbidden,
			wantMessage: "API Key not in organization",
		},
		{
			name: "create with empty name",
			call: func() error {
				_, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "", RoleID: exosim.CIRoleID})
				return err
			},
			wantErr:     v3.ErrBadRequest,
			wantMessage: "name: must be 1 to 255 characters",
		},
		{
			name: "create with malformed role id",
			call: func() error {
				_, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "x", RoleID: "ci"})
				return err
			},
			wantErr:     v3.ErrBadRequest,
			wantMessage: "role-id: must be a UUID",
		},
		{
			name: "create with unknown role",
			call: func() error {
				_, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "x", RoleID: v3.UUID(unknownRole)})
				return err
			},
			wantErr:     v3.ErrNotFound,
			wantMessage: "IAM Role not found",
		},
		{
			name:        "get unknown role",
			call:        func() error { _, err := c.GetIAMRole(ctx(t), v3.UUID(unknownRole)); return err },
			wantErr:     v3.ErrNotFound,
			wantMessage: "IAM Role not found",
		},
		{
			name:        "get unknown operation",
			call:        func() error { _, err := c.GetOperation(ctx(t), v3.UUID(unknownRole)); return err },
			wantErr:     v3.ErrNotFound,
			wantMessage: "Operation not found",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			var apiErr *v3.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err %v is not a *v3.APIError", err)
			}
			if apiErr.Message != tt.wantMessage {
				t.Errorf("message = %q, want %q", apiErr.Message, tt.wantMessage)
			}
		})
	}
}

// TestSDKCrossOrgDelete shows what the official client gets for deleting
// another organization's key: the 403 "API Key not in organization" the
// real API answers, and the key stays.
func TestSDKCrossOrgDelete(t *testing.T) {
	seed, err := exosim.LoadSeed("testdata/seed-organizations.yml")
	if err != nil {
		t.Fatal(err)
	}
	srv := exosimtest.NewServer(t, seed)
	c := exosimtest.Client(t, srv, srv.Admin())
	victim := exosimtest.AdminOf(t, srv, "green").Key

	_, err = c.DeleteAPIKey(ctx(t), victim)
	if !errors.Is(err, v3.ErrForbidden) {
		t.Fatalf("DeleteAPIKey of green's admin by the default admin: err = %v, want ErrForbidden", err)
	}
	var apiErr *v3.APIError
	if !errors.As(err, &apiErr) || apiErr.Message != "API Key not in organization" {
		t.Errorf("err = %v, want the message %q", err, "API Key not in organization")
	}
	if _, err := c.GetAPIKey(ctx(t), victim); !errors.Is(err, v3.ErrNotFound) {
		t.Errorf("GetAPIKey of green's admin: err = %v, want ErrNotFound", err)
	}
	if rec := findKey(t, srv, victim); !rec.Alive || rec.Org != "green" {
		t.Errorf("record after the refused delete = %+v, want green's key alive", rec)
	}
	green := exosimtest.Client(t, srv, exosimtest.AdminOf(t, srv, "green"))
	if _, err := green.GetAPIKey(ctx(t), victim); err != nil {
		t.Errorf("green's admin cannot get its own key: %v", err)
	}
}

func TestCreateBodyValidation(t *testing.T) {
	srv, _ := start(t)
	tests := []struct {
		name       string
		give       string
		wantStatus int
	}{
		{name: "not JSON", give: "nope", wantStatus: 400},
		{name: "array", give: `[]`, wantStatus: 400},
		{name: "null", give: `null`, wantStatus: 400},
		{name: "two objects", give: `{"name":"a","role-id":"` + exosim.CIRoleID + `"}{}`, wantStatus: 400},
		{name: "name missing", give: `{"role-id":"` + exosim.CIRoleID + `"}`, wantStatus: 400},
		{name: "name not a string", give: `{"name":1,"role-id":"` + exosim.CIRoleID + `"}`, wantStatus: 400},
		{name: "name too long", give: `{"name":"` + strings.Repeat("a", 256) + `","role-id":"` + exosim.CIRoleID + `"}`, wantStatus: 400},
		{name: "role-id missing", give: `{"name":"a"}`, wantStatus: 400},
		{name: "role-id braces", give: `{"name":"a","role-id":"{` + exosim.CIRoleID + `}"}`, wantStatus: 400},
		{name: "unknown role", give: `{"name":"a","role-id":"00000000-0000-4000-8000-000000000000"}`, wantStatus: 404},
		{name: "valid", give: `{"name":"a","role-id":"` + exosim.CIRoleID + `"}`, wantStatus: 200},
		{name: "uppercase role id", give: `{"name":"b","role-id":"` + "7C3A1F0E-5B2D-4E8A-9F61-2D4B8C0A1E02" + `"}`, wantStatus: 200},
		{name: "name of 255 multibyte characters", give: `{"name":"` + strings.Repeat("é", 255) + `","role-id":"` + exosim.CIRoleID + `"}`, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Keys())
			resp := send(t, srv, "POST", "/v2/api-key", tt.give, signedBy(t, srv.Admin()))
			if resp.status != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.status, resp.message(), tt.wantStatus)
			}
			created := len(srv.Keys()) - before
			if tt.wantStatus == 200 {
				if created != 1 || resp.body["role-id"] != exosim.CIRoleID {
					t.Errorf("created %d keys, body %v", created, resp.body)
				}
			} else if created != 0 || resp.message() == "" {
				t.Errorf("refused create made %d keys, message %q", created, resp.message())
			}
		})
	}
}
