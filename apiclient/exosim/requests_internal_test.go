package exosim

import (
	"net/http/httptest"
	"testing"
)

// TestRequestLogBound: beyond MaxRequests the oldest calls are dropped and
// counted; sequence numbers go on.
func TestRequestLogBound(t *testing.T) {
	s, err := New(DefaultSeed())
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/v2/api-key", nil)
	for range MaxRequests + 5 {
		s.answered(s.logRequest(OpListAPIKeys, r), 200)
	}
	got := s.Requests(RequestFilter{})
	if len(got.Requests) != MaxRequests || got.Dropped != 5 {
		t.Fatalf("%d requests, %d dropped; want %d and 5", len(got.Requests), got.Dropped, MaxRequests)
	}
	if first, last := got.Requests[0].Seq, got.Requests[MaxRequests-1].Seq; first != 6 || last != MaxRequests+5 {
		t.Errorf("seq from %d to %d, want 6 to %d", first, last, MaxRequests+5)
	}
	if n := len(s.Requests(RequestFilter{After: MaxRequests}).Requests); n != 5 {
		t.Errorf("after %d: %d requests, want 5", MaxRequests, n)
	}
}
