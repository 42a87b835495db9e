// Package posixacl owns the reading of a file's POSIX access ACL and the
// one rule rotatord draws from it: who may write a directory through its
// group class (the owning group, and with an ACL its named users and
// groups, all capped by the mask). The file sink's directories and the
// state directory's path are judged by it.
package posixacl

import (
	"encoding/binary"
	"errors"
)

// The tags of ACL entries (linux/posix_acl.h).
const (
	UserObj  = 0x01
	User     = 0x02
	GroupObj = 0x04
	Group    = 0x08
	Mask     = 0x10
	Other    = 0x20
)

// Entry is one entry of an ACL: its tag, its permissions (rwx as in a
// mode) and the uid or gid of a User or Group entry.
type Entry struct{ Tag, Perm, ID int }

// Parse decodes the xattr form of a POSIX ACL: a little-endian version
// (2), then entries of tag (16 bits), permissions (16 bits) and id (32
// bits).
func Parse(b []byte) ([]Entry, error) {
	if len(b) < 4 || binary.LittleEndian.Uint32(b) != 2 || (len(b)-4)%8 != 0 {
		return nil, errors.New("unknown ACL format")
	}
	var out []Entry
	for b = b[4:]; len(b) > 0; b = b[8:] {
		out = append(out, Entry{
			Tag:  int(binary.LittleEndian.Uint16(b)),
			Perm: int(binary.LittleEndian.Uint16(b[2:])),
			ID:   int(binary.LittleEndian.Uint32(b[4:])),
		})
	}
	return out, nil
}

// Writer is a user (Tag User) or a group (Tag GroupObj or Group) that may
// write a file through its group class.
type Writer struct{ Tag, ID int }

// GroupClassWriters returns who may write a file of permission bits perm
// and owning group gid through its group class. Without an ACL (acl nil)
// that is the owning group when the group bits allow writing. With one,
// the group bits are its mask: when they allow writing, every GroupObj,
// Group and User entry that allows it (GroupObj as gid). The owner and
// others are the caller's to judge from the mode.
func GroupClassWriters(perm uint32, gid int, acl []Entry) []Writer {
	if perm&0o020 == 0 {
		return nil // no group write bit, or a mask that lets no entry write
	}
	if acl == nil {
		return []Writer{{GroupObj, gid}}
	}
	var out []Writer
	for _, e := range acl {
		if e.Perm&2 == 0 {
			continue
		}
		switch e.Tag {
		case GroupObj:
			out = append(out, Writer{GroupObj, gid})
		case Group, User:
			out = append(out, Writer{e.Tag, e.ID})
		}
	}
	return out
}
