package exosim_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	v3 "github.com/exoscale/egoscale/v3"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
)

// Ids of testdata/seed-organizations.yml.
const (
	defaultCIRole = "22222222-2222-4222-8222-222222222222"
	greenCIRole   = "44444444-4444-4444-8444-444444444444"
	greenDeploy   = "EXO0000000000000000000000a1"
)

// startOrgs runs a simulator seeded with the default, green and blue
// organizations and returns it with the default and green admins.
func startOrgs(t *testing.T) (srv *exosim.Server, def, green exosim.Credential) {
	t.Helper()
	seed, err := exosim.LoadSeed("testdata/seed-organizations.yml")
	if err != nil {
		t.Fatal(err)
	}
	srv = exosimtest.NewServer(t, seed)
	return srv, srv.Admin(), exosimtest.AdminOf(t, srv, "green")
}

// listedNames lists keys as cred, with their names.
func listedNames(t *testing.T, srv *exosim.Server, cred exosim.Credential) []string {
	t.Helper()
	list, err := exosimtest.Client(t, srv, cred).ListAPIKeys(ctx(t))
	if err != nil {
		t.Fatalf("ListAPIKeys as %s: %v", cred.Key, err)
	}
	var names []string
	for _, k := range list.APIKeys {
		names = append(names, k.Name)
	}
	return names
}

func TestOrgsListOnlyTheirOwn(t *testing.T) {
	srv, def, green := startOrgs(t)
	blue := exosimtest.AdminOf(t, srv, "blue")
	tests := []struct {
		org       string
		give      exosim.Credential
		wantKeys  []string
		wantRoles []string
	}{
		{org: "default", give: def, wantKeys: []string{"rotatord-admin", "ci-runner"}, wantRoles: []string{"admin", "ci"}},
		{org: "green", give: green, wantKeys: []string{"rotatord-admin", "ci-runner", "green-deploy"}, wantRoles: []string{"admin", "ci"}},
		{org: "blue", give: blue, wantKeys: []string{"rotatord-admin"}, wantRoles: []string{"admin"}},
	}
	for _, tt := range tests {
		t.Run(tt.org, func(t *testing.T) {
			c := exosimtest.Client(t, srv, tt.give)
			list, err := c.ListAPIKeys(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, k := range list.APIKeys {
				names = append(names, k.Name)
				if rec := findKey(t, srv, k.Key); rec.Org != tt.org {
					t.Errorf("listed %s of organization %s", k.Key, rec.Org)
				}
			}
			if !slices.Equal(names, tt.wantKeys) {
				t.Errorf("keys %v, want %v", names, tt.wantKeys)
			}
			roles, err := c.ListIAMRoles(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			names = nil
			for _, r := range roles.IAMRoles {
				names = append(names, r.Name)
			}
			if !slices.Equal(names, tt.wantRoles) {
				t.Errorf("roles %v, want %v", names, tt.wantRoles)
			}
		})
	}
}

// Another organization's key, role or operation looks exactly like one
// that does not exist, except that DELETE says "not in organization", as it
// does for an unknown key.
func TestOrgsCrossOrgAccess(t *testing.T) {
	srv, def, green := startOrgs(t)
	greenCI := findKey(t, srv, greenDeploy)

	// An operation of green's, to be looked up by the default admin.
	temp, err := exosimtest.Client(t, srv, green).CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "temp", RoleID: greenCIRole})
	if err != nil {
		t.Fatal(err)
	}
	op, err := exosimtest.Client(t, srv, green).DeleteAPIKey(ctx(t), temp.Key)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		method      string
		give        string // the foreign id's path
		unknown     string // the same request for an id nobody has
		wantStatus  int
		wantMessage string
	}{
		{name: "get key", method: "GET", give: "/v2/api-key/" + greenCI.Key, unknown: "/v2/api-key/EXO000000000000000000000000", wantStatus: 404, wantMessage: "API Key not found"},
		{name: "get role", method: "GET", give: "/v2/iam-role/" + greenCIRole, unknown: "/v2/iam-role/00000000-0000-4000-8000-000000000000", wantStatus: 404, wantMessage: "IAM Role not found"},
		{name: "get operation", method: "GET", give: "/v2/operation/" + string(op.ID), unknown: "/v2/operation/00000000-0000-4000-8000-000000000000", wantStatus: 404, wantMessage: "Operation not found"},
		{name: "delete key", method: "DELETE", give: "/v2/api-key/" + greenCI.Key, unknown: "/v2/api-key/EXO000000000000000000000000", wantStatus: 403, wantMessage: "API Key not in organization"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{tt.give, tt.unknown} {
				resp := send(t, srv, tt.method, path, "", signedBy(t, def))
				if resp.status != tt.wantStatus || resp.message() != tt.wantMessage || len(resp.body) != 1 {
					t.Errorf("%s %s: %d %v, want %d with only message %q", tt.method, path, resp.status, resp.body, tt.wantStatus, tt.wantMessage)
				}
			}
			// The owner still sees it.
			if resp := send(t, srv, "GET", tt.give, "", signedBy(t, green)); resp.status != 200 {
				t.Errorf("GET %s by its owner: %d %s", tt.give, resp.status, resp.message())
			}
		})
	}

	if rec := findKey(t, srv, greenCI.Key); !rec.Alive {
		t.Errorf("a refused cross-organization DELETE deleted the key: %+v", rec)
	}
	if !slices.Contains(listedNames(t, srv, green), greenCI.Name) {
		t.Error("green no longer lists its key")
	}
}

