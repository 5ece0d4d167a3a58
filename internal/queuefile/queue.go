package queuefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Owner is the uid and gid queue files are given (mail_owner).
type Owner struct {
	UID, GID int
}

// Handle is an open queue file, as the lifecycle needs it. *os.File
// implements it; tests substitute failing ones.
type Handle interface {
	io.Writer
	io.WriterAt
	Chmod(mode fs.FileMode) error
	Chown(uid, gid int) error
	Sync() error
	Stat() (fs.FileInfo, error)
	Close() error
}

// FS is the file system operations the lifecycle uses. OSFS is the real one.
type FS interface {
	// Create makes a new file exclusively (O_RDWR|O_CREAT|O_EXCL).
	Create(name string, perm fs.FileMode) (Handle, error)
	Rename(oldname, newname string) error
	Remove(name string) error
	MkdirAll(path string, perm fs.FileMode) error
}

// OSFS is FS on the operating system's file system.
type OSFS struct{}

// Create opens name with O_RDWR|O_CREAT|O_EXCL. It opens the file with one
// system call and wraps the descriptor, instead of os.OpenFile, which
// spends four fcntl calls and a failing epoll registration on every
// regular file (queue files are written with blocking I/O anyway).
func (OSFS) Create(name string, perm fs.FileMode) (Handle, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, uint32(perm.Perm()))
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// Rename renames a file with rename(2) alone (os.Rename first stats the new
// name, one more system call per message).
func (OSFS) Rename(oldname, newname string) error {
	if err := syscall.Rename(oldname, newname); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return nil
}

// Remove removes a file.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// MkdirAll creates a directory and its parents.
func (OSFS) MkdirAll(path string, perm fs.FileMode) error { return os.MkdirAll(path, perm) }

// Queue describes where and how queue files are made.
type Queue struct {
	Dir       string // queue_directory
	LongIDs   bool   // enable_long_queue_ids
	HashDepth int    // hash_queue_depth
	Hashed    bool   // the queue (incoming) is listed in hash_queue_names
	Owner     *Owner // uid/gid to give new files (nil = leave as created)

	// Name is the queue directory files are created in ("" = "incoming").
	Name string
	// FS performs the file operations (nil = OSFS).
	FS FS
	// Now is the clock (nil = time.Now).
	Now func() time.Time
	// PID goes into temporary file names (0 = os.Getpid()).
	PID int
	// Syncer, when set, makes committed files durable in batches shared
	// with concurrent commits (see Syncer). nil = each Commit fsyncs its
	// own file, as Postfix's cleanup does.
	Syncer *Syncer

	// noLink is set once creating a file with O_TMPFILE and linking it
	// under its queue ID failed for a reason other than a name clash: the
	// queue then always takes the temporary name and rename(2) way.
	noLink atomic.Bool
	// linkHow remembers which linkat(2) form works (see link).
	linkHow atomic.Int32
	// writerBufs keeps the record buffers of finished files
	// (*writerBuffers) for the next ones.
	writerBufs sync.Pool
}

// writerBuffers are a record Writer's buffers, kept between files.
type writerBuffers struct{ buf, fmt []byte }

// errFileDone is the sticky error of a File's Writer once the file was
// committed or aborted (its buffers went back to the Queue).
var errFileDone = errors.New("queue file already committed or aborted")

// newWriter returns a record Writer on dst with buffers of an earlier file
// when there are some.
func (q *Queue) newWriter(dst io.Writer) (*Writer, *writerBuffers) {
	b, ok := q.writerBufs.Get().(*writerBuffers)
	if !ok {
		return NewWriter(dst), &writerBuffers{}
	}
	return &Writer{dst: dst, buf: b.buf[:0], fmt: b.fmt[:0]}, b
}

// releaseWriter takes the buffers back from f's Writer, which fails from
// now on, and keeps them for another file.
func (f *File) releaseWriter() {
	b := f.wbufs
	if b == nil {
		return
	}
	f.wbufs = nil
	b.buf, b.fmt = f.w.buf[:0], f.w.fmt[:0]
	f.w.buf, f.w.fmt, f.w.dst, f.w.err = nil, nil, nil, errFileDone
	f.q.writerBufs.Put(b)
}

// Modes of a queue file while it is written and once it is ready. qmgr
// ignores files whose owner permissions are not all set.
const (
	ModeWriting fs.FileMode = 0o600
	ModeReady   fs.FileMode = 0o700
)

// maxRenameTries bounds the rename loop as Postfix does.
const maxRenameTries = 1000

