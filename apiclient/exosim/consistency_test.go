package exosim_test

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	v3 "github.com/exoscale/egoscale/v3"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// fakeClock is a settable clock for the faults that depend on time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// listed reports whether the API listing, as the admin sees it, has key.
func listed(t *testing.T, c *v3.Client, key string) bool {
	t.Helper()
	resp, err := c.ListAPIKeys(ctx(t))
	if err != nil {
		t.Fatalf("ListAPIKeys: %v", err)
	}
	return slices.ContainsFunc(resp.APIKeys, func(k v3.IAMAPIKey) bool { return k.Key == key })
}

func TestFaultLateApply(t *testing.T) {
	clock := newFakeClock()
	srv, c := start(t, exosim.WithClock(clock.Now))
	srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{LateApply: 5 * time.Second})

	created, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "late", RoleID: exosim.CIRoleID})
	if err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	if created.Secret == "" {
		t.Fatal("a late create still answers with the secret")
	}
	cred := exosim.Credential{Key: created.Key, Secret: created.Secret}
	check := func(when string, wantVisible bool) {
		t.Helper()
		if got := listed(t, c, created.Key); got != wantVisible {
			t.Errorf("%s: listed = %t, want %t", when, got, wantVisible)
		}
		_, err := c.GetAPIKey(ctx(t), created.Key)
		if wantVisible != (err == nil) || (!wantVisible && !errors.Is(err, v3.ErrNotFound)) {
			t.Errorf("%s: GetAPIKey err = %v, want visible=%t (404 otherwise)", when, err, wantVisible)
		}
		if got := srv.Authenticate(cred.Key, cred.Secret); got != wantVisible {
			t.Errorf("%s: Authenticate = %t, want %t", when, got, wantVisible)
		}
	}
	check("before the delay", false)
	if why := srv.AuthenticateWhy(cred.Key, cred.Secret).Reason; why != exosim.AuthNotApplied {
		t.Errorf("reason = %q, want %q", why, exosim.AuthNotApplied)
	}
	// DELETE of a key not applied yet: what the API says of an unknown key.
	resp := send(t, srv, "DELETE", "/v2/api-key/"+created.Key, "", signedBy(t, srv.Admin()))
	if resp.status != 403 || resp.message() != "API Key not in organization" {
		t.Errorf("DELETE before apply: %d %q, want 403 API Key not in organization", resp.status, resp.message())
	}
	rec := findKey(t, srv, created.Key)
	if !rec.Alive || rec.Applied || rec.AppliedAt == nil || !rec.AppliedAt.Equal(rec.CreatedAt.Add(5*time.Second)) {
		t.Errorf("record before apply = %+v, want alive, not applied, applied_at created+5s", rec)
	}

	clock.Advance(5 * time.Second)
	check("after the delay", true)
	if rec := findKey(t, srv, created.Key); !rec.Applied {
		t.Errorf("record after apply = %+v, want applied", rec)
	}
}

// A lost create answer combined with late application: the key turns up
// later although the client never saw it.
func TestFaultLateApplyWithLostResponse(t *testing.T) {
	clock := newFakeClock()
	srv, c := start(t, exosim.WithClock(clock.Now))
	srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{LateApply: 3 * time.Second, LateApplyNext: 1, LoseResponseNext: 1})

	if _, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "ghost", RoleID: exosim.CIRoleID}); err == nil {
		t.Fatal("CreateAPIKey succeeded although its response was lost")
	}
	var ghost exosim.KeyRecord
	waitFor(t, "the lost create to be recorded", func() bool {
		for _, k := range srv.Keys() {
			if k.Name == "ghost" {
				ghost = k
				return true
			}
		}
		return false
	})
	if listed(t, c, ghost.Key) {
		t.Error("the late key is listed before its delay")
	}
	clock.Advance(3 * time.Second)
	if !listed(t, c, ghost.Key) {
		t.Error("the late key is not listed after its delay")
	}
	// LateApplyNext is spent: the next create is applied at once.
	next, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "prompt", RoleID: exosim.CIRoleID})
	if err != nil {
		t.Fatal(err)
	}
	if !listed(t, c, next.Key) {
		t.Error("a create after LateApplyNext was spent is not applied at once")
	}
	if f, ok := srv.Faults()[exosim.OpCreateAPIKey]; ok {
		t.Errorf("fault left after its counters were spent: %+v", f)
	}
}

