package state

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestALargeACLIsJudgedNotRefused: accessACL read the ACL into 4,096
// bytes; a directory whose ACL holds more than 510 entries (tmpfs, XFS
// and btrfs take up to 64 KiB), every one read-only here, made
// Lgetxattr answer ERANGE, and CheckPath refused the state directory
// ("read its ACL: numerical result out of range") instead of judging
// the entries. One such entry that lets another user write is still
// found.
func TestALargeACLIsJudgedNotRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		writer  bool // one named user may write
		wantErr bool
	}{{"read-only entries", false, false}, {"one entry lets another user write", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			base, err := os.MkdirTemp("/dev/shm", "acl")
			if err != nil {
				t.Skipf("no /dev/shm: %v", err)
			}
			t.Cleanup(func() { os.RemoveAll(base) })
			if err := os.Chmod(base, 0o755); err != nil {
				t.Fatal(err)
			}
			b := binary.LittleEndian.AppendUint32(nil, 2)
			add := func(tag, perm int, id uint32) {
				b = binary.LittleEndian.AppendUint16(b, uint16(tag))
				b = binary.LittleEndian.AppendUint16(b, uint16(perm))
				b = binary.LittleEndian.AppendUint32(b, id)
			}
			const undefined = 0xffffffff
			add(0x01, 7, undefined)
			for i := range 600 {
				perm := 5
				if tc.writer && i == 599 {
					perm = 7
				}
				add(0x02, perm, uint32(10000+i))
			}
			add(0x04, 5, undefined)
			add(0x10, 7, undefined)
			add(0x20, 5, undefined)
			if len(b) <= 4096 {
				t.Fatalf("test premise: an ACL of %d bytes", len(b))
			}
			if err := unix.Setxattr(base, "system.posix_acl_access", b, 0); err != nil {
				t.Skipf("no large POSIX ACLs here: %v", err)
			}
			dir := filepath.Join(base, "state")
			err = CheckPath(dir)
			switch {
			case tc.wantErr && err == nil:
				t.Error("CheckPath accepted a directory whose ACL lets uid 10599 write")
			case !tc.wantErr && err != nil:
				t.Errorf("CheckPath refused a directory whose large ACL lets nobody else write: %v", err)
			}
		})
	}
}
