package state

import (
	"encoding/binary"
	"errors"

	"golang.org/x/sys/unix"
)

// POSIX ACL entry tags (linux/posix_acl_xattr.h).
const (
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclGroup    = 0x08
)

type aclEntry struct{ tag, perm, id int }

// accessACL returns the entries of the POSIX access ACL of path (not
// followed if a symlink), nil when it has none or the file system has no
// ACLs.
func accessACL(path string) ([]aclEntry, error) {
	buf := make([]byte, 4096)
	n, err := unix.Lgetxattr(path, "system.posix_acl_access", buf)
	switch {
	case errors.Is(err, unix.ENODATA), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
		return nil, nil
	case err != nil:
		return nil, err
	}
	b := buf[:n]
	if len(b) < 4 || binary.LittleEndian.Uint32(b) != 2 || (len(b)-4)%8 != 0 {
		return nil, errors.New("unknown ACL format")
	}
	var out []aclEntry
	for b = b[4:]; len(b) > 0; b = b[8:] {
		out = append(out, aclEntry{
			tag:  int(binary.LittleEndian.Uint16(b)),
			perm: int(binary.LittleEndian.Uint16(b[2:])),
			id:   int(binary.LittleEndian.Uint32(b[4:])),
		})
	}
	return out, nil
}
