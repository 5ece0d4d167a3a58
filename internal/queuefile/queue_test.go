package queuefile

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestIDs(t *testing.T) {
	tm := time.Unix(1795531582, 393392*1000)
	if got := LongID(tm, 10003486); got != "4jYlxV2nTDz1SP0m" {
		t.Errorf("LongID = %q", got)
	}
	if got := ShortID(time.Unix(1795530772, 0x93E56*1000), 0x98A2F3); got != "93E5698A2F3" {
		t.Errorf("ShortID = %q", got)
	}
	if got := ShortID(time.Unix(0, 5000), 0xabc); got != "00005ABC" {
		t.Errorf("ShortID pads usec: %q", got)
	}
	if got := LongID(time.Unix(3, 0), 0); got != "0000030000z0" {
		t.Errorf("LongID pads: %q", got)
	}
	for id, want := range map[string]uint64{"93E5698A2F3": 0x98A2F3, "4jYlxV2nTDz1SP0m": 10003486, "D4417B80CE": 0xB80CE} {
		if got, ok := IDInode(id); !ok || got != want {
			t.Errorf("IDInode(%q) = %d, %v; want %d", id, got, ok, want)
		}
	}
	for id, want := range map[string]bool{"93E5698A2F3": true, "a_b": true, "": false, "a.b": false, "a/b": false, strings.Repeat("A", 255): true, strings.Repeat("A", 256): false} {
		if ValidID(id) != want {
			t.Errorf("ValidID(%q) != %v", id, want)
		}
	}
}

func TestHashDir(t *testing.T) {
	for _, tc := range []struct {
		id    string
		depth int
		want  string
	}{
		{"93E5698A2F3", 1, "9/"},
		{"93E5698A2F3", 2, "9/3/"},
		{"4jYlxV2nTDz1SP0m", 2, "6/0/"},
		{"AB", 3, "A/B/_/"},
	} {
		if got := HashDir(tc.id, tc.depth); got != tc.want {
			t.Errorf("HashDir(%q, %d) = %q, want %q", tc.id, tc.depth, got, tc.want)
		}
	}
	if got := QueuePath("deferred", "93E5698A2F3", true, 1); got != "deferred/9/93E5698A2F3" {
		t.Errorf("QueuePath = %q", got)
	}
	if !HashedQueue("deferred, defer", "Deferred") || HashedQueue("deferred, defer", "incoming") {
		t.Error("HashedQueue")
	}
}

func newQueue(t *testing.T) *Queue {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "incoming"), 0o700); err != nil {
		t.Fatal(err)
	}
	return &Queue{Dir: dir}
}

func inodeOf(t *testing.T, path string) uint64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func onlyEntries(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestLifecycle(t *testing.T) {
	for _, long := range []bool{false, true} {
		q := newQueue(t)
		q.LongIDs = long
		now := time.Unix(1795530772, 599664000)
		f, err := q.Create(now)
		if err != nil {
			t.Fatal(err)
		}
		if f.Path != filepath.Join(q.Dir, "incoming", f.ID) {
			t.Errorf("path %q", f.Path)
		}
		if got := inodeOf(t, f.Path); got != f.Inode {
			t.Errorf("inode %d, file has %d", f.Inode, got)
		}
		if want := NewID(now, f.Inode, long); f.ID != want {
			t.Errorf("ID %q, want %q", f.ID, want)
		}
		if inum, ok := IDInode(f.ID); !ok || inum != f.Inode {
			t.Errorf("ID %q carries inode %d, file has %d", f.ID, inum, f.Inode)
		}
		if fi, _ := os.Stat(f.Path); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode while writing %v", fi.Mode())
		}
		if got := onlyEntries(t, q.Dir); len(got) != 1 {
			t.Errorf("files during write: %v", got)
		}
		w := f.Writer()
		_ = w.Record(RecSize, Size{}.Payload())
		_ = w.Recordf(RecTime, "%d %d", now.Unix(), now.Nanosecond()/1000)
		_ = w.Record(RecMesg, nil)
		data := w.Offset()
		_ = w.RecordString(RecNorm, "Subject: x")
		xtra := w.Offset()
		_ = w.Record(RecXtra, nil)
		_ = w.Record(RecEnd, nil)
		if err := f.PatchSize(Size{ContentSize: xtra - data, DataOffset: data, ContentLength: xtra - data}); err != nil {
			t.Fatal(err)
		}
		if err := f.Commit(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("mode after commit %v", fi.Mode())
		}
		got, _ := os.ReadFile(f.Path)
		recs := readAll(t, got)
		s, _ := ParseSize(recs[0].Data)
		if s.DataOffset != 97+2+int64(len(recs[1].Data))+2 || s.ContentSize != 12 || recs[len(recs)-1].Type != RecEnd {
			t.Errorf("size record %+v", s)
		}
		if err := f.Abort(); err != nil {
			t.Errorf("Abort after Commit: %v", err)
		}
		if _, err := os.Stat(f.Path); err != nil {
			t.Errorf("Abort after Commit removed the file: %v", err)
		}
	}
}

