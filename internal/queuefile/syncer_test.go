package queuefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// orderFS stamps every file's chmod (the moment it becomes ready, after
// its last write) with a logical clock shared with the fake batch sync.
type orderFS struct {
	OSFS
	clock   *atomic.Int64
	mu      sync.Mutex
	ready   map[string]int64 // path -> clock at chmod
	fsync   map[string]int64 // path -> clock when its own fsync returned
	wbErr   map[string]bool  // paths whose write-back check fails
	renamed map[string]string
}

type orderHandle struct {
	*os.File
	fs *orderFS
}

func (o *orderFS) Create(name string, perm fs.FileMode) (Handle, error) {
	h, err := o.OSFS.Create(name, perm)
	if err != nil {
		return nil, err
	}
	return &orderHandle{File: h.(*os.File), fs: o}, nil
}

// Rename remembers the new name of a handle's file.
func (o *orderFS) Rename(old, new string) error {
	if err := o.OSFS.Rename(old, new); err != nil {
		return err
	}
	o.mu.Lock()
	o.renamed[old] = new
	o.mu.Unlock()
	return nil
}

func (h *orderHandle) Chmod(m fs.FileMode) error {
	if err := h.File.Chmod(m); err != nil {
		return err
	}
	h.fs.mu.Lock()
	h.fs.ready[h.path()] = h.fs.clock.Add(1)
	h.fs.mu.Unlock()
	return nil
}

func (h *orderHandle) Sync() error {
	err := h.File.Sync()
	h.fs.mu.Lock()
	h.fs.fsync[h.path()] = h.fs.clock.Add(1)
	h.fs.mu.Unlock()
	return err
}

// path is the file's current name (Create renamed it to the queue ID).
func (h *orderHandle) path() string {
	if p, ok := h.fs.renamed[h.Name()]; ok {
		return p
	}
	return h.Name()
}

func (h *orderHandle) CheckWriteback() error {
	h.fs.mu.Lock()
	bad := h.fs.wbErr[h.path()]
	h.fs.mu.Unlock()
	if bad {
		return &os.PathError{Op: "sync_file_range", Path: h.Name(), Err: syscall.EIO}
	}
	return nil
}

type batchRec struct{ start, end int64 }

// recorder is a fake batch sync that notes when each batch started and
// ended on the shared clock.
type recorder struct {
	clock    *atomic.Int64
	mu       sync.Mutex
	batches  []batchRec
	dirs     map[string]int64 // directory -> clock of its last sync
	fail     func(n int) bool // fail the n-th batch (0-based)
	flushes  []batchRec       // when each flush after a sync ran
	flushErr error            // what every flush returns
}

// flush is a fake cache flush following the batch sync.
func (r *recorder) flush() error {
	start := r.clock.Add(1)
	time.Sleep(time.Millisecond)
	end := r.clock.Add(1)
	r.mu.Lock()
	r.flushes = append(r.flushes, batchRec{start, end})
	r.mu.Unlock()
	return r.flushErr
}

func (r *recorder) sync() error {
	start := r.clock.Add(1)
	time.Sleep(2 * time.Millisecond) // a sync takes time; committers pile up
	end := r.clock.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.batches)
	r.batches = append(r.batches, batchRec{start, end})
	if r.fail != nil && r.fail(n) {
		return syscall.EIO
	}
	return nil
}

func (r *recorder) syncDir(path string) error {
	c := r.clock.Add(1)
	r.mu.Lock()
	r.dirs[path] = c
	r.mu.Unlock()
	return nil
}

func newOrderQueue(t *testing.T, mode SyncMode) (*Queue, *orderFS, *recorder) {
	t.Helper()
	q := newQueue(t)
	clock := new(atomic.Int64)
	ofs := &orderFS{clock: clock, ready: map[string]int64{}, fsync: map[string]int64{}, wbErr: map[string]bool{}, renamed: map[string]string{}}
	rec := &recorder{clock: clock, dirs: map[string]int64{}}
	s := &Syncer{mode: mode, syncFS: rec.sync, syncDir: rec.syncDir, dev: devOf(t, q.Dir)}
	q.FS, q.Syncer = ofs, s
	return q, ofs, rec
}

type commitResult struct {
	path     string
	err      error
	returned int64
}

