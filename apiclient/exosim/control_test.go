package exosim_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	v3 "github.com/exoscale/egoscale/v3"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

func TestControlFaults(t *testing.T) {
	srv, c := start(t)

	resp := send(t, srv, "PUT", "/_sim/faults", `{"create-api-key":{"error_next":1,"error_status":503,"retry_after":2},"list-api-keys":{"latency":"20ms"}}`, nil)
	if resp.status != 200 {
		t.Fatalf("PUT faults: %d %s", resp.status, resp.message())
	}
	want := map[string]exosim.Fault{
		exosim.OpCreateAPIKey: {ErrorNext: 1, ErrorStatus: 503, RetryAfter: 2},
		exosim.OpListAPIKeys:  {Latency: 20 * time.Millisecond},
	}
	if got := srv.Faults(); len(got) != 2 || got[exosim.OpCreateAPIKey] != want[exosim.OpCreateAPIKey] || got[exosim.OpListAPIKeys] != want[exosim.OpListAPIKeys] {
		t.Fatalf("Faults() = %+v, want %+v", got, want)
	}

	_, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "x", RoleID: exosim.CIRoleID})
	if !errors.Is(err, v3.ErrServiceUnavailable) {
		t.Fatalf("create after PUT: err = %v, want 503", err)
	}

	// GET shows what remains, latency as a duration string.
	resp = send(t, srv, "GET", "/_sim/faults", "", nil)
	if len(resp.body) != 1 || resp.body[exosim.OpListAPIKeys].(map[string]any)["latency"] != "20ms" {
		t.Errorf("GET faults = %v, want only list-api-keys with latency 20ms", resp.body)
	}

	// PUT replaces everything.
	if resp := send(t, srv, "PUT", "/_sim/faults", `{"get-api-key":{"rate_limit_next":1}}`, nil); resp.status != 200 {
		t.Fatalf("second PUT: %d", resp.status)
	}
	if got := srv.Faults(); len(got) != 1 || got[exosim.OpGetAPIKey].RateLimitNext != 1 {
		t.Errorf("after replace Faults() = %+v", got)
	}

	if resp := send(t, srv, "DELETE", "/_sim/faults", "", nil); resp.status != 200 || len(srv.Faults()) != 0 {
		t.Errorf("DELETE faults: %d, left %v", resp.status, srv.Faults())
	}
}

func TestControlFaultsRejectsBadInput(t *testing.T) {
	srv, _ := start(t)
	srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorNext: 3})
	tests := []struct {
		name string
		give string
	}{
		{name: "unknown operation", give: `{"nope":{"error_next":1}}`},
		{name: "unknown field", give: `{"list-api-keys":{"error_nxt":1}}`},
		{name: "numeric latency", give: `{"list-api-keys":{"latency":50}}`},
		{name: "bad latency", give: `{"list-api-keys":{"latency":"soon"}}`},
		{name: "rate out of range", give: `{"list-api-keys":{"error_rate":2}}`},
		{name: "not JSON", give: `error_next: 1`},
		{name: "trailing data", give: `{} {}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, srv, "PUT", "/_sim/faults", tt.give, nil)
			if resp.status != 400 || resp.message() == "" {
				t.Errorf("status %d message %q, want 400 with a message", resp.status, resp.message())
			}
		})
	}
	if got := srv.Faults()[exosim.OpListAPIKeys].ErrorNext; got != 3 {
		t.Errorf("a refused PUT changed the faults: error_next %d, want 3", got)
	}
}

func TestControlInspection(t *testing.T) {
	srv, c := start(t)
	created, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "inspected", RoleID: exosim.CIRoleID})
	if err != nil {
		t.Fatal(err)
	}

	resp := send(t, srv, "GET", "/_sim/keys", "", nil)
	raw, err := json.Marshal(resp.body["list"])
	if err != nil {
		t.Fatal(err)
	}
	var keys []exosim.KeyRecord
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 6 {
		t.Fatalf("%d keys, want 6", len(keys))
	}
	last := keys[5]
	if last.Key != created.Key || last.Secret != created.Secret || !last.Alive || last.Name != "inspected" || last.RoleID != exosim.CIRoleID {
		t.Errorf("last key = %+v, want the created one with its secret", last)
	}
	if keys[0].Secret != srv.Admin().Secret {
		t.Error("/_sim/keys does not show the admin's secret first")
	}

	resp = send(t, srv, "GET", "/_sim/calls", "", nil)
	create, _ := resp.body[exosim.OpCreateAPIKey].(map[string]any)
	if create["total"] != 1.0 || create["by_status"].(map[string]any)["200"] != 1.0 {
		t.Errorf("/_sim/calls create-api-key = %v", create)
	}

	resp = send(t, srv, "GET", "/_sim/max-live-per-name", "", nil)
	if resp.body["inspected"] != 1.0 || resp.body["rotatord-admin"] != 1.0 {
		t.Errorf("/_sim/max-live-per-name = %v", resp.body)
	}

	tests := []struct {
		name string
		give exosim.Credential
		want bool
	}{
		{name: "created key", give: exosim.Credential{Key: created.Key, Secret: created.Secret}, want: true},
		{name: "admin", give: srv.Admin(), want: true},
		{name: "wrong secret", give: exosim.Credential{Key: created.Key, Secret: "nope"}, want: false},
		{name: "unknown key", give: exosim.Credential{Key: "EXO000000000000000000000000"}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(tt.give)
			resp := send(t, srv, "POST", "/_sim/authenticate", string(body), nil)
			if resp.status != 200 || resp.body["ok"] != tt.want {
				t.Errorf("authenticate = %d %v, want ok %v", resp.status, resp.body, tt.want)
			}
		})
	}
	if resp := send(t, srv, "POST", "/_sim/authenticate", `{"key":"x"}`, nil); resp.status != 400 {
		t.Errorf("authenticate with unknown fields: %d, want 400", resp.status)
	}
}
