package file

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rotatord/rotatord/internal/posixacl"
)

// TestSinkDirectoryWithALargeACL: accessACL read a sink directory's ACL
// into 4,096 bytes; with more than 510 entries (tmpfs, XFS and btrfs take
// up to 64 KiB), all of them read-only here, Fgetxattr answered ERANGE and
// every operation of the sink failed ("numerical result out of range")
// instead of judging the entries.
func TestSinkDirectoryWithALargeACL(t *testing.T) {
	needRoot(t)
	base, err := os.MkdirTemp("/dev/shm", "sink")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	dir := mkdir(t, filepath.Join(base, "creds"), 0o755)
	b := binary.LittleEndian.AppendUint32(nil, 2)
	add := func(tag, perm, id int) {
		b = binary.LittleEndian.AppendUint16(b, uint16(tag))
		b = binary.LittleEndian.AppendUint16(b, uint16(perm))
		b = binary.LittleEndian.AppendUint32(b, uint32(id))
	}
	add(posixacl.UserObj, 7, -1)
	for i := range 600 {
		add(posixacl.User, 5, 10000+i)
	}
	add(posixacl.GroupObj, 5, -1)
	add(posixacl.Mask, 7, -1)
	add(posixacl.Other, 5, -1)
	if err := unix.Setxattr(dir, "system.posix_acl_access", b, 0); err != nil {
		t.Skipf("no large POSIX ACLs here: %v", err)
	}
	s := newSink(t, dir, FormatJSON, func(o *Options) { o.UID = os.Getuid() })
	ctx := context.Background()
	c := cred("k", "EXO1", testSecret)
	if err := s.Probe(ctx, "k"); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if err := s.Write(ctx, c); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := s.Verify(ctx, c); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}
