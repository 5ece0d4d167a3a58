//go:build linux && (amd64 || arm64)

package queuefile

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// Flags of linkat(2).
const (
	atFDCWD          = -100
	atSymlinkFollow  = 0x400
	atEmptyPath      = 0x1000
	linkHowUnknown   = 0
	linkHowEmptyPath = 1 // linkat(fd, "", ..., AT_EMPTY_PATH)
	linkHowProc      = 2 // linkat(AT_FDCWD, "/proc/self/fd/N", ..., AT_SYMLINK_FOLLOW)
)

// createLinked is Create's fast way: an unnamed file in the queue directory
// (O_TMPFILE, mode 0600), chowned, then linked under its queue ID. ok is
// false when the caller must make the file Postfix's way instead: the file
// system or kernel cannot do it (remembered in q.noLink), or something went
// wrong that the classic way reports in Postfix's words (a symbolic link
// in place of the directory, no space, no permission). Nothing is left
// behind in that case.
//
// It never fails on its own: every problem sends the caller the classic way.
func (q *Queue) createLinked(now time.Time) (*File, bool) {
	dir := filepath.Join(q.Dir, q.name())
	var (
		fd  int
		err error
	)
	for {
		fd, err = syscall.Open(dir, syscall.O_RDWR|syscall.O_CLOEXEC|syscall.O_NOFOLLOW|oTmpfile, uint32(ModeWriting))
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EINVAL) {
			q.noLink.Store(true)
		}
		return nil, false
	}
	h := os.NewFile(uintptr(fd), dir+"/(new queue file)")
	giveUp := func(forGood bool) (*File, bool) {
		_ = h.Close()
		if forGood {
			q.noLink.Store(true)
		}
		return nil, false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return giveUp(false)
	}
	if q.Owner != nil {
		if err := h.Chown(q.Owner.UID, q.Owner.GID); err != nil {
			return giveUp(false)
		}
	}
	inode, dev := uint64(st.Ino), uint64(st.Dev)
	var made []string
	mkdirDone := false
	t := now
	for tries := 0; tries <= maxRenameTries; tries++ {
		if t.IsZero() || tries > 0 {
			t = q.now()
		}
		id := NewID(t, inode, q.LongIDs)
		path := q.Path(q.name(), id)
		for d := filepath.Dir(path); len(d) > len(dir); d = filepath.Dir(d) {
			if refuseSymlink(d) != nil {
				return giveUp(false)
			}
		}
		err := q.link(fd, path)
		switch {
		case err == nil:
			f := &File{ID: id, Path: path, Created: t, Inode: inode, q: q, h: h, newDirParents: made, dev: dev}
			f.lw = &limitWriter{h: h}
			f.w, f.wbufs = q.newWriter(f.lw)
			return f, true
		case errors.Is(err, syscall.EEXIST):
			// A file of that name exists (restored from elsewhere): unlike
			// rename(2), linkat(2) never replaces it. Try the next
			// microsecond.
			continue
		case errors.Is(err, syscall.ENOENT) && q.Hashed && !mkdirDone && path != filepath.Join(dir, id):
			mkdirDone = true
			for d := filepath.Dir(path); d != dir && len(d) > len(dir); d = filepath.Dir(d) {
				made = append(made, filepath.Dir(d))
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return giveUp(false)
			}
			if q.Owner != nil {
				for d := filepath.Dir(path); d != dir && len(d) > len(dir); d = filepath.Dir(d) {
					_ = os.Lchown(d, q.Owner.UID, q.Owner.GID)
				}
			}
			tries-- // the same name again, now that its directory exists
		case errors.Is(err, errNoLink):
			return giveUp(true)
		default:
			return giveUp(false)
		}
	}
	return giveUp(false)
}

// errNoLink means no way of linking an unnamed file works here.
var errNoLink = errors.New("cannot link an O_TMPFILE file")

// link gives the unnamed file fd the name path. It tries linkat(2) with
// AT_EMPTY_PATH (root, or Linux 6.10 and later for the file's opener) and
// then through /proc/self/fd (no privileges, but /proc must be mounted,
// which it is not inside a chroot), and remembers which works.
func (q *Queue) link(fd int, path string) error {
	how := q.linkHow.Load()
	if how == linkHowUnknown || how == linkHowEmptyPath {
		err := linkat(fd, "", atFDCWD, path, atEmptyPath)
		if err == nil {
			q.linkHow.Store(linkHowEmptyPath)
			return nil
		}
		if how == linkHowEmptyPath || !(errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EINVAL)) {
			return err
		}
		if _, serr := os.Lstat(filepath.Dir(path)); serr != nil {
			return err // the target directory is missing: not the method's fault
		}
	}
	err := linkat(atFDCWD, "/proc/self/fd/"+strconv.Itoa(fd), atFDCWD, path, atSymlinkFollow)
	if err == nil {
		q.linkHow.Store(linkHowProc)
		return nil
	}
	if how == linkHowProc {
		return err
	}
	if errors.Is(err, syscall.ENOENT) {
		if _, serr := os.Lstat(filepath.Dir(path)); serr != nil {
			return err
		}
	}
	if errors.Is(err, syscall.EEXIST) {
		return err
	}
	return errNoLink
}

func linkat(olddirfd int, oldpath string, newdirfd int, newpath string, flags int) error {
	op, err := syscall.BytePtrFromString(oldpath)
	if err != nil {
		return err
	}
	np, err := syscall.BytePtrFromString(newpath)
	if err != nil {
		return err
	}
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_LINKAT, uintptr(olddirfd), uintptr(unsafe.Pointer(op)),
			uintptr(newdirfd), uintptr(unsafe.Pointer(np)), uintptr(flags), 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}
