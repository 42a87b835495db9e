package posixacl

import (
	"encoding/binary"
	"reflect"
	"testing"
)

func xattr(entries ...Entry) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 2)
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint16(b, uint16(e.Tag))
		b = binary.LittleEndian.AppendUint16(b, uint16(e.Perm))
		b = binary.LittleEndian.AppendUint32(b, uint32(e.ID))
	}
	return b
}

// unset is the id the kernel gives entries other than User and Group.
const unset = 0xffffffff

func TestParse(t *testing.T) {
	want := []Entry{{UserObj, 7, unset}, {User, 7, 1000}, {GroupObj, 5, unset}, {Mask, 7, unset}, {Other, 0, unset}}
	got, err := Parse(xattr(want...))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Parse = %v, %v; want %v", got, err, want)
	}
	for _, bad := range [][]byte{nil, {1, 0, 0, 0}, append(xattr(Entry{User, 7, 1}), 0)} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%x) accepted", bad)
		}
	}
}

func TestGroupClassWriters(t *testing.T) {
	named := []Entry{{UserObj, 7, 0}, {User, 7, 1000}, {Group, 6, 2000}, {Group, 5, 3000}, {GroupObj, 5, 0}, {Mask, 7, 0}, {Other, 0, 0}}
	tests := []struct {
		name string
		perm uint32
		acl  []Entry
		want []Writer
	}{
		{"no ACL, group may write", 0o770, nil, []Writer{{GroupObj, 42}}},
		{"no ACL, group may read", 0o750, nil, nil},
		{"ACL, mask lets write", 0o770, named, []Writer{{User, 1000}, {Group, 2000}}},
		{"ACL, mask keeps every entry from writing", 0o750, named, nil},
		{"ACL, owning group may write", 0o770, []Entry{{GroupObj, 7, 0}, {Mask, 7, 0}}, []Writer{{GroupObj, 42}}},
	}
	for _, tt := range tests {
		if got := GroupClassWriters(tt.perm, 42, tt.acl); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: GroupClassWriters = %v, want %v", tt.name, got, tt.want)
		}
	}
}
