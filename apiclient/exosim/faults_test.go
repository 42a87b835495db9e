package exosim_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	v3 "github.com/exoscale/egoscale/v3"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
)

func TestFaultLatency(t *testing.T) {
	srv, c := start(t)
	srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{Latency: 100 * time.Millisecond})

	began := time.Now()
	if _, err := c.ListAPIKeys(ctx(t)); err != nil {
		t.Fatalf("ListAPIKeys: %v", err)
	}
	if took := time.Since(began); took < 100*time.Millisecond {
		t.Errorf("call took %s, want at least the 100ms latency", took)
	}
	// Other operations are not slowed: the fault is per operation.
	if _, err := c.ListIAMRoles(ctx(t)); err != nil {
		t.Fatal(err)
	}

	// A client that gives up during the latency is counted as status 0.
	srv.SetFault(exosim.OpGetAPIKey, exosim.Fault{Latency: 10 * time.Second})
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.GetAPIKey(short, srv.Admin().Key); err == nil {
		t.Fatal("GetAPIKey answered within a 50ms deadline despite 10s latency")
	}
	waitFor(t, "the abandoned call to be counted", func() bool {
		return srv.Calls()[exosim.OpGetAPIKey].ByStatus[0] == 1
	})
	calls := srv.Calls()[exosim.OpListAPIKeys]
	if calls.Total != 1 || calls.ByStatus[200] != 1 {
		t.Errorf("list-api-keys calls = %+v, want one 200", calls)
	}
}

func TestFaultErrorNext(t *testing.T) {
	tests := []struct {
		name       string
		giveStatus int
		wantErr    error
	}{
		{name: "default", giveStatus: 0, wantErr: v3.ErrInternalServerError},
		{name: "502", giveStatus: 502, wantErr: v3.ErrBadGateway},
		{name: "503", giveStatus: 503, wantErr: v3.ErrServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := start(t)
			srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{ErrorNext: 2, ErrorStatus: tt.giveStatus})
			req := v3.CreateAPIKeyRequest{Name: "flaky", RoleID: exosim.CIRoleID}
			for i := range 2 {
				if _, err := c.CreateAPIKey(ctx(t), req); !errors.Is(err, tt.wantErr) {
					t.Fatalf("call %d: err = %v, want %v", i+1, err, tt.wantErr)
				}
			}
			if got := srv.Faults()[exosim.OpCreateAPIKey]; got.ErrorNext != 0 {
				t.Errorf("ErrorNext after two calls = %d, want 0", got.ErrorNext)
			}
			if _, err := c.CreateAPIKey(ctx(t), req); err != nil {
				t.Fatalf("third call: %v", err)
			}
			if n := srv.MaxLivePerName()["flaky"]; n != 1 {
				t.Errorf("%d keys named flaky, want 1: failed creates must not create", n)
			}
			status := tt.giveStatus
			if status == 0 {
				status = 500
			}
			calls := srv.Calls()[exosim.OpCreateAPIKey]
			if calls.Total != 3 || calls.ByStatus[status] != 2 || calls.ByStatus[200] != 1 {
				t.Errorf("calls = %+v", calls)
			}
		})
	}
}

// statuses makes n hand-signed list calls and returns their statuses.
func statuses(t *testing.T, srv *exosim.Server, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = send(t, srv, "GET", "/v2/api-key", "", signedBy(t, srv.Admin())).status
	}
	return out
}

func TestFaultErrorRateIsSeeded(t *testing.T) {
	run := func(seed int64) []int {
		srv := exosimtest.NewServer(t, exosim.DefaultSeed(), exosim.WithRand(seed))
		srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorRate: 0.5, ErrorStatus: 503})
		return statuses(t, srv, 60)
	}
	first, again, other := run(42), run(42), run(7)
	if !slices.Equal(first, again) {
		t.Errorf("the same seed drew differently:\n%v\n%v", first, again)
	}
	if slices.Equal(first, other) {
		t.Errorf("different seeds drew the same 60 outcomes: %v", first)
	}
	failed := 0
	for _, s := range first {
		switch s {
		case 503:
			failed++
		case 200:
		default:
			t.Fatalf("unexpected status %d", s)
		}
	}
	if failed < 15 || failed > 45 {
		t.Errorf("%d of 60 calls failed at rate 0.5", failed)
	}
}

func TestFaultRatesAtTheExtremes(t *testing.T) {
	srv, _ := start(t)
	srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorRate: 1})
	for _, s := range statuses(t, srv, 5) {
		if s != 500 {
			t.Fatalf("status %d at error rate 1, want 500", s)
		}
	}
	srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{RateLimitRate: 1, RetryAfter: 3})
	for _, s := range statuses(t, srv, 5) {
		if s != 429 {
			t.Fatalf("status %d at rate-limit rate 1, want 429", s)
		}
	}
}