func TestOrgsCreateLandsInSignersOrg(t *testing.T) {
	srv, def, green := startOrgs(t)
	created, err := exosimtest.Client(t, srv, green).CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "green-new", RoleID: greenCIRole})
	if err != nil {
		t.Fatal(err)
	}
	if rec := findKey(t, srv, created.Key); rec.Org != "green" || rec.RoleID != greenCIRole {
		t.Errorf("created record = %+v, want green's with role %s", rec, greenCIRole)
	}
	if !slices.Contains(listedNames(t, srv, green), "green-new") {
		t.Error("green does not list its new key")
	}
	if slices.Contains(listedNames(t, srv, def), "green-new") {
		t.Error("the default organization lists green's new key")
	}
	// The new key signs as green.
	if names := listedNames(t, srv, exosim.Credential{Key: created.Key, Secret: created.Secret}); !slices.Contains(names, "green-deploy") {
		t.Errorf("the new key lists %v, not green's keys", names)
	}
	if got := srv.AuthenticateWhy(created.Key, created.Secret); !got.OK || got.Org != "green" {
		t.Errorf("AuthenticateWhy = %+v, want ok in green", got)
	}

	// The same name in two organizations is counted per organization.
	if _, err := exosimtest.Client(t, srv, def).CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "green-new", RoleID: defaultCIRole}); err != nil {
		t.Fatal(err)
	}
	greenMax, err := srv.MaxLivePerNameIn("green")
	if err != nil {
		t.Fatal(err)
	}
	if greenMax["green-new"] != 1 || greenMax["ci-runner"] != 1 || srv.MaxLivePerName()["green-new"] != 1 {
		t.Errorf("max live: green %v, default %v; want 1 each", greenMax, srv.MaxLivePerName())
	}
	if _, err := srv.MaxLivePerNameIn("nope"); !errors.Is(err, exosim.ErrNoSuchOrg) {
		t.Errorf("MaxLivePerNameIn(nope): err = %v, want ErrNoSuchOrg", err)
	}
}

func TestOrgsCreateWithForeignRole(t *testing.T) {
	srv, def, _ := startOrgs(t)
	before := len(srv.Keys())
	for _, role := range []string{greenCIRole, "00000000-0000-4000-8000-000000000000"} {
		resp := send(t, srv, "POST", "/v2/api-key", `{"name":"x","role-id":"`+role+`"}`, signedBy(t, def))
		if resp.status != 404 || resp.message() != "IAM Role not found" {
			t.Errorf("create with role %s: %d %q, want 404 IAM Role not found", role, resp.status, resp.message())
		}
	}
	if n := len(srv.Keys()); n != before {
		t.Errorf("refused creates made %d keys", n-before)
	}
}