func TestFaultStaleReads(t *testing.T) {
	clock := newFakeClock()
	srv, c := start(t, exosim.WithClock(clock.Now))
	clock.Advance(time.Minute) // the admin and seeded keys are old
	fresh, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "fresh", RoleID: exosim.CIRoleID})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{StaleFor: 10 * time.Second})
	srv.SetFault(exosim.OpGetAPIKey, exosim.Fault{StaleFor: 10 * time.Second})

	if listed(t, c, fresh.Key) {
		t.Error("a stale listing shows a key created 0s ago")
	}
	if !listed(t, c, srv.Admin().Key) {
		t.Error("a stale listing lacks an old key")
	}
	if _, err := c.GetAPIKey(ctx(t), fresh.Key); !errors.Is(err, v3.ErrNotFound) {
		t.Errorf("stale GET of a fresh key: err = %v, want 404", err)
	}
	// The key works meanwhile: staleness is only in what reads show.
	if !srv.Authenticate(fresh.Key, fresh.Secret) {
		t.Error("a fresh key does not authenticate during stale reads")
	}

	clock.Advance(11 * time.Second)
	if !listed(t, c, fresh.Key) {
		t.Error("the key is still missing once older than stale_for")
	}
	if _, err := c.DeleteAPIKey(ctx(t), fresh.Key); err != nil {
		t.Fatal(err)
	}
	if !listed(t, c, fresh.Key) {
		t.Error("a key deleted 0s ago is gone from a stale listing")
	}
	if _, err := c.GetAPIKey(ctx(t), fresh.Key); err != nil {
		t.Errorf("stale GET of a key deleted 0s ago: %v, want 200", err)
	}
	clock.Advance(11 * time.Second)
	if listed(t, c, fresh.Key) {
		t.Error("a key deleted 11s ago is still listed with stale_for 10s")
	}

	// StaleNext: only that many calls lag.
	again, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "again", RoleID: exosim.CIRoleID})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{StaleFor: 10 * time.Second, StaleNext: 1})
	if listed(t, c, again.Key) {
		t.Error("the first call with StaleNext 1 is not stale")
	}
	if !listed(t, c, again.Key) {
		t.Error("the second call with StaleNext 1 is stale")
	}
}

func TestFaultDeleteFails(t *testing.T) {
	srv, c := start(t)
	victim := srv.Keys()[1]

	srv.SetFault(exosim.OpDeleteAPIKey, exosim.Fault{FailNext: 1, FailReason: "busy"})
	op, err := c.DeleteAPIKey(ctx(t), victim.Key)
	if err != nil {
		t.Fatalf("DeleteAPIKey: %v", err)
	}
	if op.State != v3.OperationStateFailure || op.Reason != v3.OperationReasonBusy {
		t.Fatalf("operation = %+v, want failure/busy", op)
	}
	if !findKey(t, srv, victim.Key).Alive || !listed(t, c, victim.Key) {
		t.Fatal("the key of a failed delete is gone")
	}
	// Still failed when polled, and a later delete works.
	if got, err := c.GetOperation(ctx(t), op.ID); err != nil || got.State != v3.OperationStateFailure {
		t.Errorf("poll of the failed operation = %+v, %v", got, err)
	}
	if op, err := c.DeleteAPIKey(ctx(t), victim.Key); err != nil || op.State != v3.OperationStateSuccess {
		t.Fatalf("second delete = %+v, %v; want success", op, err)
	}

	// With pending polls the failure comes at the end; the key stays and a
	// new delete starts a new operation.
	other := srv.Keys()[2]
	srv.SetFault(exosim.OpDeleteAPIKey, exosim.Fault{PendingPolls: 1, FailNext: 1})
	op, err = c.DeleteAPIKey(ctx(t), other.Key)
	if err != nil || op.State != v3.OperationStatePending {
		t.Fatalf("delete = %+v, %v; want pending", op, err)
	}
	if got, _ := c.GetOperation(ctx(t), op.ID); got.State != v3.OperationStatePending {
		t.Fatalf("first poll: %s, want pending", got.State)
	}
	got, err := c.GetOperation(ctx(t), op.ID)
	if err != nil || got.State != v3.OperationStateFailure || got.Reason != v3.OperationReasonUnavailable {
		t.Fatalf("second poll = %+v, %v; want failure/unavailable", got, err)
	}
	if !listed(t, c, other.Key) {
		t.Fatal("the key of a failed pending delete is gone")
	}
	again, err := c.DeleteAPIKey(ctx(t), other.Key)
	if err != nil || again.ID == op.ID {
		t.Fatalf("delete after a failure = %+v, %v; want a new operation", again, err)
	}
}

