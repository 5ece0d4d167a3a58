//go:build linux && (amd64 || arm64)

package queuefile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fakeSysfs makes the two sysfs entries ext4Flush reads: the device link
// for major:minor and, unless task is empty, the file system's
// journal_task.
func fakeSysfs(t *testing.T, devName, majMin, task string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "dev", "block"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../devices/virtual/block/"+devName, filepath.Join(root, "dev", "block", majMin)); err != nil {
		t.Fatal(err)
	}
	if task != "" {
		dir := filepath.Join(root, "fs", "ext4", devName)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "journal_task"), []byte(task), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// mkdev encodes a device number the way the kernel reports it in st_dev.
func mkdev(major, minor uint64) uint64 {
	return (major&0xfff)<<8 | (major&^0xfff)<<32 | minor&0xff | (minor&^0xff)<<12
}

func TestExt4Flush(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		devName, majMin, task string
		dev                   uint64
		flush                 bool
		desc                  string
	}{
		{"no journal", "vda", "254:0", "<none>\n", mkdev(254, 0), true, "ext4 without a journal"},
		{"journal", "sda1", "8:1", "412\n", mkdev(8, 1), false, "ext4 with a journal"},
		{"large numbers", "nvme0n1p3", "259:300", "97\n", mkdev(259, 300), false, "ext4 with a journal"},
		{"no journal_task", "dm-0", "253:0", "", mkdev(253, 0), true, "ext4, journal unknown"},
		{"other device", "vda", "254:0", "12\n", mkdev(254, 1), true, "ext4, journal unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sysfs := fakeSysfs(t, tc.devName, tc.majMin, tc.task)
			flush, desc := ext4Flush(sysfs, tc.dev)
			if flush != tc.flush || desc != tc.desc {
				t.Errorf("ext4Flush = %v, %q; want %v, %q", flush, desc, tc.flush, tc.desc)
			}
		})
	}
	// No sysfs at all (a chroot): flush.
	if flush, desc := ext4Flush(filepath.Join(t.TempDir(), "missing"), mkdev(8, 0)); !flush || desc != "ext4, journal unknown" {
		t.Errorf("without sysfs: %v, %q", flush, desc)
	}
}

// TestSyncfsFlushHere checks the decision for the file system the tests
// run on against what the machine says independently: ext4 on a machine
// without any jbd2 journal must be flushed after syncfs.
func TestSyncfsFlushHere(t *testing.T) {
	dir := t.TempDir()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	flush, desc := syncfsFlush(d, "/sys")
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: flush after syncfs %v (%s)", dir, flush, desc)
	switch uint32(st.Type) {
	case ext4Magic:
		if !strings.HasPrefix(desc, "ext4") {
			t.Errorf("ext4 described as %q", desc)
		}
		if journals, err := os.ReadDir("/proc/fs/jbd2"); err == nil && len(journals) == 0 && !flush {
			t.Errorf("no jbd2 journal on this machine, yet no flush after syncfs on ext4")
		}
	case xfsMagic, btrfsMagic, tmpfsMagic:
		if flush {
			t.Errorf("%s: flush after syncfs", desc)
		}
	}
	s, err := NewSyncer(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := "syncfs"
	if flush {
		want = "syncfs+flush"
	}
	if got := s.String(); got != want+" ("+desc+")" {
		t.Errorf("Syncer = %q, want %s (%s)", got, want, desc)
	}
}
