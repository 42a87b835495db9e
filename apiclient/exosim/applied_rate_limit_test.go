package exosim_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	v3 "github.com/exoscale/egoscale/v3"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// A create under applied_rate_limit_next takes effect, then answers 429
// with Retry-After and the documented JSON error body: the key lives and
// signs, and its secret went nowhere. The next create answers normally.
func TestFaultAppliedRateLimit(t *testing.T) {
	srv, c := start(t)
	srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{AppliedRateLimitNext: 1, RetryAfter: 3})

	resp := send(t, srv, "POST", "/v2/api-key", `{"name":"lied","role-id":"`+exosim.CIRoleID+`"}`, signedBy(t, srv.Admin()))
	if resp.status != 429 {
		t.Fatalf("status %d, want 429", resp.status)
	}
	if got := resp.header.Get("Retry-After"); got != "3" {
		t.Errorf("Retry-After %q, want 3", got)
	}
	if resp.message() == "" {
		t.Error("the 429 has no JSON message")
	}
	if _, ok := resp.body["secret"]; ok {
		t.Error("the 429 carries a secret")
	}
	var lied []exosim.KeyRecord
	for _, k := range srv.Keys() {
		if k.Name == "lied" {
			lied = append(lied, k)
		}
	}
	if len(lied) != 1 || !lied[0].Alive {
		t.Fatalf("keys named lied = %+v, want one alive key: the create took effect", lied)
	}
	if !srv.Authenticate(lied[0].Key, lied[0].Secret) {
		t.Error("the key made under the 429 does not authenticate")
	}
	if !lied[0].AnsweredRateLimited {
		t.Error("the key made under the 429 is not marked answered_rate_limited")
	}
	// The mark shows on the control surface, never in the API's listing.
	var marked int
	for _, k := range decodeKeys(t, send(t, srv, "GET", "/_sim/keys", "", nil)) {
		if k.AnsweredRateLimited {
			marked++
		}
	}
	if marked != 1 {
		t.Errorf("/_sim/keys shows %d keys answered_rate_limited, want 1", marked)
	}
	if listing := send(t, srv, "GET", "/v2/api-key", "", signedBy(t, srv.Admin())); listing.status != 200 || !strings.Contains(fmt.Sprint(listing.body), "lied") {
		t.Errorf("the API's listing: %d %v, want the key named lied", listing.status, listing.body)
	} else if strings.Contains(fmt.Sprint(listing.body), "rate_limited") {
		t.Errorf("the API's listing shows the mark: %v", listing.body)
	}
	if calls := srv.Calls()[exosim.OpCreateAPIKey]; calls.ByStatus[429] != 1 {
		t.Errorf("calls = %+v, want one 429", calls)
	}
	if f, ok := srv.Faults()[exosim.OpCreateAPIKey]; ok {
		t.Errorf("the spent fault is still listed: %+v", f)
	}
	answered, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "answered", RoleID: exosim.CIRoleID})
	if err != nil {
		t.Fatalf("second create: %v", err)
	}
	for _, k := range srv.Keys() {
		if k.Key == answered.Key && k.AnsweredRateLimited {
			t.Error("the key of an answered create is marked answered_rate_limited")
		}
	}
}

// The rate draws too: at 1 every create lies, and a refused create (an
// unknown role) is not one that took effect.
func TestFaultAppliedRateLimitRate(t *testing.T) {
	srv, c := start(t)
	srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{AppliedRateLimitRate: 1})
	for range 2 {
		_, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "lied", RoleID: exosim.CIRoleID})
		if !errors.Is(err, v3.ErrTooManyRequests) {
			t.Fatalf("create: err = %v, want 429", err)
		}
	}
	n := 0
	for _, k := range srv.Keys() {
		if k.Name == "lied" && k.Alive {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d live keys named lied, want 2", n)
	}
}

func TestFaultAppliedRateLimitValidate(t *testing.T) {
	srv, _ := start(t)
	bad := map[string]map[string]exosim.Fault{
		"next on a listing": {exosim.OpListAPIKeys: {AppliedRateLimitNext: 1}},
		"rate on a delete":  {exosim.OpDeleteAPIKey: {AppliedRateLimitRate: 0.5}},
		"negative next":     {exosim.OpCreateAPIKey: {AppliedRateLimitNext: -1}},
		"rate above 1":      {exosim.OpCreateAPIKey: {AppliedRateLimitRate: 1.5}},
	}
	for name, faults := range bad {
		if err := srv.SetFaults(faults); !errors.Is(err, exosim.ErrInvalidFault) {
			t.Errorf("%s: SetFaults err = %v, want ErrInvalidFault", name, err)
		}
	}

	// JSON round trip through the control surface, and YAML from a file.
	give := `{"create-api-key":{"applied_rate_limit_next":2,"applied_rate_limit_rate":0.25,"retry_after":4}}`
	if resp := send(t, srv, "PUT", "/_sim/faults", give, nil); resp.status != 200 {
		t.Fatalf("PUT faults: %d %s", resp.status, resp.message())
	}
	want := exosim.Fault{AppliedRateLimitNext: 2, AppliedRateLimitRate: 0.25, RetryAfter: 4}
	if got := srv.Faults()[exosim.OpCreateAPIKey]; got != want {
		t.Errorf("after PUT: %+v, want %+v", got, want)
	}
	data, err := json.Marshal(want)
	if err != nil || string(data) != `{"retry_after":4,"applied_rate_limit_next":2,"applied_rate_limit_rate":0.25}` {
		t.Errorf("marshal = %s, %v", data, err)
	}
	var back exosim.Fault
	if err := json.Unmarshal(data, &back); err != nil || back != want {
		t.Errorf("unmarshal = %+v, %v; want %+v", back, err, want)
	}
	path := t.TempDir() + "/faults.yml"
	if err := os.WriteFile(path, []byte("create-api-key:\n  applied_rate_limit_next: 1\n  applied_rate_limit_rate: 0.5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	faults, err := exosim.LoadFaults(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := faults[exosim.OpCreateAPIKey]; got != (exosim.Fault{AppliedRateLimitNext: 1, AppliedRateLimitRate: 0.5}) {
		t.Errorf("LoadFaults = %+v", got)
	}
}