func TestFaultZombie(t *testing.T) {
	clock := newFakeClock()
	srv, c := start(t, exosim.WithClock(clock.Now))
	victim := srv.Keys()[1]
	srv.SetFault(exosim.OpDeleteAPIKey, exosim.Fault{ZombieNext: 1, ZombieFor: 20 * time.Second})

	for i := range 2 { // the first DELETE makes the zombie; it stays one
		resp := send(t, srv, "DELETE", "/v2/api-key/"+victim.Key, "", signedBy(t, srv.Admin()))
		if resp.status != 403 || resp.message() != "API Key not in organization" {
			t.Fatalf("DELETE %d of a zombie: %d %q, want 403 API Key not in organization", i+1, resp.status, resp.message())
		}
	}
	if !listed(t, c, victim.Key) {
		t.Error("a zombie is not listed")
	}
	if _, err := c.GetAPIKey(ctx(t), victim.Key); err != nil {
		t.Errorf("GET of a zombie: %v, want 200", err)
	}
	if r := srv.AuthenticateWhy(victim.Key, victim.Secret); r.OK || r.Reason != exosim.AuthZombie {
		t.Errorf("a zombie authenticates: %+v", r)
	}
	zs := srv.Zombies()
	if len(zs) != 1 || zs[0].Key != victim.Key || !zs[0].Zombie || zs[0].ZombieUntil == nil {
		t.Fatalf("Zombies() = %+v, want the victim", zs)
	}
	resp := send(t, srv, "GET", "/_sim/zombies", "", nil)
	if list, _ := resp.body["list"].([]any); len(list) != 1 {
		t.Errorf("GET /_sim/zombies = %v, want one key", resp.body)
	}

	clock.Advance(20 * time.Second)
	if listed(t, c, victim.Key) {
		t.Error("the platform did not remove the zombie after zombie_for")
	}
	rec := findKey(t, srv, victim.Key)
	if rec.Alive || rec.Zombie || rec.DeletedBy != exosim.DeletedByPlatform || rec.ZombieSince == nil {
		t.Errorf("record after removal = %+v, want deleted by the platform, once a zombie", rec)
	}
	if len(srv.Zombies()) != 0 {
		t.Errorf("Zombies() after removal = %+v", srv.Zombies())
	}
}

func TestControlExternalActors(t *testing.T) {
	srv, c := start(t)
	resp := send(t, srv, "POST", "/_sim/keys", `{"name":"someone-else","role":"ci"}`, nil)
	if resp.status != 200 {
		t.Fatalf("POST /_sim/keys: %d %s", resp.status, resp.message())
	}
	key, _ := resp.body["key"].(string)
	secret, _ := resp.body["secret"].(string)
	if resp.body["external"] != true || resp.body["role_id"] != exosim.CIRoleID || secret == "" {
		t.Fatalf("created = %v, want an external ci key with its secret", resp.body)
	}
	if !listed(t, c, key) || !srv.Authenticate(key, secret) {
		t.Fatal("an external key is not a normal key")
	}
	for _, bad := range []string{`{"name":"x","role":"nope"}`, `{"name":"","role":"ci"}`, `{"name":"x","role":"ci","extra":1}`} {
		if resp := send(t, srv, "POST", "/_sim/keys", bad, nil); resp.status != 400 {
			t.Errorf("POST /_sim/keys %s: %d, want 400", bad, resp.status)
		}
	}

	// Authenticate says why.
	body, _ := json.Marshal(map[string]string{"api_key": key, "api_secret": "wrong"})
	if resp := send(t, srv, "POST", "/_sim/authenticate", string(body), nil); resp.body["ok"] != false || resp.body["reason"] != exosim.AuthWrongSecret {
		t.Errorf("authenticate with a wrong secret = %v", resp.body)
	}

	if resp := send(t, srv, "DELETE", "/_sim/keys/"+key, "", nil); resp.status != 200 || resp.body["deleted_by"] != exosim.DeletedByExternal {
		t.Fatalf("DELETE /_sim/keys/%s: %d %v", key, resp.status, resp.body)
	}
	if listed(t, c, key) {
		t.Error("an externally deleted key is listed")
	}
	if resp := send(t, srv, "DELETE", "/_sim/keys/"+key, "", nil); resp.status != 404 {
		t.Errorf("second DELETE: %d, want 404", resp.status)
	}

	// Zombify through the control surface.
	victim := srv.Keys()[1]
	if resp := send(t, srv, "POST", "/_sim/keys/"+victim.Key+"/zombie", `{"for":"1m"}`, nil); resp.status != 200 || resp.body["zombie"] != true {
		t.Fatalf("zombie: %d %v", resp.status, resp.body)
	}
	if _, err := c.DeleteAPIKey(ctx(t), victim.Key); !errors.Is(err, v3.ErrForbidden) {
		t.Errorf("DELETE of a zombie: %v, want 403", err)
	}
	if resp := send(t, srv, "POST", "/_sim/keys/"+victim.Key+"/zombie", `{"for":"soon"}`, nil); resp.status != 400 {
		t.Errorf("zombie with a bad duration: %d, want 400", resp.status)
	}
	if resp := send(t, srv, "POST", "/_sim/keys/EXO000000000000000000000000/zombie", `{}`, nil); resp.status != 404 {
		t.Errorf("zombie of an unknown key: %d, want 404", resp.status)
	}
}

