package state

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// aclXattr builds a system.posix_acl_access value: owner rwx, owning group
// groupPerm, one named entry (tag 2 user, 8 group) with perm 7, mask 7,
// others r-x.
func aclXattr(tag, id, groupPerm int) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 2)
	add := func(tag, perm int, id uint32) {
		b = binary.LittleEndian.AppendUint16(b, uint16(tag))
		b = binary.LittleEndian.AppendUint16(b, uint16(perm))
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	const undefined = 0xffffffff
	add(0x01, 7, undefined)
	if tag == 0x02 {
		add(0x02, 7, uint32(id))
	}
	add(0x04, groupPerm, undefined)
	if tag == 0x08 {
		add(0x08, 7, uint32(id))
	}
	add(0x10, 7, undefined)
	add(0x20, 5, undefined)
	return b
}

// TestOpenRefusesADirectoryAnACLLetsAnotherWrite: a directory on the state
// directory's path whose POSIX ACL lets another user or group write (an
// administrator's "setfacl -m u:deploy:rwx /srv") passed CheckPath: its
// mode's group bits, the ACL's mask, were judged against the owning group
// (root's), so a user the ACL names could rename the state directory away,
// what 047e7c7 refuses for a directory that user owns. The sink
// directories' rule judges ACL entries; CheckPath now does as well. An
// entry for rotatord's user or group is fine, and with an ACL the owning
// group is judged by its entry, not by the mask the mode shows.
func TestOpenRefusesADirectoryAnACLLetsAnotherWrite(t *testing.T) {
	for _, tc := range []struct {
		name    string
		gid     int // the parent's group
		acl     []byte
		wantErr string // "" must open
	}{
		{"named user", 0, aclXattr(0x02, strangerUID, 5), "uid 4242"},
		{"named group", 0, aclXattr(0x08, strangerUID, 5), "group 4242"},
		{"owning group", strangerUID, aclXattr(0, 0, 7), "group 4242"},
		{"rotatord's user", 0, aclXattr(0x02, os.Geteuid(), 5), ""},
		{"rotatord's group", 0, aclXattr(0x08, os.Getegid(), 5), ""},
		// The mode's group bits are the mask (rwx), not what the owning
		// group may do (r-x).
		{"another owning group that may not write", strangerUID, aclXattr(0, 0, 5), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := filepath.Join(t.TempDir(), "p")
			if err := os.Mkdir(parent, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(parent, os.Geteuid(), tc.gid); err != nil {
				t.Skipf("cannot give a directory to another group (needs root): %v", err)
			}
			if err := unix.Setxattr(parent, "system.posix_acl_access", tc.acl, 0); err != nil {
				t.Skipf("no POSIX ACLs here: %v", err)
			}
			dir := filepath.Join(parent, "state")
			for _, open := range []struct {
				name string
				f    func(string) (*Store, error)
			}{{"Open", Open}, {"OpenReadOnly", OpenReadOnly}} {
				s, err := open.f(dir)
				if err == nil {
					s.Close()
				}
				switch {
				case tc.wantErr == "" && err != nil:
					t.Errorf("%s: %v", open.name, err)
				case tc.wantErr != "" && err == nil:
					t.Errorf("%s accepted a parent whose ACL lets %s write", open.name, tc.wantErr)
				case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
					t.Errorf("%s: error %q, want it to say %q", open.name, err, tc.wantErr)
				}
			}
		})
	}
}
