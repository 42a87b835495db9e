package main

import (
	"math"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

func TestSumServed(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	reqs := []exosim.Request{
		{Received: at(-50), Answered: at(-30), Status: 200}, // before the pass
		{Received: at(0), Answered: at(20), Status: 200},
		{Received: at(0), Answered: at(20), Status: 201},
		{Received: at(20), Answered: at(40), Status: 200},
		{Received: at(30), Status: 0},                   // pending
		{Received: at(30), Answered: at(35), Status: 0}, // lost
	}
	got := sumServed(reqs, t0)
	// Three answered calls of 20 ms over the 40 ms from the first arrival
	// to the last answer: 1.5 at once.
	if got.calls != 3 || got.perCall != 20*time.Millisecond || got.inFlight != 1.5 {
		t.Errorf("sumServed = %+v, want 3 calls, 20ms each, 1.5 in flight", got)
	}
	if got := sumServed(reqs, at(100)); got != (served{}) {
		t.Errorf("no call after the start: %+v, want zero", got)
	}
}

func TestServedFiguresUnknown(t *testing.T) {
	s := served{calls: 3, inFlight: 1.5, perCall: 20 * time.Millisecond}
	if in, per := s.figures(); in != 1.5 || per != 20 {
		t.Errorf("figures = %v, %v; want 1.5, 20", in, per)
	}
	for _, s := range []served{{}, {unknown: "dropped", calls: 3, inFlight: 1.5}} {
		if in, per := s.figures(); !math.IsNaN(in) || !math.IsNaN(per) {
			t.Errorf("%+v: figures = %v, %v; want NaN", s, in, per)
		}
	}
}

// TestSumServedProtocols: the calls of the pass are counted by how they
// came, so that the pass over TLS can show it was one, and say in which
// HTTP version and on how many connections.
func TestSumServedProtocols(t *testing.T) {
	t0 := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	reqs := []exosim.Request{
		{Received: at(-50), Answered: at(-30), Status: 200, Proto: "HTTP/1.1", Remote: "127.0.0.1:1000"}, // before the pass
		{Received: at(0), Answered: at(20), Status: 200, Proto: "HTTP/2.0", TLS: true, Remote: "127.0.0.1:1001"},
		{Received: at(0), Answered: at(20), Status: 201, Proto: "HTTP/2.0", TLS: true, Remote: "127.0.0.1:1001"},
		{Received: at(20), Answered: at(40), Status: 200, Proto: "HTTP/1.1", TLS: true, Remote: "127.0.0.1:1002"},
		{Received: at(20), Answered: at(40), Status: 200, Proto: "HTTP/1.1", Remote: "127.0.0.1:1003"},
	}
	got := sumServed(reqs, t0)
	if got.calls != 4 || got.overTLS != 3 || got.h2 != 2 || got.conns != 3 {
		t.Errorf("sumServed = %+v, want 4 calls, 3 over TLS, 2 in HTTP/2, on 3 connections", got)
	}
}

// TestCheckOverTLS: the pass over TLS fails when a call of it came in
// plain http, or when the simulator's log cannot tell.
func TestCheckOverTLS(t *testing.T) {
	tests := []struct {
		name    string
		give    served
		wantErr bool
	}{
		{"every call over TLS", served{calls: 3, overTLS: 3, h2: 3}, false},
		{"one in plain http", served{calls: 3, overTLS: 2, h2: 2}, true},
		{"none known", served{}, true},
		{"log dropped calls of the pass", served{unknown: "dropped", calls: 3, overTLS: 3}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkOverTLS(tt.give); (err != nil) != tt.wantErr {
				t.Errorf("checkOverTLS(%+v) = %v, want an error: %v", tt.give, err, tt.wantErr)
			}
		})
	}
}

// TestPlainBeside: the pass over TLS is set beside the plain pass of the
// same N (CPU per rotation falls as N grows: 5.38 ms at 100, 2.67 at
// 10,000), the largest N's only when no -n is its N.
func TestPlainBeside(t *testing.T) {
	rs := []result{{pass: pass{n: 100}}, {pass: pass{n: 1000}}, {pass: pass{n: 10000}}}
	if got := plainBeside(rs, 1000); got.n != 1000 {
		t.Errorf("plainBeside(n=1000) is the pass at n=%d, want 1000", got.n)
	}
	if got := plainBeside(rs, 500); got.n != 10000 {
		t.Errorf("plainBeside(n=500) is the pass at n=%d, want 10000 (the largest)", got.n)
	}
}