func TestNewFaultFieldsValidate(t *testing.T) {
	bad := map[string]map[string]exosim.Fault{
		"late apply on a listing":   {exosim.OpListAPIKeys: {LateApply: time.Second}},
		"late rate without a delay": {exosim.OpCreateAPIKey: {LateApplyRate: 0.5}},
		"stale on a create":         {exosim.OpCreateAPIKey: {StaleFor: time.Second}},
		"stale next without delay":  {exosim.OpGetAPIKey: {StaleNext: 1}},
		"fail on a get":             {exosim.OpGetAPIKey: {FailNext: 1}},
		"unknown fail reason":       {exosim.OpDeleteAPIKey: {FailNext: 1, FailReason: "tired"}},
		"zombie rate above 1":       {exosim.OpDeleteAPIKey: {ZombieRate: 2}},
		"negative zombie_for":       {exosim.OpDeleteAPIKey: {ZombieNext: 1, ZombieFor: -time.Second}},
		"pending polls on a create": {exosim.OpCreateAPIKey: {PendingPolls: 1}},
	}
	srv, _ := start(t)
	for name, faults := range bad {
		if err := srv.SetFaults(faults); !errors.Is(err, exosim.ErrInvalidFault) {
			t.Errorf("%s: SetFaults err = %v, want ErrInvalidFault", name, err)
		}
	}

	// JSON round trip, durations as strings, through the control surface.
	give := `{"create-api-key":{"late_apply":"2s","late_apply_rate":0.5,"lose_response_rate":0.1},` +
		`"list-api-keys":{"stale_for":"1s","stale_rate":0.3},"get-api-key":{"stale_for":"1500ms","stale_next":2},` +
		`"delete-api-key":{"fail_rate":0.1,"fail_reason":"busy","zombie_rate":0.05,"zombie_for":"10s"}}`
	if resp := send(t, srv, "PUT", "/_sim/faults", give, nil); resp.status != 200 {
		t.Fatalf("PUT faults: %d %s", resp.status, resp.message())
	}
	got := srv.Faults()
	want := map[string]exosim.Fault{
		exosim.OpCreateAPIKey: {LateApply: 2 * time.Second, LateApplyRate: 0.5, LoseResponseRate: 0.1},
		exosim.OpListAPIKeys:  {StaleFor: time.Second, StaleRate: 0.3},
		exosim.OpGetAPIKey:    {StaleFor: 1500 * time.Millisecond, StaleNext: 2},
		exosim.OpDeleteAPIKey: {FailRate: 0.1, FailReason: "busy", ZombieRate: 0.05, ZombieFor: 10 * time.Second},
	}
	for op, f := range want {
		if got[op] != f {
			t.Errorf("%s: %+v, want %+v", op, got[op], f)
		}
	}
	data, err := json.Marshal(got[exosim.OpGetAPIKey])
	if err != nil || string(data) != `{"stale_for":"1.5s","stale_next":2}` {
		t.Errorf("marshal = %s, %v", data, err)
	}
}
