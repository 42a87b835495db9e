package file

import (
	"os"
	"path/filepath"
	"testing"
	"text/template"

	"golang.org/x/sys/unix"
)

// A directory on a file system that compares names as bytes (a test's
// temp directory: ext4, xfs, tmpfs) tells ci-runner.env and ci-RUNNER.env
// apart; a directory that does not exist yet, or a path that is not a
// directory, cannot be classified and counts as folding case.
func TestDirFoldsCaseTellsACaseSensitiveDirectoryAndIsCautiousOtherwise(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, dir, FormatEnv)
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	if caseSensitiveFS(int64(uint32(fs.Type)), func() (uint32, error) { return 0, nil }) {
		if s.FoldsCase(dir) {
			t.Errorf("%s (file system type %#x) folds case, want case-sensitive", dir, fs.Type)
		}
		// Two files differing only in case are two files there.
		for _, n := range []string{"ci-runner", "ci-RUNNER"} {
			if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "ci-runner")); string(b) != "ci-runner" {
			t.Fatalf("%s folds case, but was classified as telling case apart", dir)
		}
	} else if !s.FoldsCase(dir) {
		t.Errorf("%s on a file system of type %#x not known to tell case apart counts as case-sensitive", dir, fs.Type)
	}
	if !s.FoldsCase(filepath.Join(dir, "missing")) {
		t.Errorf("a directory that does not exist counts as case-sensitive")
	}
	f := filepath.Join(dir, "plain")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if !s.FoldsCase(f) {
		t.Errorf("a regular file counts as a case-sensitive directory")
	}
}

func TestCaseSensitiveFSKnowsWhichFileSystemsFoldCase(t *testing.T) {
	for _, c := range []struct {
		name string
		typ  int64
		want bool
	}{
		{"ext4", unix.EXT4_SUPER_MAGIC, true},
		{"xfs", unix.XFS_SUPER_MAGIC, true},
		{"tmpfs", unix.TMPFS_MAGIC, true},
		{"overlayfs", unix.OVERLAYFS_SUPER_MAGIC, true},
		{"vfat", unix.MSDOS_SUPER_MAGIC, false},
		{"exfat", unix.EXFAT_SUPER_MAGIC, false},
		{"cifs", unix.CIFS_SUPER_MAGIC, false},
		{"smb2", unix.SMB2_SUPER_MAGIC, false},
		{"ntfs3", ntfsSuperMagic, false},
		{"hfsplus", hfsplusSuperMagic, false},
		{"nfs (the server decides)", unix.NFS_SUPER_MAGIC, false},
		{"fuse", unix.FUSE_SUPER_MAGIC, false},
		{"unknown", 0x1234, false},
	} {
		if got := caseSensitiveFS(c.typ, func() (uint32, error) { return 0, nil }); got != c.want {
			t.Errorf("%s: case-sensitive %v, want %v", c.name, got, c.want)
		}
	}
}

// /dev/shm is a tmpfs without casefold on almost every Linux host.
func TestDirFoldsCaseTellsTmpfsApart(t *testing.T) {
	var fs unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &fs); err != nil || fs.Type != unix.TMPFS_MAGIC {
		t.Skip("no tmpfs at /dev/shm")
	}
	if flags, err := func() (uint32, error) {
		fd, err := unix.Open("/dev/shm", unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			return 0, err
		}
		defer unix.Close(fd)
		return unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	}(); err == nil && flags&fsCasefoldFL != 0 {
		t.Skip("/dev/shm has casefold")
	}
	if dirFoldsCase("/dev/shm") {
		t.Errorf("/dev/shm (tmpfs) folds case, want case-sensitive")
	}
}

// XFS made with "mkfs.xfs -n version=ci" looks names up without regard
// to ASCII case on the whole file system, without any inode flag: only
// its geometry (XFS_FSOP_GEOM_FLAGS_DIRV2CI) tells. An XFS whose geometry
// cannot be read counts as folding case.
func TestAnXFSWithASCIICaseInsensitivityFoldsCase(t *testing.T) {
	for _, c := range []struct {
		name  string
		flags uint32
		err   error
		want  bool
	}{
		{"xfs", 0x80 | 0x100, nil, true},
		{"xfs ascii-ci", 0x80 | 0x1000, nil, false},
		{"xfs, geometry unreadable", 0, unix.ENOTTY, false},
	} {
		if got := caseSensitiveFS(unix.XFS_SUPER_MAGIC, func() (uint32, error) { return c.flags, c.err }); got != c.want {
			t.Errorf("%s: case-sensitive %v, want %v", c.name, got, c.want)
		}
	}
}

// On a real XFS (not ascii-ci) the geometry reads, and a directory there
// tells case apart. Runs where XFS_TEST_DIR names a directory on XFS.
func TestXFSGeometryReadsOnARealXFS(t *testing.T) {
	dir := os.Getenv("XFS_TEST_DIR")
	if dir == "" {
		t.Skip("XFS_TEST_DIR not set")
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	flags, err := xfsGeometryFlags(fd)
	if err != nil || flags&0x80 == 0 { // XFS_FSOP_GEOM_FLAGS_DIRV2: always set
		t.Fatalf("geometry flags %#x, %v: want DIRV2 set", flags, err)
	}
	if dirFoldsCase(dir) != (flags&0x1000 != 0) {
		t.Errorf("%s (geometry flags %#x): folds case %v", dir, flags, dirFoldsCase(dir))
	}
}

func TestLiteralDirIsTheDirectoryThePathTemplateNamesLiterally(t *testing.T) {
	for tmpl, want := range map[string]string{
		"/srv/creds/{{.Name}}.env":       "/srv/creds",
		"/srv/creds/ci-{{.Name}}/env":    "/srv/creds",
		"/srv/{{.Name}}/x.env":           "/srv",
		`{{printf "/srv/%s" .Name}}.env`: "/",
		"/srv/creds/fixed.env":           "/srv/creds",
	} {
		s, err := New(Options{Path: template.Must(template.New("p").Parse(tmpl)), Format: FormatEnv, UID: -1, GID: -1, Policy: "ci"})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.LiteralDir(); got != want {
			t.Errorf("%s: literal directory %q, want %q", tmpl, got, want)
		}
	}
}

// A ramfs (and btrfs, f2fs, bcachefs: magic numbers above 2^31) tells
// case apart on 32-bit systems too, where statfs gives the type as a
// signed 32-bit number. Runs where RAMFS_TEST_DIR names a ramfs mount.
func TestDirFoldsCaseTellsARamfsApart(t *testing.T) {
	dir := os.Getenv("RAMFS_TEST_DIR")
	if dir == "" {
		t.Skip("RAMFS_TEST_DIR not set")
	}
	if dirFoldsCase(dir) {
		t.Errorf("%s (ramfs) folds case, want case-sensitive", dir)
	}
}
