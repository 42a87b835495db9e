package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/rotation"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// TestProgressOnATerminal: a long pass shows one status line, redrawn in
// place (names done of total, failures so far), kept below log lines and
// erased at the end (issue 12: a long pass looked hung).
func TestProgressOnATerminal(t *testing.T) {
	clock := &fakeClock{t: outputNow}
	var buf bytes.Buffer
	p := newProgress(&buf, true, clock.now)
	p.outcome(rotation.Outcome{}, 4) // within the first second: quiet
	if buf.Len() != 0 {
		t.Fatalf("progress within the first second: %q", buf.String())
	}
	clock.t = clock.t.Add(2 * time.Second)
	p.outcome(rotation.Outcome{Err: errors.New("boom")}, 4)
	if want := "\r\x1b[Konce: 2 of 4 names done, 1 failed (2s)"; buf.String() != want {
		t.Fatalf("status = %q, want %q", buf.String(), want)
	}
	buf.Reset()
	p.Write([]byte("a log line\n"))
	if want := "\r\x1b[Ka log line\n\r\x1b[Konce: 2 of 4 names done, 1 failed (2s)"; buf.String() != want {
		t.Errorf("log through the status line = %q, want %q", buf.String(), want)
	}
	buf.Reset()
	clock.t = clock.t.Add(10 * time.Millisecond)
	p.outcome(rotation.Outcome{}, 4) // redrawn at most every 100 ms
	if buf.Len() != 0 {
		t.Errorf("redrawn after 10ms: %q", buf.String())
	}
	clock.t = clock.t.Add(time.Second)
	p.outcome(rotation.Outcome{}, 4)
	if want := "\r\x1b[Konce: 4 of 4 names done, 1 failed (3s)"; buf.String() != want {
		t.Errorf("status = %q, want %q", buf.String(), want)
	}
	buf.Reset()
	p.finish()
	p.Write([]byte("after\n"))
	if want := "\r\x1b[Kafter\n"; buf.String() != want {
		t.Errorf("after finish = %q, want the line erased and nothing redrawn", buf.String())
	}
}

// TestProgressNotATerminal: plain lines, one every 10 s of a long pass,
// and no escape sequences.
func TestProgressNotATerminal(t *testing.T) {
	clock := &fakeClock{t: outputNow}
	var buf bytes.Buffer
	p := newProgress(&buf, false, clock.now)
	for i := range 100 {
		clock.t = clock.t.Add(500 * time.Millisecond)
		var err error
		if i%10 == 0 {
			err = errors.New("boom")
		}
		p.outcome(rotation.Outcome{Err: err}, 100)
	}
	p.finish()
	p.Write([]byte("log\n"))
	want := "once: 20 of 100 names done, 2 failed (10s)\n" +
		"once: 40 of 100 names done, 4 failed (20s)\n" +
		"once: 60 of 100 names done, 6 failed (30s)\n" +
		"once: 80 of 100 names done, 8 failed (40s)\n" +
		"once: 100 of 100 names done, 10 failed (50s)\n" +
		"log\n"
	if buf.String() != want {
		t.Errorf("plain progress:\n%s\nwant\n%s", buf.String(), want)
	}
	if strings.Contains(buf.String(), "\x1b") {
		t.Error("escape sequences in plain progress")
	}
}
