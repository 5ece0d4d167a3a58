package maincf

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/qmqpd-go/qmqpd/internal/syserr"
)

// EditFileSuffix is the suffix of the temporary file of the edit protocol.
const EditFileSuffix = ".tmp"

// EditFile is an open edit of a configuration file that follows Postfix's
// protocol, so that our tools and the real postconf never clobber each
// other: the new content is written to PATH.tmp, which is created with mode
// 0600 and exclusively flock()ed, then flushed, given its final mode, fsynced
// and renamed over PATH while the lock is held.
type EditFile struct {
	f         *os.File
	tmp, path string
	mode      os.FileMode
}

// maxEditRetries bounds the retries when the temporary file is replaced
// under us (Postfix retries forever).
const maxEditRetries = 100

// OpenEditFile starts an edit of path. The error text is Postfix's
// "open PATH.tmp: REASON" (or "lock PATH.tmp: REASON").
func OpenEditFile(path string, finalMode os.FileMode) (*EditFile, error) {
	tmp := path + EditFileSuffix
	for try := 0; ; try++ {
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open %s: %s", tmp, syserr.Text(err))
		}
		if err := flockRetry(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %s", tmp, syserr.Text(err))
		}
		before, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("open %s: %s", tmp, syserr.Text(err))
		}
		after, err := os.Stat(tmp)
		if err != nil || !os.SameFile(before, after) {
			f.Close()
			if try >= maxEditRetries {
				return nil, fmt.Errorf("open %s: %s", tmp, "file keeps changing")
			}
			continue
		}
		st, _ := after.Sys().(*syscall.Stat_t)
		if !after.Mode().IsRegular() || (st != nil && st.Nlink > 1) || after.Mode().Perm() != 0o600 {
			// Left over in a strange state (crash, foreign tool): remove
			// it and start over.
			if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
				f.Close()
				return nil, fmt.Errorf("unlink %s: %s", tmp, syserr.Text(err))
			}
			f.Close()
			if try >= maxEditRetries {
				return nil, fmt.Errorf("open %s: %s", tmp, "cannot create a private temporary file")
			}
			continue
		}
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, fmt.Errorf("truncate %s: %s", tmp, syserr.Text(err))
		}
		return &EditFile{f: f, tmp: tmp, path: path, mode: finalMode}, nil
	}
}

func flockRetry(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

// Write writes new content to the temporary file.
func (e *EditFile) Write(p []byte) (int, error) { return e.f.Write(p) }

// Commit gives the temporary file its final mode, fsyncs it and renames it
// over the original, then releases the lock. On failure the temporary file
// is removed and the error is "close PATH.tmp: REASON".
func (e *EditFile) Commit() error {
	err := e.f.Chmod(e.mode)
	if err == nil {
		err = e.f.Sync()
	}
	if err == nil {
		err = os.Rename(e.tmp, e.path)
	}
	if err != nil {
		e.Abort()
		return fmt.Errorf("close %s: %s", e.tmp, syserr.Text(err))
	}
	return e.f.Close()
}

// Abort removes the temporary file (while still holding the lock) and
// closes it; the original file is left alone.
func (e *EditFile) Abort() {
	_ = os.Remove(e.tmp)
	_ = e.f.Close()
}
