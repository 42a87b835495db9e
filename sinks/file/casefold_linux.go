package file

import (
	"errors"

	"golang.org/x/sys/unix"
)

// fsCasefoldFL is FS_CASEFOLD_FL, the inode flag of a directory whose
// names are looked up without regard to case (ext4 and f2fs with the
// casefold feature, tmpfs mounted with casefold, bcachefs); x/sys/unix
// does not define it.
const fsCasefoldFL = 0x40000000

// File system types x/sys/unix does not define, that fold case.
const (
	ntfsSuperMagic    = 0x5346544e // ntfs, ntfs3
	hfsplusSuperMagic = 0x482b
)

// dirFoldsCase tells whether the directory at path folds case: its
// casefold inode flag (FS_IOC_GETFLAGS) is set, or its file system is not
// one known to compare names as bytes (caseSensitiveFS). A directory that
// cannot be opened (reached as a write reaches it, resolveDir) or
// inspected counts as folding case.
func dirFoldsCase(path string) bool {
	fd, err := resolveDir(path)
	if err != nil {
		return true
	}
	defer unix.Close(fd)
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return true
	}
	flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	switch {
	case err == nil:
		if flags&fsCasefoldFL != 0 {
			return true
		}
	case errors.Is(err, unix.ENOTTY), errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
		// No inode flags on this file system, so no casefold flag: its
		// type decides.
	default:
		return true
	}
	return !caseSensitiveFS(int64(fs.Type))
}

// caseSensitiveFS tells whether a file system of statfs type t compares
// names as bytes in a directory without the casefold flag. Types that
// fold case (vfat/msdos, exFAT, CIFS/SMB, NTFS, HFS+) and those not
// listed (NFS, FUSE, 9p, ZFS, whose server, mount or dataset may fold
// case) are false.
func caseSensitiveFS(t int64) bool {
	switch t {
	case unix.EXT4_SUPER_MAGIC, // also ext2 and ext3 (one magic)
		unix.XFS_SUPER_MAGIC,
		unix.BTRFS_SUPER_MAGIC,
		unix.F2FS_SUPER_MAGIC,
		unix.BCACHEFS_SUPER_MAGIC,
		unix.TMPFS_MAGIC,
		unix.RAMFS_MAGIC,
		unix.OVERLAYFS_SUPER_MAGIC:
		return true
	case unix.MSDOS_SUPER_MAGIC, unix.EXFAT_SUPER_MAGIC,
		unix.CIFS_SUPER_MAGIC, unix.SMB2_SUPER_MAGIC, unix.SMB_SUPER_MAGIC,
		ntfsSuperMagic, hfsplusSuperMagic:
		return false
	}
	return false
}
