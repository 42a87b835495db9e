package file

import (
	"errors"
	"unsafe"

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
	// f_type is a 32-bit magic number, given signed on 32-bit systems
	// (btrfs, f2fs, bcachefs and ramfs magics are above 2^31).
	return !caseSensitiveFS(int64(uint32(fs.Type)), func() (uint32, error) { return xfsGeometryFlags(fd) })
}

// caseSensitiveFS tells whether a file system of statfs type t compares
// names as bytes in a directory without the casefold flag (xfsFlags
// reads an XFS's geometry flags). Types that
// fold case (vfat/msdos, exFAT, CIFS/SMB, NTFS, HFS+) and those not
// listed (NFS, FUSE, 9p, ZFS, whose server, mount or dataset may fold
// case) are false.
func caseSensitiveFS(t int64, xfsFlags func() (uint32, error)) bool {
	switch t {
	case unix.XFS_SUPER_MAGIC:
		// Made with "mkfs.xfs -n version=ci", it folds ASCII case in
		// every directory without any inode flag: its geometry tells.
		flags, err := xfsFlags()
		return err == nil && flags&xfsGeomFlagsDirV2CI == 0
	case unix.EXT4_SUPER_MAGIC, // also ext2 and ext3 (one magic)
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

// xfsGeomV1 is struct xfs_fsop_geom_v1 (include/xfs/xfs_fs.h), which
// XFS_IOC_FSGEOMETRY_V1 fills; its size (108 bytes where a uint64 is
// 4-aligned, 112 elsewhere) is part of the ioctl's number, as in C.
type xfsGeomV1 struct {
	Blocksize, Rtextsize, Agblocks, Agcount   uint32
	Logblocks, Sectsize, Inodesize, Imaxpct   uint32
	Datablocks, Rtblocks, Rtextents, Logstart uint64
	UUID                                      [16]byte
	Sunit, Swidth                             uint32
	Version                                   int32
	Flags                                     uint32
	Logsectsize, Rtsectsize, Dirblocksize     uint32
}

// xfsGeomFlagsDirV2CI is XFS_FSOP_GEOM_FLAGS_DIRV2CI: the file system
// was made with ASCII case-insensitive names (mkfs.xfs -n version=ci).
const xfsGeomFlagsDirV2CI = 1 << 12

// xfsIocFSGeometryV1 is XFS_IOC_FSGEOMETRY_V1, _IOR('X', 100, struct
// xfs_fsop_geom_v1), its direction bits taken from FS_IOC_GETFLAGS
// (_IOR('f', 1, long)), whose encoding differs between architectures.
var xfsIocFSGeometryV1 = func() uintptr {
	const getflags = uintptr(unix.FS_IOC_GETFLAGS)
	read := getflags - unsafe.Sizeof(int(0))<<16 - 'f'<<8 - 1
	return read | unsafe.Sizeof(xfsGeomV1{})<<16 | 'X'<<8 | 100
}()

// xfsGeometryFlags reads the geometry flags of the XFS holding fd.
func xfsGeometryFlags(fd int) (uint32, error) {
	var g xfsGeomV1
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), xfsIocFSGeometryV1, uintptr(unsafe.Pointer(&g))); errno != 0 {
		return 0, errno
	}
	return g.Flags, nil
}