func TestHashedCreate(t *testing.T) {
	q := newQueue(t)
	q.Hashed, q.HashDepth = true, 2
	f, err := q.Create(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(q.Dir, "incoming", HashDir(f.ID, 2), f.ID)
	if f.Path != want {
		t.Errorf("path %q, want %q", f.Path, want)
	}
	if fi, err := os.Stat(filepath.Dir(f.Path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("hash dir: %v %v", fi, err)
	}
	if err := f.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := onlyEntries(t, q.Dir); len(got) != 0 {
		t.Errorf("files after abort: %v", got)
	}
}

// faultFS injects failures into an otherwise real file system.
type faultFS struct {
	OSFS
	failWrite, failSync, failChmod, failClose, failRename bool
}

type faultHandle struct {
	*os.File
	fs *faultFS
}

var errInjected = errors.New("injected failure")

func (f *faultFS) Create(name string, perm fs.FileMode) (Handle, error) {
	h, err := f.OSFS.Create(name, perm)
	if err != nil {
		return nil, err
	}
	return &faultHandle{File: h.(*os.File), fs: f}, nil
}

func (f *faultFS) Rename(o, n string) error {
	if f.failRename {
		return &os.LinkError{Op: "rename", Old: o, New: n, Err: syscall.EACCES}
	}
	return f.OSFS.Rename(o, n)
}

func (h *faultHandle) Write(p []byte) (int, error) {
	if h.fs.failWrite {
		return 0, &os.PathError{Op: "write", Path: h.Name(), Err: syscall.ENOSPC}
	}
	return h.File.Write(p)
}

func (h *faultHandle) Sync() error {
	if h.fs.failSync {
		return &os.PathError{Op: "sync", Path: h.Name(), Err: syscall.EIO}
	}
	return h.File.Sync()
}

func (h *faultHandle) Chmod(m fs.FileMode) error {
	if h.fs.failChmod {
		return errInjected
	}
	return h.File.Chmod(m)
}

func (h *faultHandle) Close() error {
	err := h.File.Close()
	if h.fs.failClose {
		return errInjected
	}
	return err
}

func TestCommitFailuresRemoveFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		ffs  faultFS
		want error
	}{
		{"write", faultFS{failWrite: true}, syscall.ENOSPC},
		{"fsync", faultFS{failSync: true}, syscall.EIO},
		{"fchmod", faultFS{failChmod: true}, errInjected},
		{"close", faultFS{failClose: true}, errInjected},
	} {
		q := newQueue(t)
		ffs := tc.ffs
		q.FS = &ffs
		f, err := q.Create(time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		_ = f.Writer().RecordString(RecNorm, "hello")
		err = f.Commit()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Commit error %v, want %v", tc.name, err, tc.want)
		}
		if got := onlyEntries(t, q.Dir); len(got) != 0 {
			t.Errorf("%s: files left after failed commit: %v", tc.name, got)
		}
	}
}