func TestFaultRateLimitNext(t *testing.T) {
	tests := []struct {
		name       string
		giveAfter  int
		wantHeader string
	}{
		{name: "default Retry-After", giveAfter: 0, wantHeader: "1"},
		{name: "chosen Retry-After", giveAfter: 7, wantHeader: "7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := start(t)
			srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{RateLimitNext: 2, RetryAfter: tt.giveAfter})
			for i := range 2 {
				resp := send(t, srv, "GET", "/v2/api-key", "", signedBy(t, srv.Admin()))
				if resp.status != 429 {
					t.Fatalf("call %d: status %d, want 429", i+1, resp.status)
				}
				if got := resp.header.Get("Retry-After"); got != tt.wantHeader {
					t.Errorf("call %d: Retry-After %q, want %q", i+1, got, tt.wantHeader)
				}
			}
			if resp := send(t, srv, "GET", "/v2/api-key", "", signedBy(t, srv.Admin())); resp.status != 200 {
				t.Errorf("third call: status %d, want 200", resp.status)
			}
			if f, ok := srv.Faults()[exosim.OpListAPIKeys]; ok {
				t.Errorf("the spent fault is still listed: %+v", f)
			}
		})
	}
}

// Injected failures come after authentication: a bad signature is a 403
// whatever the faults say.
func TestFaultsComeAfterAuthentication(t *testing.T) {
	srv, _ := start(t)
	srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{RateLimitNext: 1})
	if resp := send(t, srv, "GET", "/v2/api-key", "", nil); resp.status != 403 {
		t.Fatalf("unsigned call: status %d, want 403", resp.status)
	}
	if srv.Faults()[exosim.OpListAPIKeys].RateLimitNext != 1 {
		t.Error("an unauthenticated call consumed the fault")
	}
}

func TestFaultLoseResponse(t *testing.T) {
	srv, c := start(t)
	srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{LoseResponseNext: 1})

	_, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "lost", RoleID: exosim.CIRoleID})
	if err == nil {
		t.Fatal("CreateAPIKey succeeded, want a transport error")
	}
	var apiErr *v3.APIError
	var urlErr *url.Error
	if errors.As(err, &apiErr) || !errors.As(err, &urlErr) {
		t.Fatalf("err = %v (%T), want a transport error, not an HTTP answer", err, err)
	}

	var lost []exosim.KeyRecord
	for _, k := range srv.Keys() {
		if k.Name == "lost" {
			lost = append(lost, k)
		}
	}
	if len(lost) != 1 || !lost[0].Alive {
		t.Fatalf("keys named lost = %+v, want one alive key: the create took effect", lost)
	}
	if !srv.Authenticate(lost[0].Key, lost[0].Secret) {
		t.Error("the lost key does not authenticate")
	}
	if calls := srv.Calls()[exosim.OpCreateAPIKey]; calls.ByStatus[0] != 1 {
		t.Errorf("calls = %+v, want one dropped (status 0)", calls)
	}
	// The next create answers normally.
	if _, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "found", RoleID: exosim.CIRoleID}); err != nil {
		t.Fatalf("second create: %v", err)
	}
}

func TestFaultPendingPolls(t *testing.T) {
	srv, c := start(t)
	victim := srv.Keys()[1]
	victimClient := exosimtest.Client(t, srv, exosim.Credential{Key: victim.Key, Secret: victim.Secret})
	srv.SetFault(exosim.OpDeleteAPIKey, exosim.Fault{PendingPolls: 2})

	op, err := c.DeleteAPIKey(ctx(t), victim.Key)
	if err != nil {
		t.Fatalf("DeleteAPIKey: %v", err)
	}
	if op.State != v3.OperationStatePending {
		t.Fatalf("state %s, want pending", op.State)
	}
	// A second delete while pending returns the same operation.
	again, err := c.DeleteAPIKey(ctx(t), victim.Key)
	if err != nil || again.ID != op.ID {
		t.Fatalf("second delete = %+v, %v; want the pending operation %s", again, err, op.ID)
	}
	for i := range 2 {
		got, err := c.GetOperation(ctx(t), op.ID)
		if err != nil {
			t.Fatalf("poll %d: %v", i+1, err)
		}
		if got.State != v3.OperationStatePending {
			t.Fatalf("poll %d: state %s, want pending", i+1, got.State)
		}
		if _, err := victimClient.ListAPIKeys(ctx(t)); err != nil {
			t.Fatalf("poll %d: the key stopped working before success: %v", i+1, err)
		}
	}
	got, err := c.GetOperation(ctx(t), op.ID)
	if err != nil || got.State != v3.OperationStateSuccess {
		t.Fatalf("third poll = %+v, %v; want success", got, err)
	}
	if _, err := victimClient.ListAPIKeys(ctx(t)); !errors.Is(err, v3.ErrForbidden) {
		t.Errorf("deleted key: err = %v, want ErrForbidden", err)
	}
	if _, err := c.GetAPIKey(ctx(t), victim.Key); !errors.Is(err, v3.ErrNotFound) {
		t.Errorf("GetAPIKey after success: err = %v, want ErrNotFound", err)
	}
	// Operations stay retrievable after success.
	if got, err := c.GetOperation(ctx(t), op.ID); err != nil || got.State != v3.OperationStateSuccess {
		t.Errorf("poll after success = %+v, %v", got, err)
	}
}

