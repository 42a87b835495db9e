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
