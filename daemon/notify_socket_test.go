package daemon

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// listenNotify stands in for systemd's notify socket for the rest of the
// test (NOTIFY_SOCKET): each message rotatord sends (READY=1,
// RELOADING=1, STOPPING=1) is one datagram to read from it. The socket
// lives in a directory of its own under os.TempDir: t.TempDir's path can
// be longer than a Unix socket's name may be.
func listenNotify(t *testing.T) *net.UnixConn {
	t.Helper()
	dir, err := os.MkdirTemp("", "notify")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	return nc
}
