//go:build linux && (amd64 || arm64)

package queuefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCreateWays makes queue files each way Create knows: an O_TMPFILE file
// linked with AT_EMPTY_PATH, one linked through /proc/self/fd, and
// Postfix's temporary name and rename. Each must give the same result: one
// file, under its queue ID, carrying its inode number, 0600 while written
// and 0700 once committed, with no other name ever left in the directory.
func TestCreateWays(t *testing.T) {
	for _, way := range []string{"emptypath", "proc", "rename"} {
		t.Run(way, func(t *testing.T) {
			for _, hashed := range []bool{false, true} {
				q := newQueue(t)
				q.Hashed, q.HashDepth = hashed, 1
				switch way {
				case "emptypath":
					if os.Geteuid() != 0 {
						t.Skip("linkat AT_EMPTY_PATH may need CAP_DAC_READ_SEARCH before Linux 6.10")
					}
					q.linkHow.Store(linkHowEmptyPath)
				case "proc":
					if _, err := os.Stat("/proc/self/fd"); err != nil {
						t.Skip("no /proc")
					}
					q.linkHow.Store(linkHowProc)
				case "rename":
					q.noLink.Store(true)
				}
				now := time.Unix(1795530772, 599664000)
				f, err := q.Create(now)
				if err != nil {
					t.Fatal(err)
				}
				if q.noLink.Load() != (way == "rename") {
					t.Errorf("noLink = %v after Create", q.noLink.Load())
				}
				want := filepath.Join(q.Dir, "incoming", f.ID)
				if hashed {
					want = filepath.Join(q.Dir, "incoming", HashDir(f.ID, 1), f.ID)
				}
				if f.Path != want || f.ID != NewID(f.Created, f.Inode, false) || inodeOf(t, f.Path) != f.Inode {
					t.Errorf("file %q (ID %s, inode %d), want path %q", f.Path, f.ID, f.Inode, want)
				}
				fi, err := os.Stat(f.Path)
				if err != nil || fi.Mode().Perm() != ModeWriting {
					t.Errorf("while writing: %v %v", fi, err)
				}
				if got := onlyEntries(t, q.Dir); len(got) != 1 {
					t.Errorf("entries while writing: %v", got)
				}
				_ = f.Writer().Record(RecEnd, nil)
				if err := f.Commit(); err != nil {
					t.Fatal(err)
				}
				if fi, err := os.Stat(f.Path); err != nil || fi.Mode().Perm() != ModeReady || fi.Size() != 2 {
					t.Errorf("after commit: %v %v", fi, err)
				}
				if got := onlyEntries(t, q.Dir); len(got) != 1 {
					t.Errorf("entries after commit: %v", got)
				}
			}
		})
	}
}

// TestLinkNeverReplaces: where a file of the queue ID's name already exists
// (a queue restored from elsewhere), linking fails with EEXIST and leaves
// the existing file alone; rename(2) would have replaced it.
func TestLinkNeverReplaces(t *testing.T) {
	q := newQueue(t)
	dir := filepath.Join(q.Dir, "incoming")
	target := filepath.Join(dir, "ABCDEF12345")
	if err := os.WriteFile(target, []byte("older message"), 0o700); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Open(dir, syscall.O_RDWR|syscall.O_CLOEXEC|oTmpfile, 0o600)
	if err != nil {
		t.Skipf("no O_TMPFILE here: %v", err)
	}
	defer syscall.Close(fd)
	if err := q.link(fd, target); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("link over an existing file: %v, want EEXIST", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "older message" {
		t.Errorf("existing file now holds %q", b)
	}
}

// TestCreateAbortLeavesNothing: an aborted linked file disappears with its
// only name, as a renamed one does.
func TestCreateAbortLeavesNothing(t *testing.T) {
	q := newQueue(t)
	for range 3 {
		f, err := q.Create(time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		_ = f.Writer().RecordString(RecNorm, strings.Repeat("x", 100))
		if err := f.Abort(); err != nil {
			t.Fatal(err)
		}
	}
	if q.noLink.Load() {
		t.Skip("this file system cannot link O_TMPFILE files")
	}
	if got := onlyEntries(t, q.Dir); len(got) != 0 {
		t.Errorf("entries after abort: %v", got)
	}
}