func (q *Queue) fs() FS {
	if q.FS != nil {
		return q.FS
	}
	return OSFS{}
}

func (q *Queue) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

func (q *Queue) name() string {
	if q.Name != "" {
		return q.Name
	}
	return QueueIncoming
}

// Path returns the full path of queue file id in queue name.
func (q *Queue) Path(name, id string) string {
	return filepath.Join(q.Dir, QueuePath(name, id, q.Hashed && name == q.name(), q.HashDepth))
}

// File is one queue file being written. It is created mode 0600 under its
// final name (the queue ID) and becomes ready (0700) only in Commit.
type File struct {
	ID      string    // queue ID
	Path    string    // full path
	Created time.Time // the time the ID was made from (Message-Id uses it)
	Inode   uint64

	q     *Queue
	h     Handle
	lw    *limitWriter
	w     *Writer
	state int
	// newDirParents are the parents of hash directories Create made; their
	// entries must be durable too.
	newDirParents []string
	// dev is the device of the file system holding the file.
	dev uint64
	// wbufs holds w's buffers for the Queue to reuse (nil once released).
	wbufs *writerBuffers
}

const (
	stateOpen = iota
	stateDone
)

// Create makes a new queue file under its queue ID (made from now, or from
// the clock when now is zero) in the queue's directory, creating hashed
// subdirectories as needed. The file is mode 0600 and chowned to q.Owner.
//
// Postfix creates "<usec>.<pid>", reads its inode number and renames it to
// the queue ID. On the operating system's file system (FS nil) Create
// first tries a cheaper way to the same result: an unnamed file
// (O_TMPFILE), whose inode number gives the ID, linked under that name
// (one directory update instead of three). Where that is not possible
// (file system, kernel, privileges, no /proc inside a chroot) it falls
// back to Postfix's way for good.
func (q *Queue) Create(now time.Time) (*File, error) {
	if q.FS == nil && !q.noLink.Load() {
		if f, ok := q.createLinked(now); ok {
			return f, nil
		}
	}
	fsys := q.fs()
	dir := filepath.Join(q.Dir, q.name())
	pid := q.PID
	if pid == 0 {
		pid = os.Getpid()
	}
	var (
		h    Handle
		temp string
		err  error
	)
	if err := refuseSymlink(dir); err != nil {
		return nil, fmt.Errorf("mail_queue_enter: create file %s: %w", filepath.Join(dir, "..."), err)
	}
	for tries := 0; ; tries++ {
		temp = filepath.Join(dir, strconv.Itoa(q.now().Nanosecond()/1000)+"."+strconv.Itoa(pid))
		h, err = fsys.Create(temp, ModeWriting)
		if err == nil {
			break
		}
		if (errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.EISDIR)) && tries < maxRenameTries {
			continue
		}
		return nil, fmt.Errorf("mail_queue_enter: create file %s: %w", temp, err)
	}
	fail := func(err error) (*File, error) {
		_ = h.Close()
		_ = fsys.Remove(temp)
		return nil, err
	}
	fi, err := h.Stat()
	if err != nil {
		return fail(fmt.Errorf("fstat %s: %w", temp, err))
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fail(fmt.Errorf("fstat %s: no inode number", temp))
	}
	inode := uint64(st.Ino)
	dev := uint64(st.Dev)
	if q.Owner != nil {
		if err := h.Chown(q.Owner.UID, q.Owner.GID); err != nil {
			return fail(fmt.Errorf("fchown %s: %w", temp, err))
		}
	}
	t := now
	var made []string
	for tries := 0; ; tries++ {
		if t.IsZero() || tries > 0 {
			t = q.now()
		}
		id := NewID(t, inode, q.LongIDs)
		path := q.Path(q.name(), id)
		for d := filepath.Dir(path); len(d) > len(dir); d = filepath.Dir(d) {
			if err := refuseSymlink(d); err != nil {
				return fail(fmt.Errorf("mail_queue_enter: rename %s to %s: %w", temp, path, err))
			}
		}
		err = fsys.Rename(temp, path)
		if err == nil {
			f := &File{ID: id, Path: path, Created: t, Inode: inode, q: q, h: h, newDirParents: made, dev: dev}
			f.lw = &limitWriter{h: h}
			f.w, f.wbufs = q.newWriter(f.lw)
			return f, nil
		}
		if tries >= maxRenameTries {
			return fail(fmt.Errorf("mail_queue_enter: rename %s to %s: giving up", temp, path))
		}
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EISDIR) {
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fail(fmt.Errorf("mail_queue_enter: rename %s to %s: %w", temp, path, err))
		}
		for d := filepath.Dir(path); d != dir && len(d) > len(dir); d = filepath.Dir(d) {
			made = append(made, filepath.Dir(d))
		}
		if err := fsys.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fail(fmt.Errorf("mail_queue_enter: rename %s to %s: %w", temp, path, err))
		}
		if q.Owner != nil {
			// New hash directories belong to mail_owner like the queue.
			for d := filepath.Dir(path); d != dir && len(d) > len(dir); d = filepath.Dir(d) {
				_ = os.Lchown(d, q.Owner.UID, q.Owner.GID)
			}
		}
	}
}