func TestSetFaultRejectsMistakes(t *testing.T) {
	srv, _ := start(t)
	tests := []struct {
		name   string
		giveOp string
		give   exosim.Fault
	}{
		{name: "unknown operation", giveOp: "delete-everything", give: exosim.Fault{ErrorNext: 1}},
		{name: "rate above 1", giveOp: exosim.OpListAPIKeys, give: exosim.Fault{ErrorRate: 1.5}},
		{name: "negative next", giveOp: exosim.OpListAPIKeys, give: exosim.Fault{RateLimitNext: -1}},
		{name: "4xx error status", giveOp: exosim.OpListAPIKeys, give: exosim.Fault{ErrorStatus: 404}},
		{name: "negative latency", giveOp: exosim.OpListAPIKeys, give: exosim.Fault{Latency: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("SetFault did not panic")
				}
			}()
			srv.SetFault(tt.giveOp, tt.give)
		})
	}
	if len(srv.Faults()) != 0 {
		t.Errorf("rejected faults were stored: %v", srv.Faults())
	}
}

// The Go API hands out copies: changing them changes nothing inside.
func TestDeepCopies(t *testing.T) {
	srv, c := start(t)
	if _, err := c.ListAPIKeys(ctx(t)); err != nil {
		t.Fatal(err)
	}
	srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorNext: 1})
	if _, err := c.DeleteAPIKey(ctx(t), srv.Keys()[1].Key); err != nil {
		t.Fatal(err)
	}

	keys := srv.Keys()
	keys[0].Secret = "changed"
	*keys[1].DeletedAt = time.Time{}
	calls := srv.Calls()
	calls[exosim.OpListAPIKeys].ByStatus[200] = 99
	faults := srv.Faults()
	faults[exosim.OpGetAPIKey] = exosim.Fault{ErrorNext: 5}
	maxLive := srv.MaxLivePerName()
	maxLive["ci-runner"] = 42

	if srv.Keys()[0].Secret != srv.Admin().Secret || srv.Keys()[1].DeletedAt.IsZero() {
		t.Error("Keys() aliases the store")
	}
	if srv.Calls()[exosim.OpListAPIKeys].ByStatus[200] != 1 {
		t.Error("Calls() aliases the counters")
	}
	if _, ok := srv.Faults()[exosim.OpGetAPIKey]; ok {
		t.Error("Faults() aliases the faults")
	}
	if srv.MaxLivePerName()["ci-runner"] != 1 {
		t.Error("MaxLivePerName() aliases the counts")
	}
}

// Concurrent creates and deletes under -race, and the high-water mark of
// alive keys per name that overlap tests rely on.
func TestConcurrentUseAndMaxLive(t *testing.T) {
	srv, c := start(t)
	const workers = 8
	errs := make(chan error, workers)
	for range workers {
		go func() {
			k, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "burst", RoleID: exosim.CIRoleID})
			if err == nil {
				_, err = c.ListAPIKeys(ctx(t))
			}
			if err == nil {
				_, err = c.DeleteAPIKey(ctx(t), k.Key)
			}
			errs <- err
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	n := srv.MaxLivePerName()["burst"]
	if n < 1 || n > workers {
		t.Errorf("max live burst = %d, want 1..%d", n, workers)
	}
	for _, k := range srv.Keys() {
		if k.Name == "burst" && k.Alive {
			t.Errorf("key %s still alive", k.Key)
		}
	}

	// Sequential rotation: create the new key, then delete the old one.
	old, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "rotated", RoleID: exosim.CIRoleID})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		next, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "rotated", RoleID: exosim.CIRoleID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteAPIKey(ctx(t), old.Key); err != nil {
			t.Fatal(err)
		}
		old = next
	}
	if n := srv.MaxLivePerName()["rotated"]; n != 2 {
		t.Errorf("max live rotated = %d, want 2", n)
	}
}
