package exosim_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

func TestLimitsRateRefusesAboveTheBucket(t *testing.T) {
	srv, _ := start(t)
	// A slow refill: within the test only the burst passes.
	if err := srv.SetLimits(exosim.Limits{Rate: 0.01, Burst: 3, RetryAfter: 4}); err != nil {
		t.Fatal(err)
	}
	got := statuses(t, srv, 5)
	want := []int{200, 200, 200, 429, 429}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses = %v, want %v", got, want)
		}
	}
	resp := send(t, srv, "GET", "/v2/api-key", "", signedBy(t, srv.Admin()))
	if resp.status != 429 || resp.header.Get("Retry-After") != "4" {
		t.Errorf("refusal: status %d Retry-After %q, want 429 and 4", resp.status, resp.header.Get("Retry-After"))
	}
	if srv.Refused() != 3 {
		t.Errorf("Refused() = %d, want 3", srv.Refused())
	}
	if c := srv.Calls()[exosim.OpListAPIKeys]; c.ByStatus[429] != 3 {
		t.Errorf("calls = %+v, want three 429s counted", c)
	}
	// The gateway refuses before authentication: an unsigned call is
	// refused too while the bucket is empty.
	if resp := send(t, srv, "GET", "/v2/api-key", "", nil); resp.status != 429 {
		t.Errorf("unsigned call while limited: status %d, want 429", resp.status)
	}
	if err := srv.SetLimits(exosim.Limits{}); err != nil {
		t.Fatal(err)
	}
	if got := statuses(t, srv, 3); got[0] != 200 || got[2] != 200 {
		t.Errorf("without limits: %v", got)
	}
}

func TestLimitsRateRefills(t *testing.T) {
	srv, _ := start(t)
	if err := srv.SetLimits(exosim.Limits{Rate: 20, Burst: 1}); err != nil {
		t.Fatal(err)
	}
	if got := statuses(t, srv, 2); got[0] != 200 || got[1] != 429 {
		t.Fatalf("statuses = %v, want 200 then 429", got)
	}
	time.Sleep(100 * time.Millisecond) // two tokens' worth
	if got := statuses(t, srv, 1); got[0] != 200 {
		t.Errorf("after the refill: %v, want 200", got)
	}
}

func TestLimitsInFlight(t *testing.T) {
	srv, _ := start(t)
	srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{Latency: 300 * time.Millisecond})
	if err := srv.SetLimits(exosim.Limits{MaxInFlight: 2}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([]int, 5)
	for i := range got {
		wg.Go(func() {
			got[i] = send(t, srv, "GET", "/v2/api-key", "", signedBy(t, srv.Admin())).status
		})
	}
	wg.Wait()
	n := map[int]int{}
	for _, s := range got {
		n[s]++
	}
	if n[200] != 2 || n[429] != 3 {
		t.Errorf("statuses = %v, want two 200 and three 429", got)
	}
	// Once answered, the places are free again.
	if s := statuses(t, srv, 2); s[0] != 200 || s[1] != 200 {
		t.Errorf("after: %v", s)
	}
}

func TestLimitsValidationAndControl(t *testing.T) {
	srv, _ := start(t)
	for _, l := range []exosim.Limits{{Rate: -1}, {Burst: -1}, {MaxInFlight: -2}, {RetryAfter: -1}} {
		if err := srv.SetLimits(l); !errors.Is(err, exosim.ErrInvalidFault) {
			t.Errorf("SetLimits(%+v) = %v, want ErrInvalidFault", l, err)
		}
	}
	resp := send(t, srv, "PUT", "/_sim/limits", `{"rate": 5, "max_in_flight": 3}`, nil)
	if resp.status != 200 || resp.body["rate"] != 5.0 || resp.body["max_in_flight"] != 3.0 {
		t.Fatalf("PUT /_sim/limits: %d %v", resp.status, resp.body)
	}
	if l := srv.Limits(); l.Rate != 5 || l.MaxInFlight != 3 {
		t.Errorf("Limits() = %+v", l)
	}
	if resp := send(t, srv, "PUT", "/_sim/limits", `{"rate": -5}`, nil); resp.status != 400 {
		t.Errorf("a negative rate: status %d, want 400", resp.status)
	}
	if resp := send(t, srv, "PUT", "/_sim/limits", `{"rates": 5}`, nil); resp.status != 400 {
		t.Errorf("an unknown field: status %d, want 400", resp.status)
	}
}