// Writer returns the record writer for the file's content, starting at
// offset 0.
func (f *File) Writer() *Writer { return f.w }

// SetLimit makes writes that would grow the file beyond n bytes fail with an
// error wrapping syscall.EFBIG, as Postfix's file size resource limit does
// (n <= 0 = no limit). A file of exactly n bytes is fine.
func (f *File) SetLimit(n int64) { f.lw.limit = n }

// WriteAt writes p at offset off; it is meant for patching the size record
// in place. Bytes still in the record writer's buffer are patched there (no
// system call); otherwise the writer is flushed first.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if f.state != stateOpen {
		return 0, fmt.Errorf("%s: write after close", f.ID)
	}
	if f.w.patchBuffered(p, off) {
		return len(p), nil
	}
	if err := f.w.Flush(); err != nil {
		return 0, err
	}
	if f.lw.limit > 0 && off+int64(len(p)) > f.lw.limit && off+int64(len(p)) > f.lw.size {
		return 0, fmt.Errorf("%s: %w", f.ID, syscall.EFBIG)
	}
	return f.h.WriteAt(p, off)
}

// PatchSize rewrites the payload of the size record at offset 0.
func (f *File) PatchSize(s Size) error {
	_, err := f.WriteAt(s.Payload(), 2)
	return err
}

// Commit makes the file durable and ready: flush, chmod 0700, fsync (or a
// batched sync through q.Syncer), close. Only when it returns nil is the
// message queued; on any error the file has been removed. The error wraps
// the system error (syscall.EFBIG for a file too large).
func (f *File) Commit() error {
	if f.state != stateOpen {
		return fmt.Errorf("%s: commit after close", f.ID)
	}
	f.state = stateDone
	defer f.releaseWriter()
	step, err := "write", f.w.Flush()
	if err == nil {
		step, err = "fchmod", f.h.Chmod(ModeReady)
	}
	if err == nil {
		if s := f.q.Syncer; s != nil {
			step, err = "sync", s.commit(f)
		} else {
			step, err = "fsync", f.h.Sync()
		}
	}
	if err != nil {
		_ = f.h.Close()
		_ = f.q.fs().Remove(f.Path)
		return fmt.Errorf("%s: %s %s: %w", f.ID, step, f.Path, err)
	}
	if err := f.h.Close(); err != nil {
		_ = f.q.fs().Remove(f.Path)
		return fmt.Errorf("%s: close %s: %w", f.ID, f.Path, err)
	}
	return nil
}

// Abort closes and removes the file. It is a no-op after Commit or Abort.
func (f *File) Abort() error {
	if f.state != stateOpen {
		return nil
	}
	f.state = stateDone
	f.releaseWriter()
	cerr := f.h.Close()
	if err := f.q.fs().Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: remove %s: %w", f.ID, f.Path, err)
	}
	if cerr != nil {
		return fmt.Errorf("%s: close %s: %w", f.ID, f.Path, cerr)
	}
	return nil
}

// limitWriter counts the file size and enforces the size limit.
type limitWriter struct {
	h     Handle
	limit int64
	size  int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.limit > 0 && l.size+int64(len(p)) > l.limit {
		room := l.limit - l.size
		if room < 0 {
			room = 0
		}
		n, err := l.h.Write(p[:room])
		l.size += int64(n)
		if err != nil {
			return n, err
		}
		return n, &os.PathError{Op: "write", Path: "queue file", Err: syscall.EFBIG}
	}
	n, err := l.h.Write(p)
	l.size += int64(n)
	return n, err
}

// refuseSymlink fails with ELOOP when dir is a symbolic link: a link planted
// in place of a queue directory must not carry queue files out of the queue
// (Postfix relies on directory permissions alone). A missing directory is
// left for the caller to report.
func refuseSymlink(dir string) error {
	fi, err := os.Lstat(dir)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return &os.PathError{Op: "lstat", Path: dir, Err: syscall.ELOOP}
	}
	return nil
}