func TestCreateFailureRemovesTemp(t *testing.T) {
	q := newQueue(t)
	q.FS = &faultFS{failRename: true}
	if _, err := q.Create(time.Time{}); err == nil || !strings.Contains(err.Error(), "mail_queue_enter: rename ") {
		t.Fatalf("Create error %v", err)
	}
	if got := onlyEntries(t, q.Dir); len(got) != 0 {
		t.Errorf("files left: %v", got)
	}
	q = &Queue{Dir: filepath.Join(t.TempDir(), "missing")}
	if _, err := q.Create(time.Time{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Create in missing dir: %v", err)
	}
}

func TestSizeLimit(t *testing.T) {
	q := newQueue(t)
	f, err := q.Create(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	f.SetLimit(10)
	_ = f.Writer().Record(RecNorm, []byte("12345678")) // exactly 10 bytes
	if err := f.Writer().Flush(); err != nil {
		t.Fatalf("file of exactly the limit: %v", err)
	}
	_ = f.Writer().Record(RecEnd, nil)
	err = f.Commit()
	if !errors.Is(err, syscall.EFBIG) {
		t.Errorf("Commit beyond limit: %v", err)
	}
	if got := onlyEntries(t, q.Dir); len(got) != 0 {
		t.Errorf("files left: %v", got)
	}
}

func TestWakeQmgr(t *testing.T) {
	dir := t.TempDir()
	if err := WakeQmgr(dir); err == nil || err.Error() != "unable to look up public/qmgr: No such file or directory" {
		t.Errorf("missing: %v", err)
	}
	pub := filepath.Join(dir, "public")
	_ = os.Mkdir(pub, 0o755)
	path := filepath.Join(pub, "qmgr")

	// A regular file is neither.
	_ = os.WriteFile(path, nil, 0o600)
	if err := WakeQmgr(dir); err == nil || err.Error() != "public/qmgr is not a socket or a fifo" {
		t.Errorf("regular file: %v", err)
	}
	_ = os.Remove(path)

	// A FIFO without a reader fails at once instead of blocking.
	if err := syscall.Mkfifo(path, 0o622); err != nil {
		t.Fatal(err)
	}
	if err := WakeQmgr(dir); err == nil || !strings.Contains(err.Error(), "No such device or address") {
		t.Errorf("fifo without reader: %v", err)
	}
	rfd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(rfd)
	if err := WakeQmgr(dir); err != nil {
		t.Errorf("fifo: %v", err)
	}
	buf := make([]byte, 8)
	if n, _ := syscall.Read(rfd, buf); n != 1 || buf[0] != 'W' {
		t.Errorf("fifo got %q", buf[:n])
	}
	_ = os.Remove(path)

	// A UNIX-domain socket.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := WakeQmgr(dir); err != nil {
		t.Errorf("socket: %v", err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != "W" {
		t.Errorf("socket got %q", got)
	}
}

// TestCreateRefusesSymlinkedQueueDir: incoming/ (or a hash directory)
// replaced by a symbolic link is refused, nothing is written through it.
func TestCreateRefusesSymlinkedQueueDir(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "incoming")); err != nil {
		t.Fatal(err)
	}
	q := &Queue{Dir: dir}
	if _, err := q.Create(time.Time{}); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("Create through a symlinked incoming: %v", err)
	}
	if got := onlyEntries(t, outside); len(got) != 0 {
		t.Errorf("files written through the link: %v", got)
	}

	q = newQueue(t)
	q.Hashed, q.HashDepth = true, 1
	f, err := q.Create(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	hashDir := filepath.Dir(f.Path)
	_ = f.Abort()
	if err := os.Remove(hashDir); err != nil {
		t.Fatal(err)
	}
	for _, c := range "0123456789ABCDEF" {
		_ = os.Symlink(outside, filepath.Join(q.Dir, "incoming", string(c)))
	}
	if _, err := q.Create(time.Time{}); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("Create through a symlinked hash directory: %v", err)
	}
	if got := onlyEntries(t, outside); len(got) != 0 {
		t.Errorf("files written through the hash link: %v", got)
	}
}

// TestWriterBuffersReused: files made one after another share record
// buffers, and a Writer kept past Commit or Abort fails instead of writing
// into buffers a later file now uses.
func TestWriterBuffersReused(t *testing.T) {
	q := newQueue(t)
	var old *Writer
	for i := range 4 {
		f, err := q.Create(time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		w := f.Writer()
		payload := strings.Repeat(string(rune('a'+i)), 5000+i)
		_ = w.RecordString(RecNorm, payload)
		_ = w.Recordf(RecTime, "%d", i)
		if old != nil {
			if err := old.RecordString(RecNorm, "stale"); !errors.Is(err, errFileDone) {
				t.Errorf("writer of a finished file: %v", err)
			}
		}
		old = w
		if i == 2 {
			if err := f.Abort(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := f.Commit(); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(f.Path)
		recs := readAll(t, b)
		if len(recs) != 2 || string(recs[0].Data) != payload || string(recs[1].Data) != strconv.Itoa(i) {
			t.Errorf("file %d: %d records", i, len(recs))
		}
	}
}
