package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/rotatord/rotatord/rotation"
)

// progress shows how far a long `once` pass is (names done of total,
// failures so far) on stderr, so a pass over thousands of names does not
// look hung. On a terminal it is one status line, redrawn in place and
// erased at the end; otherwise (a log file, a CI job) a plain line every
// plainEvery. A pass shorter than quiet shows nothing.
//
// The log goes through Write, which moves the status line out of the way
// of each log line and draws it again below.
type progress struct {
	mu  sync.Mutex
	w   io.Writer
	tty bool
	now func() time.Time

	start       time.Time
	done, total int
	failed      int
	shown       bool      // the status line is on the terminal
	last        time.Time // when a status was last printed
	over        bool      // finish was called
}

const (
	progressQuiet      = time.Second // no progress for a pass shorter than this
	progressRedraw     = 100 * time.Millisecond
	progressPlainEvery = 10 * time.Second // between plain lines
)

func newProgress(w io.Writer, tty bool, now func() time.Time) *progress {
	start := now()
	return &progress{w: w, tty: tty, now: now, start: start, last: start}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// outcome counts one name's outcome; rotation.Options.OnOutcome calls it
// from the pass's handlers, in parallel.
func (p *progress) outcome(o rotation.Outcome, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.total = total
	if o.Err != nil {
		p.failed++
	}
	if p.over {
		return
	}
	now := p.now()
	if now.Sub(p.start) < progressQuiet {
		return
	}
	switch {
	case p.tty && now.Sub(p.last) >= progressRedraw:
		p.draw()
		p.last = now
	case !p.tty && now.Sub(p.last) >= progressPlainEvery:
		fmt.Fprintln(p.w, p.status(now))
		p.last = now
	}
}

func (p *progress) status(now time.Time) string {
	return fmt.Sprintf("once: %d of %d names done, %d failed (%s)", p.done, p.total, p.failed, now.Sub(p.start).Round(time.Second))
}

// draw puts the status line on the terminal in place of the previous one.
func (p *progress) draw() {
	fmt.Fprint(p.w, "\r\x1b[K"+p.status(p.now()))
	p.shown = true
}

func (p *progress) erase() {
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// finish erases the status line; nothing is printed after it.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.erase()
	p.over = true
}

// Write passes a log line through, keeping the status line below it.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	shown := p.shown
	p.erase()
	n, err := p.w.Write(b)
	if shown && !p.over {
		p.draw()
	}
	return n, err
}
