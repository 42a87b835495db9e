package fence

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// A fenced connection writes only while the claim holds: a refused write
// sends nothing.
func TestConnWritesOnlyWhileTheClaimHolds(t *testing.T) {
	lost := errors.New("lost the Lease")
	var state atomic.Int32 // 0: held, 1: lost, 2: claim over
	f := func() (time.Time, error) {
		switch state.Load() {
		case 1:
			return time.Time{}, lost
		case 2:
			return time.Now().Add(-time.Second), nil
		}
		return time.Now().Add(time.Minute), nil
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := Conn(a, f)
	got := make(chan []byte, 4)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := b.Read(buf)
			if err != nil {
				close(got)
				return
			}
			got <- append([]byte(nil), buf[:n]...)
		}
	}()
	if n, err := c.Write([]byte("held")); err != nil || n != 4 {
		t.Fatalf("write while held: %d, %v", n, err)
	}
	if s := string(<-got); s != "held" {
		t.Fatalf("peer read %q", s)
	}
	state.Store(1)
	if n, err := c.Write([]byte("lost")); !errors.Is(err, lost) || n != 0 {
		t.Fatalf("write after the Lease was lost: %d, %v", n, err)
	}
	state.Store(2)
	if n, err := c.Write([]byte("over")); !errors.Is(err, ErrClaimOver) || n != 0 {
		t.Fatalf("write after the claim ended: %d, %v", n, err)
	}
	state.Store(0)
	if _, err := c.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	if s := string(<-got); s != "again" {
		t.Fatalf("peer read %q: a refused write reached it", s)
	}
}