// commitMany commits n files from n goroutines at once.
func commitMany(t *testing.T, q *Queue, n int, clock *atomic.Int64) []commitResult {
	t.Helper()
	res := make([]commitResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := q.Create(time.Time{})
			if err != nil {
				res[i].err = err
				return
			}
			res[i].path = f.Path
			_ = f.Writer().RecordString(RecNorm, "line")
			res[i].err = f.Commit()
			res[i].returned = clock.Add(1)
		}()
	}
	wg.Wait()
	return res
}

// TestGroupCommitDurability checks the Syncer guarantee under concurrency:
// every successful Commit returned after a whole sync that began after the
// file became ready; and far fewer syncs than files were needed.
func TestGroupCommitDurability(t *testing.T) {
	q, ofs, rec := newOrderQueue(t, SyncFS)
	const n = 64
	res := commitMany(t, q, n, ofs.clock)
	for _, r := range res {
		if r.err != nil {
			t.Fatalf("commit %s: %v", r.path, r.err)
		}
		ready := ofs.ready[r.path]
		if ready == 0 {
			t.Fatalf("%s: never chmodded", r.path)
		}
		covered := false
		for _, b := range rec.batches {
			if b.start > ready && b.end < r.returned {
				covered = true
				break
			}
		}
		if !covered {
			t.Errorf("%s ready at %d, Commit returned at %d, no sync in between (batches %v)", r.path, ready, r.returned, rec.batches)
		}
		if fi, err := os.Stat(r.path); err != nil || fi.Mode().Perm() != ModeReady {
			t.Errorf("%s after commit: %v %v", r.path, fi, err)
		}
	}
	st := q.Syncer.Stats()
	if st.Files != n || st.Batches != int64(len(rec.batches)) {
		t.Errorf("stats %+v, %d batches recorded", st, len(rec.batches))
	}
	if st.Batches >= n {
		t.Errorf("%d syncs for %d concurrent commits: no batching", st.Batches, n)
	}
}

// TestGroupCommitFlush: where syncfs needs a cache flush after it, every
// successful Commit returned after a flush that began after the end of a
// sync that began after the file became ready.
func TestGroupCommitFlush(t *testing.T) {
	q, ofs, rec := newOrderQueue(t, SyncFS)
	q.Syncer.flush = rec.flush
	res := commitMany(t, q, 48, ofs.clock)
	if len(rec.flushes) != len(rec.batches) {
		t.Fatalf("%d syncs, %d flushes", len(rec.batches), len(rec.flushes))
	}
	for _, r := range res {
		if r.err != nil {
			t.Fatalf("commit %s: %v", r.path, r.err)
		}
		ready := ofs.ready[r.path]
		covered := false
		for i, b := range rec.batches {
			if f := rec.flushes[i]; b.start > ready && f.start > b.end && f.end < r.returned {
				covered = true
				break
			}
		}
		if !covered {
			t.Errorf("%s ready at %d, Commit returned at %d: no sync and flush in between (syncs %v, flushes %v)",
				r.path, ready, r.returned, rec.batches, rec.flushes)
		}
	}
}

// TestGroupCommitFlushFailure: a failed flush fails the batch as a failed
// sync does; nothing is left queued.
func TestGroupCommitFlushFailure(t *testing.T) {
	q, ofs, rec := newOrderQueue(t, SyncFS)
	q.Syncer.flush = rec.flush
	rec.flushErr = syscall.EIO
	for _, r := range commitMany(t, q, 8, ofs.clock) {
		if !errors.Is(r.err, syscall.EIO) {
			t.Errorf("commit %s = %v, want EIO", r.path, r.err)
		}
	}
	if got := onlyEntries(t, q.Dir); len(got) != 0 {
		t.Errorf("files left: %v", got)
	}
}

// TestGroupCommitSyncFailure: a failed batch fails every file in it (each is
// removed, nothing is reported queued); the next batch works again.
func TestGroupCommitSyncFailure(t *testing.T) {
	q, ofs, rec := newOrderQueue(t, SyncFS)
	rec.fail = func(n int) bool { return n == 0 }
	res := commitMany(t, q, 16, ofs.clock)
	failed := 0
	for _, r := range res {
		if r.err != nil {
			failed++
			if !errors.Is(r.err, syscall.EIO) {
				t.Errorf("error %v does not wrap EIO", r.err)
			}
			if _, err := os.Stat(r.path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s left after failed sync: %v", r.path, err)
			}
		} else if _, err := os.Stat(r.path); err != nil {
			t.Errorf("%s: %v", r.path, err)
		}
	}
	if failed == 0 {
		t.Error("no commit saw the failed sync")
	}
	// The first batch failed; did every member of it fail? Members are the
	// files that joined before the batch started: at least the leader.
	f, err := q.Create(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		t.Errorf("commit after a failed batch: %v", err)
	}
}

