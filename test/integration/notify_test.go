package integration

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notifySocket is the service manager's end of sd_notify: a datagram
// socket whose path goes to rotatord in NOTIFY_SOCKET.
type notifySocket struct {
	t    *testing.T
	path string
	conn *net.UnixConn
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	dir, err := os.MkdirTemp("", "sd") // short: a socket path has 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &notifySocket{t: t, path: path, conn: conn}
}

// next returns the next message, or fails after timeout.
func (n *notifySocket) next(timeout time.Duration) string {
	n.t.Helper()
	buf := make([]byte, 4096)
	n.conn.SetReadDeadline(time.Now().Add(timeout))
	k, err := n.conn.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			n.t.Fatalf("no sd_notify message within %s", timeout)
		}
		n.t.Fatal(err)
	}
	return string(buf[:k])
}

// Under systemd (Type=notify) rotatord says when it is ready, when a
// reload starts and ends (accepted or rejected), and when it stops: until
// READY=1 systemd sends it no reload (the SIGHUP that would end a process
// still starting), and `systemctl reload` returns when the reload is done.
func TestSystemdNotify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	policy := `  - name: ci
    match: {name: "ci-*"}
    schedule: "@every 1h"
    max_age: 1h
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`
	e.writePolicy(policy)
	sock := newNotifySocket(t)
	d := e.startDaemonEnv([]string{"NOTIFY_SOCKET=" + sock.path})

	if got, want := sock.next(30*time.Second), "READY=1\nSTATUS=serving on "+d.addr; got != want {
		t.Fatalf("first message %q, want %q", got, want)
	}

	reloading := regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*$`)
	d.signal(syscall.SIGHUP)
	if got := sock.next(30 * time.Second); !reloading.MatchString(got) {
		t.Errorf("at a reload: %q, want RELOADING=1 with MONOTONIC_USEC", got)
	}
	if got, want := sock.next(30*time.Second), "READY=1\nSTATUS=configuration reloaded"; got != want {
		t.Errorf("after a reload: %q, want %q", got, want)
	}

	writeFileAtomic(t, e.config, e.policyFile(strings.Replace(policy, "max_age: 1h", "max_age: banana", 1)))
	d.signal(syscall.SIGHUP)
	if got := sock.next(30 * time.Second); !reloading.MatchString(got) {
		t.Errorf("at a rejected reload: %q, want RELOADING=1 with MONOTONIC_USEC", got)
	}
	got := sock.next(30 * time.Second)
	if !strings.HasPrefix(got, "READY=1\nSTATUS=last reload rejected") || strings.Contains(got, "banana") {
		t.Errorf("after a rejected reload: %q, want READY=1 and a status without the error's text", got)
	}

	d.signal(syscall.SIGTERM)
	if got, want := sock.next(30*time.Second), "STOPPING=1\nSTATUS=stopping"; got != want {
		t.Errorf("at SIGTERM: %q, want %q", got, want)
	}
	if code := d.waitExit(45 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, d.stderr())
	}
}
