package queuelayout

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

func TestCreate(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing owners needs root")
	}
	pf, err := user.Lookup("postfix")
	if err != nil {
		t.Skip("no postfix user on this machine")
	}
	uid, _ := strconv.Atoi(pf.Uid)
	root := t.TempDir()
	q := filepath.Join(root, "spool")
	data := filepath.Join(root, "data")
	// Twice: a second run repairs modes instead of failing.
	for i := 0; i < 2; i++ {
		if err := Create(q, data); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(q, "incoming"), 0o777); err != nil {
			t.Fatal(err)
		}
	}
	if err := Create(q, data); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		mode os.FileMode
		uid  int
	}{
		"spool":          {0o755, 0},
		"data":           {0o700, uid},
		"spool/public":   {0o710, uid},
		"spool/maildrop": {0o730, uid},
		"spool/pid":      {0o755, 0},
		"spool/incoming": {0o700, uid},
		"spool/active":   {0o700, uid},
		"spool/deferred": {0o700, uid},
		"spool/private":  {0o700, uid},
		"spool/corrupt":  {0o700, uid},
	}
	for rel, w := range want {
		fi, err := os.Stat(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() || fi.Mode().Perm() != w.mode {
			t.Errorf("%s: mode %v, want directory %v", rel, fi.Mode(), w.mode)
		}
		if got := int(fi.Sys().(*syscall.Stat_t).Uid); got != w.uid {
			t.Errorf("%s: owner %d, want %d", rel, got, w.uid)
		}
	}
}