// TestGroupCommitWritebackError: a file whose own write-back failed is not
// reported queued even though the file system sync succeeded.
func TestGroupCommitWritebackError(t *testing.T) {
	q, ofs, _ := newOrderQueue(t, SyncFS)
	f, err := q.Create(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ofs.wbErr[f.Path] = true
	if err := f.Commit(); !errors.Is(err, syscall.EIO) {
		t.Errorf("Commit = %v, want EIO", err)
	}
	if got := onlyEntries(t, q.Dir); len(got) != 0 {
		t.Errorf("files left: %v", got)
	}
}

// TestGroupCommitFilesMode: each file is fsynced by its committer, and the
// directories holding the new entries (and the parents of new hash
// directories) are synced after that and before Commit returns.
func TestGroupCommitFilesMode(t *testing.T) {
	q, ofs, rec := newOrderQueue(t, SyncFiles)
	q.Hashed, q.HashDepth = true, 1
	res := commitMany(t, q, 32, ofs.clock)
	for _, r := range res {
		if r.err != nil {
			t.Fatalf("commit: %v", r.err)
		}
		fsynced := ofs.fsync[r.path]
		if fsynced == 0 || fsynced < ofs.ready[r.path] {
			t.Errorf("%s: fsync at %d, ready at %d", r.path, fsynced, ofs.ready[r.path])
		}
		for _, d := range []string{filepath.Dir(r.path)} {
			got := rec.dirs[d]
			if got == 0 {
				t.Errorf("%s: directory %s never synced", r.path, d)
			}
			// The last sync of the directory may belong to a later batch;
			// what matters is that one happened after this file's fsync,
			// which holds for the last one too.
			if got < fsynced {
				t.Errorf("%s: directory %s synced at %d, before the file's fsync at %d", r.path, d, got, fsynced)
			}
		}
	}
	// Hash directories were made: the entries for them in incoming too.
	if rec.dirs[filepath.Join(q.Dir, "incoming")] == 0 {
		t.Error("incoming never synced after hash directories were made in it")
	}
}

// TestSyncerReal runs the real system calls: concurrent commits through a
// Syncer of each supported mode leave ready files and batch the syncs.
func TestSyncerReal(t *testing.T) {
	modes := []SyncMode{SyncFiles}
	if syncfsSupported {
		modes = append(modes, SyncFS)
	}
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			q := newQueue(t)
			s, err := NewSyncerMode(q.Dir, mode)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			q.Syncer = s
			clock := new(atomic.Int64)
			res := commitMany(t, q, 24, clock)
			for _, r := range res {
				if r.err != nil {
					t.Fatal(r.err)
				}
				fi, err := os.Stat(r.path)
				if err != nil || fi.Mode().Perm() != ModeReady {
					t.Errorf("%s: %v %v", r.path, fi, err)
				}
			}
			if st := s.Stats(); st.Files != 24 || st.Batches < 1 || st.Batches > 24 {
				t.Errorf("stats %+v", st)
			}
		})
	}
	if _, err := NewSyncerMode(t.TempDir(), SyncMode(99)); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := NewSyncer(filepath.Join(t.TempDir(), "missing")); syncfsSupported && err == nil {
		t.Error("NewSyncer on a missing directory succeeded")
	}
}

func devOf(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(fi.Sys().(*syscall.Stat_t).Dev)
}

// TestSyncerOtherFileSystem: a file on another file system than the one
// the Syncer syncs is fsynced on its own, with its directory.
func TestSyncerOtherFileSystem(t *testing.T) {
	q, ofs, rec := newOrderQueue(t, SyncFS)
	q.Syncer.dev++ // pretend incoming/ is another mount
	f, err := q.Create(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if len(rec.batches) != 0 {
		t.Errorf("syncfs used for a file on another file system")
	}
	if ofs.fsync[f.Path] == 0 || rec.dirs[filepath.Dir(f.Path)] < ofs.fsync[f.Path] {
		t.Errorf("file fsync at %d, directory sync at %d", ofs.fsync[f.Path], rec.dirs[filepath.Dir(f.Path)])
	}
}
