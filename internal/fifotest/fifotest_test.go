//go:build unix

package fifotest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// failRecorder is a test whose Fatalf is recorded, not obeyed.
type failRecorder struct {
	testing.TB
	failed string
}

func (r *failRecorder) Helper() {}

func (r *failRecorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestCallFailsAReadThatWaitsOnThePipe(t *testing.T) {
	defer func(d time.Duration) { blockedAfter = d }(blockedAfter)
	blockedAfter = 200 * time.Millisecond
	fifo := Make(t, "f")
	r := &failRecorder{TB: t}
	Call(r, fifo, "a plain read", func() error { _, err := os.ReadFile(fifo); return err })
	if !strings.Contains(r.failed, "a plain read waits on a named pipe at "+fifo) {
		t.Fatalf("Call did not fail the test for a read blocked on the pipe: %q", r.failed)
	}
}

func TestCallReturnsTheErrorOfACallThatDoesNotWait(t *testing.T) {
	fifo := Make(t, "f")
	want := errors.New("refused")
	r := &failRecorder{TB: t}
	if err := Call(r, fifo, "a refusal", func() error { return want }); err != want || r.failed != "" {
		t.Fatalf("Call = %v (failed %q), want %v and no failure", err, r.failed, want)
	}
}
