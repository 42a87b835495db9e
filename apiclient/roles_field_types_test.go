package apiclient

import (
	"context"
	"net/http"
	"testing"
)

// The API document names a role's fields (labels, permissions, policy,
// assume-role-policy, max-session-ttl, ...) without their types, and
// rotatord reads only id, name and description. A role whose other
// fields did not have the SDK's types (labels as a list, a policy as a
// string, a TTL as text) failed the whole listing as an invalid answer:
// the organization check, which lists the roles when the journal shares
// no key and no role with the listing, then refused every pass.
func TestListRolesIgnoresFieldsItDoesNotRead(t *testing.T) {
	body := `{"iam-roles":[
		{"id":"2f4d6e0a-8c1b-4e3f-9a5d-7b6c5d4e3f2a","name":"ci","description":"CI runners","labels":[],"policy":"allow-all","max-session-ttl":"1h","editable":"yes","permissions":{}},
		{"id":"3f4d6e0a-8c1b-4e3f-9a5d-7b6c5d4e3f2b","name":"ops","description":null,"assume-role-policy":[1]},
		{"id":"4f4d6e0a-8c1b-4e3f-9a5d-7b6c5d4e3f2c","name":7}
	],"extra":true}`
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: ioNopCloser(body), Request: r}, nil
	})
	c, err := New(Config{Endpoint: "http://127.0.0.1:1/v2", Credentials: Credentials{Key: "EXO1", Secret: "s"}, Transport: rt, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	roles, err := c.ListRoles(context.Background())
	if err != nil {
		t.Fatalf("ListRoles: %v", err)
	}
	want := []Role{
		{ID: "2f4d6e0a-8c1b-4e3f-9a5d-7b6c5d4e3f2a", Name: "ci", Description: "CI runners"},
		{ID: "3f4d6e0a-8c1b-4e3f-9a5d-7b6c5d4e3f2b", Name: "ops"},
		{ID: "4f4d6e0a-8c1b-4e3f-9a5d-7b6c5d4e3f2c"},
	}
	if len(roles) != len(want) {
		t.Fatalf("roles = %+v, want %+v", roles, want)
	}
	for i := range want {
		if roles[i] != want[i] {
			t.Errorf("role %d = %+v, want %+v", i, roles[i], want[i])
		}
	}
}
