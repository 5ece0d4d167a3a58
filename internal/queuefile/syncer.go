package queuefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// SyncMode says how a Syncer makes a batch of queue files durable.
type SyncMode int

const (
	// SyncFS makes a whole batch durable with one syncfs(2) on the queue's
	// file system: every file's data, its inode (mode 0700 included) and
	// every directory entry written before the call started are written
	// out. Where the file system's syncfs does not end with a durable
	// commit of all it wrote (ext4 without a journal, unknown file
	// systems), an fsync(2) of the queue directory follows, whose cache
	// flush makes them durable. Each file then checks its own write-back
	// errors (sync_file_range(2) wait), so a failure on one file is never
	// hidden. Linux only.
	SyncFS SyncMode = iota + 1
	// SyncFiles fsyncs each file in its committing goroutine (the file
	// system's journal merges concurrent fsyncs), then fsyncs the
	// directories of the whole batch once: the directory entries become
	// durable too, even where fsync of a file does not imply it.
	SyncFiles
)

func (m SyncMode) String() string {
	switch m {
	case SyncFS:
		return "syncfs"
	case SyncFiles:
		return "fsync"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// Syncer batches the durability work of files committed at about the same
// time ("group commit"). A committing file joins the batch that is being
// formed; when no batch is being synced, the first waiter takes the batch
// formed so far and syncs it while newer files form the next one. No timer
// is involved: a single committer never waits for company, and under load a
// batch holds every file that became ready while the previous sync ran.
//
// Guarantee: File.Commit returns nil only after a sync that started after
// the file's last write and its chmod to 0700 has completed without error
// (and, in SyncFS mode, after the file showed no write-back error of its
// own). On any error the file is removed and Commit fails.
//
// A Syncer is safe for concurrent use. Share one per queue directory.
type Syncer struct {
	mode SyncMode
	dir  *os.File // an open descriptor on the file system (SyncFS)
	dev  uint64   // that file system's device number

	// syncFS syncs the whole file system; flush, when not nil, follows it
	// to make what syncFS wrote durable (see SyncFS); syncDir syncs one
	// directory. Tests substitute them.
	syncFS  func() error
	flush   func() error
	syncDir func(path string) error
	fsName  string // the file system, as syncfsFlush describes it

	mu      sync.Mutex
	running bool       // a batch is being synced (or handed its lead)
	pending *syncBatch // the batch being formed (nil = none)
	stats   SyncStats
}

// SyncStats counts a Syncer's work.
type SyncStats struct {
	Batches int64 // syncs performed
	Files   int64 // files made durable (successfully or not) by them
}

type syncBatch struct {
	files int
	dirs  map[string]struct{}
	done  chan struct{} // closed when the batch has been synced
	lead  chan struct{} // receives the lead when the previous sync ends
	err   error         // set before done is closed
}

// NewSyncer returns a Syncer for queue files under dir (the queue
// directory; it must exist). It uses SyncFS where the system supports it,
// SyncFiles otherwise. Close releases it.
func NewSyncer(dir string) (*Syncer, error) {
	mode := SyncFiles
	if syncfsSupported {
		mode = SyncFS
	}
	return NewSyncerMode(dir, mode)
}

// NewSyncerMode is NewSyncer with an explicit mode. SyncFS fails where it
// is not supported.
func NewSyncerMode(dir string, mode SyncMode) (*Syncer, error) {
	if dir == "" {
		dir = "."
	}
	s := &Syncer{mode: mode, syncDir: fsyncDir}
	switch mode {
	case SyncFS:
		if !syncfsSupported {
			return nil, fmt.Errorf("queue file sync mode %s: not supported on this system", mode)
		}
		d, err := os.Open(dir)
		if err != nil {
			return nil, fmt.Errorf("open queue directory for syncing: %w", err)
		}
		s.dir = d
		fi, err := d.Stat()
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("stat queue directory: %w", err)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			s.dev = uint64(st.Dev)
		}
		s.syncFS = func() error { return syncfs(d) }
		var flush bool
		if flush, s.fsName = syncfsFlush(d, "/sys"); flush {
			s.flush = d.Sync
		}
		// One sync right away: errors from before we started are not ours,
		// and a file system that refuses syncfs is found now, not per
		// message.
		if err := s.syncBatch(&syncBatch{}); err != nil {
			d.Close()
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
	case SyncFiles:
	default:
		return nil, fmt.Errorf("queue file sync mode %d: unknown", int(mode))
	}
	return s, nil
}

// Mode returns the Syncer's mode.
func (s *Syncer) Mode() SyncMode { return s.mode }

// String describes how the Syncer makes a batch durable, for diagnostics:
// "syncfs" or "syncfs+flush" with the file system that decided it, or
// "fsync".
func (s *Syncer) String() string {
	if s.mode != SyncFS {
		return s.mode.String()
	}
	how := "syncfs"
	if s.flush != nil {
		how = "syncfs+flush"
	}
	if s.fsName == "" {
		return how
	}
	return how + " (" + s.fsName + ")"
}

// Stats returns how many batches and files the Syncer has synced.
func (s *Syncer) Stats() SyncStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close releases the descriptor the Syncer holds. Commits must not run
// concurrently with or after Close.
func (s *Syncer) Close() error {
	if s.dir != nil {
		err := s.dir.Close()
		s.dir = nil
		return err
	}
	return nil
}

// commit makes f durable (see the Syncer guarantee). f has been flushed and
// chmodded; its handle is still open.
func (s *Syncer) commit(f *File) error {
	switch {
	case s.mode == SyncFS && f.dev != s.dev:
		// Another file system (incoming/ mounted elsewhere): syncfs on
		// ours would not cover it. Sync the file and its directories.
		if err := f.h.Sync(); err != nil {
			return err
		}
		for _, d := range f.dirs() {
			if err := s.syncDir(d); err != nil {
				return fmt.Errorf("fsync directory %s: %w", d, err)
			}
		}
		return nil
	case s.mode == SyncFS:
		if err := s.join(nil); err != nil {
			return err
		}
		return checkWriteback(f.h)
	default:
		if err := f.h.Sync(); err != nil {
			return err
		}
		return s.join(f.dirs())
	}
}

// join adds one file (whose directories are dirs) to the batch being formed
// and returns once a batch that includes it has been synced, with that
// batch's error.
//
// Hand-off: the goroutine that finishes a sync passes the lead to one
// waiter of the batch formed meanwhile (through the batch's lead channel);
// the others sleep until their batch is done. Each committer is woken once.
func (s *Syncer) join(dirs []string) error {
	s.mu.Lock()
	if s.pending == nil {
		s.pending = &syncBatch{done: make(chan struct{}), lead: make(chan struct{}, 1)}
	}
	b := s.pending
	b.files++
	for _, d := range dirs {
		if b.dirs == nil {
			b.dirs = map[string]struct{}{}
		}
		b.dirs[d] = struct{}{}
	}
	if !s.running {
		s.running = true
		s.pending = nil
		s.mu.Unlock()
		s.lead(b)
		return b.err
	}
	s.mu.Unlock()
	select {
	case <-b.done:
	case <-b.lead:
		// The previous sync is over and b has not started: close it to
		// newcomers and sync it.
		s.mu.Lock()
		s.pending = nil
		s.mu.Unlock()
		s.lead(b)
	}
	return b.err
}

// lead syncs b (s.running is set) and then either hands the lead to the
// batch formed meanwhile or clears s.running.
func (s *Syncer) lead(b *syncBatch) {
	b.err = s.syncBatch(b)
	s.mu.Lock()
	s.stats.Batches++
	s.stats.Files += int64(b.files)
	if next := s.pending; next != nil {
		next.lead <- struct{}{} // running stays set for next's leader
	} else {
		s.running = false
	}
	s.mu.Unlock()
	close(b.done)
}

func (s *Syncer) syncBatch(b *syncBatch) error {
	if s.mode == SyncFS {
		if err := s.syncFS(); err != nil {
			return fmt.Errorf("syncfs: %w", err)
		}
		if s.flush != nil {
			if err := s.flush(); err != nil {
				return fmt.Errorf("flush after syncfs: %w", err)
			}
		}
		return nil
	}
	var first error
	for d := range b.dirs {
		if err := s.syncDir(d); err != nil && first == nil {
			first = fmt.Errorf("fsync directory %s: %w", d, err)
		}
	}
	return first
}

// dirs returns the directories whose entries must be durable for f: its
// own directory, and the parents of hash directories Create made.
func (f *File) dirs() []string {
	return append([]string{filepath.Dir(f.Path)}, f.newDirParents...)
}

func fsyncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	return errors.Join(serr, cerr)
}

// WritebackChecker is implemented by Handles that can report write-back
// errors of their own file without forcing a cache flush. *os.File is
// handled directly on Linux; other Handles without it are fsynced instead.
type WritebackChecker interface {
	CheckWriteback() error
}

// checkWriteback reports a write-back error recorded for h's file since it
// was opened, after waiting for any write-back still in progress.
func checkWriteback(h Handle) error {
	if c, ok := h.(WritebackChecker); ok {
		return c.CheckWriteback()
	}
	if f, ok := h.(*os.File); ok {
		if ok, err := waitWriteback(f); ok {
			return err
		}
	}
	return h.Sync()
}
