//go:build linux && (amd64 || arm64)

package queuefile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// statfs(2) f_type values of the file systems whose syncfs(2) is known to
// end with a durable commit of everything it wrote.
const (
	ext4Magic  = 0xef53 // ext2, ext3 and ext4
	xfsMagic   = 0x58465342
	btrfsMagic = 0x9123683e
	tmpfsMagic = 0x01021994 // nothing on it survives a reboot anyway
	ramfsMagic = 0x858458f6
)

// syncfsFlush says whether syncfs(2) on the file system holding the open
// directory d must be followed by a cache flush before what it wrote is
// durable, and describes the file system for diagnostics. sysfs is where
// sysfs is mounted ("/sys"); it is read to find out whether an ext4 file
// system has a journal.
//
// Why: syncfs issues its cache flush from the file system's sync_fs hook,
// and only then writes out the block device's dirty buffers. On XFS and
// btrfs, and on ext4 with a journal, the flush belongs to a log or
// transaction commit that already holds every metadata change, so the
// buffers written afterwards are copies of durable data. On ext4 without a
// journal (and ext2) those buffers are the only copy: inode tables,
// including extents converted from unwritten to written when the data
// write completed (dioread_nolock, the default), reach the disk after the
// flush and may sit in its volatile cache when syncfs returns. A power
// cut then leaves an acknowledged queue file that reads as zeros.
// Unknown file systems get the flush: it is cheap where it is not needed.
func syncfsFlush(d *os.File, sysfs string) (bool, string) {
	var st syscall.Statfs_t
	if err := syscall.Fstatfs(int(d.Fd()), &st); err != nil {
		return true, fmt.Sprintf("file system type unknown (%v)", err)
	}
	switch uint32(st.Type) {
	case xfsMagic:
		return false, "xfs"
	case btrfsMagic:
		return false, "btrfs"
	case tmpfsMagic:
		return false, "tmpfs"
	case ramfsMagic:
		return false, "ramfs"
	case ext4Magic:
		var s syscall.Stat_t
		if err := syscall.Fstat(int(d.Fd()), &s); err != nil {
			return true, "ext4, journal unknown"
		}
		return ext4Flush(sysfs, uint64(s.Dev))
	}
	return true, fmt.Sprintf("file system type %#x", uint32(st.Type))
}

// ext4Flush finds out through sysfs whether the ext4 file system on device
// dev has a journal: /sys/fs/ext4/NAME/journal_task names the journal's
// kernel thread, or "<none>".
func ext4Flush(sysfs string, dev uint64) (bool, string) {
	major, minor := majorMinor(dev)
	link, err := os.Readlink(filepath.Join(sysfs, "dev", "block", fmt.Sprintf("%d:%d", major, minor)))
	if err != nil {
		return true, "ext4, journal unknown"
	}
	task, err := os.ReadFile(filepath.Join(sysfs, "fs", "ext4", filepath.Base(link), "journal_task"))
	if err != nil {
		return true, "ext4, journal unknown"
	}
	if strings.TrimSpace(string(task)) == "<none>" {
		return true, "ext4 without a journal"
	}
	return false, "ext4 with a journal"
}

// majorMinor splits a device number as the kernel encodes it in st_dev.
func majorMinor(dev uint64) (major, minor uint64) {
	return (dev>>8)&0xfff | (dev>>32)&^0xfff, dev&0xff | (dev>>12)&^0xff
}
