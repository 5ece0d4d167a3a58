//go:build linux && (amd64 || arm64)

package queuefile

import (
	"os"
	"syscall"
)

const syncfsSupported = true

// Flags of sync_file_range(2).
const (
	syncFileRangeWaitBefore = 1
	syncFileRangeWrite      = 2
	syncFileRangeWaitAfter  = 4
)

// syncfs calls syncfs(2) on the file system holding f. Since Linux 5.8 it
// also reports write-back errors anywhere on that file system since the
// last call on f.
func syncfs(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			_, _, e := syscall.Syscall(sysSyncfs, fd, 0, 0)
			if e == syscall.EINTR {
				continue
			}
			if e != 0 {
				serr = e
			}
			return
		}
	}); err != nil {
		return err
	}
	return serr
}

// waitWriteback writes out any dirty pages of f, waits for them, and returns
// the write-back error recorded for f since it was opened (sync_file_range
// reports it through the file's error sequence), without a journal commit
// or a cache flush. ok is false when the call is not available.
func waitWriteback(f *os.File) (ok bool, err error) {
	rc, cerr := f.SyscallConn()
	if cerr != nil {
		return false, nil
	}
	var e syscall.Errno
	if cerr := rc.Control(func(fd uintptr) {
		for {
			_, _, e = syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, fd, 0, 0,
				syncFileRangeWaitBefore|syncFileRangeWrite|syncFileRangeWaitAfter, 0, 0)
			if e != syscall.EINTR {
				return
			}
		}
	}); cerr != nil {
		return false, nil
	}
	switch e {
	case 0:
		return true, nil
	case syscall.ENOSYS, syscall.EINVAL, syscall.ESPIPE:
		return false, nil
	}
	return true, &os.PathError{Op: "sync_file_range", Path: f.Name(), Err: e}
}

// openTmpfile opens an unnamed regular file in dir with O_TMPFILE.
func openTmpfile(dir string) (*os.File, error) {
	fd, err := syscall.Open(dir, syscall.O_RDWR|syscall.O_CLOEXEC|oTmpfile, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir+"/(spool)"), nil
}