// decodeKeys turns a control answer's list into key records.
func decodeKeys(t *testing.T, resp response) []exosim.KeyRecord {
	t.Helper()
	raw, err := json.Marshal(resp.body["list"])
	if err != nil {
		t.Fatal(err)
	}
	var keys []exosim.KeyRecord
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestOrgsControl(t *testing.T) {
	srv, _, green := startOrgs(t)

	// Without org, the dump holds every organization's keys, each saying
	// its own; with org, only that organization's.
	all := decodeKeys(t, send(t, srv, "GET", "/_sim/keys", "", nil))
	count := map[string]int{}
	for _, k := range all {
		count[k.Org]++
	}
	if len(all) != 6 || count["default"] != 2 || count["green"] != 3 || count["blue"] != 1 {
		t.Errorf("GET /_sim/keys: per organization %v, want default 2, green 3, blue 1", count)
	}
	greenKeys := decodeKeys(t, send(t, srv, "GET", "/_sim/keys?org=green", "", nil))
	if len(greenKeys) != 3 || greenKeys[0].Key != green.Key || greenKeys[0].Secret != green.Secret {
		t.Errorf("GET /_sim/keys?org=green = %+v, want green's three keys, its admin first", greenKeys)
	}

	// Create as someone else: in the default organization without org, in
	// the named one with it, and only with that organization's roles.
	resp := send(t, srv, "POST", "/_sim/keys", `{"name":"ext","role":"ci"}`, nil)
	if resp.status != 200 || resp.body["org"] != "default" || resp.body["role_id"] != defaultCIRole {
		t.Errorf("POST /_sim/keys: %d %v, want a default ci key", resp.status, resp.body)
	}
	resp = send(t, srv, "POST", "/_sim/keys?org=green", `{"name":"ext","role":"ci"}`, nil)
	if resp.status != 200 || resp.body["org"] != "green" || resp.body["role_id"] != greenCIRole {
		t.Fatalf("POST /_sim/keys?org=green: %d %v, want a green ci key", resp.status, resp.body)
	}
	greenExt, _ := resp.body["key"].(string)
	if !slices.Contains(listedNames(t, srv, green), "ext") {
		t.Error("green does not list the key made for it")
	}
	if resp := send(t, srv, "POST", "/_sim/keys?org=green", `{"name":"x","role":"`+defaultCIRole+`"}`, nil); resp.status != 400 {
		t.Errorf("POST /_sim/keys?org=green with a default role: %d %v, want 400", resp.status, resp.body)
	}

	resp = send(t, srv, "GET", "/_sim/max-live-per-name?org=green", "", nil)
	if resp.status != 200 || resp.body["green-deploy"] != 1.0 || resp.body["ext"] != 1.0 {
		t.Errorf("max-live-per-name?org=green = %d %v", resp.status, resp.body)
	}
	if resp := send(t, srv, "GET", "/_sim/max-live-per-name", "", nil); resp.body["green-deploy"] != nil {
		t.Errorf("max-live-per-name counts green's keys for the default organization: %v", resp.body)
	}

	// A key endpoint with org finds only that organization's keys.
	if resp := send(t, srv, "DELETE", "/_sim/keys/"+greenExt+"?org=default", "", nil); resp.status != 404 {
		t.Errorf("DELETE of a green key with org=default: %d, want 404", resp.status)
	}
	if !findKey(t, srv, greenExt).Alive {
		t.Fatal("a refused control DELETE deleted the key")
	}
	resp = send(t, srv, "POST", "/_sim/keys/"+greenExt+"/zombie?org=green", `{"for":"1m"}`, nil)
	if resp.status != 200 || resp.body["zombie"] != true || resp.body["org"] != "green" {
		t.Errorf("zombie?org=green: %d %v", resp.status, resp.body)
	}
	if z := decodeKeys(t, send(t, srv, "GET", "/_sim/zombies?org=default", "", nil)); len(z) != 0 {
		t.Errorf("zombies?org=default = %+v, want none", z)
	}
	if z := decodeKeys(t, send(t, srv, "GET", "/_sim/zombies?org=green", "", nil)); len(z) != 1 || z[0].Key != greenExt {
		t.Errorf("zombies?org=green = %+v, want the green key", z)
	}
	// Without org, the key is found wherever it is.
	if resp := send(t, srv, "DELETE", "/_sim/keys/"+greenExt, "", nil); resp.status != 200 || resp.body["org"] != "green" {
		t.Errorf("DELETE of a green key without org: %d %v", resp.status, resp.body)
	}

	// Authenticate says the organization.
	body, _ := json.Marshal(green)
	if resp := send(t, srv, "POST", "/_sim/authenticate", string(body), nil); resp.body["ok"] != true || resp.body["org"] != "green" {
		t.Errorf("authenticate green's admin = %v", resp.body)
	}

	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
	}{
		{name: "unknown organization", method: "GET", path: "/_sim/keys?org=nope", wantStatus: 404},
		{name: "unknown organization on create", method: "POST", path: "/_sim/keys?org=nope", body: `{"name":"x","role":"admin"}`, wantStatus: 404},
		{name: "faults are simulator-wide", method: "GET", path: "/_sim/faults?org=green", wantStatus: 400},
		{name: "calls are simulator-wide", method: "GET", path: "/_sim/calls?org=green", wantStatus: 400},
		{name: "authenticate is not per organization", method: "POST", path: "/_sim/authenticate?org=green", body: string(body), wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, srv, tt.method, tt.path, tt.body, nil)
			if resp.status != tt.wantStatus || resp.message() == "" {
				t.Errorf("%s %s: %d %v, want %d with a message", tt.method, tt.path, resp.status, resp.body, tt.wantStatus)
			}
		})
	}
}

func TestOrgsGoAPI(t *testing.T) {
	srv, _, _ := startOrgs(t)
	k, err := srv.CreateKeyIn("blue", "ext", "admin")
	if err != nil || k.Org != "blue" || !k.External {
		t.Fatalf("CreateKeyIn(blue) = %+v, %v", k, err)
	}
	if _, err := srv.CreateKeyIn("blue", "ext", greenCIRole); !errors.Is(err, exosim.ErrNoSuchRole) {
		t.Errorf("CreateKeyIn(blue) with a role of green: err = %v, want ErrNoSuchRole", err)
	}
	if _, err := srv.CreateKeyIn("nope", "ext", "admin"); !errors.Is(err, exosim.ErrNoSuchOrg) {
		t.Errorf("CreateKeyIn(nope): err = %v, want ErrNoSuchOrg", err)
	}
	if k, err := srv.CreateKey("ext", "ci"); err != nil || k.Org != exosim.DefaultOrg {
		t.Errorf("CreateKey = %+v, %v; want a key of the default organization", k, err)
	}
}
