package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A default ACL on a sink's directory (an administrator's "setfacl -d -m
// u:backup:r") is copied into every file created there, so a credential
// written with mode 0640 was also readable by that named user, beyond its
// owner and group: the mode no longer said who could read the secret. The
// file rotatord writes, and its temp file, carry no access ACL: its mode
// is the whole truth.
func TestWrittenFileCarriesNoInheritedACL(t *testing.T) {
	dir := mkdir(t, filepath.Join(t.TempDir(), "creds"), 0o700)
	// Default ACL: owner rwx, uid 65534 rw, group none, mask rwx, other none.
	if err := unix.Setxattr(dir, "system.posix_acl_default", aclXattr(nobody, 7), 0); err != nil {
		t.Skipf("no POSIX ACLs here: %v", err)
	}
	for _, mode := range []os.FileMode{0o600, 0o640} {
		s := newSink(t, dir, FormatJSON, func(o *Options) { o.Mode = mode })
		if err := s.Probe(context.Background(), "k"); err != nil {
			t.Fatalf("mode %#o: Probe: %v", mode, err)
		}
		if err := s.Write(context.Background(), cred("k", "EXO1", testSecret)); err != nil {
			t.Fatalf("mode %#o: Write: %v", mode, err)
		}
		target := filepath.Join(dir, "k.cred")
		buf := make([]byte, 256)
		n, err := unix.Getxattr(target, "system.posix_acl_access", buf)
		if !errors.Is(err, unix.ENODATA) {
			t.Errorf("mode %#o: %s has an access ACL (%x, %v): other users than the mode says may read the secret", mode, target, buf[:max(n, 0)], err)
		}
		if err := s.Verify(context.Background(), cred("k", "EXO1", testSecret)); err != nil {
			t.Errorf("mode %#o: Verify: %v", mode, err)
		}
	}
}
