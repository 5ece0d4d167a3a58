// Package queuelayout creates the directory tree of a Postfix queue the way
// a Debian Postfix installation has it: the queue directories owned by the
// postfix user, public/ and maildrop/ group-owned by postdrop, pid/ and the
// queue directory itself owned by root. Tests and benchmarks that run a
// private real Postfix instance use it to build a queue master(8) accepts.
package queuelayout

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
)

// queueDirs are the subdirectories of the queue directory that belong to
// the postfix user alone (mode 0700).
var queueDirs = [...]string{"incoming", "active", "deferred", "defer", "bounce", "trace", "hold", "corrupt", "saved", "flush", "private"}

// Create makes queueDir and dataDir (with their parents) and every queue
// subdirectory with Postfix's owners and modes. Existing directories get
// their owner and mode set again. It needs root to change owners.
func Create(queueDir, dataDir string) error {
	pf, err := user.Lookup("postfix")
	if err != nil {
		return fmt.Errorf("look up user postfix: %w", err)
	}
	uid, err := strconv.Atoi(pf.Uid)
	if err != nil {
		return fmt.Errorf("user postfix: uid %q: %w", pf.Uid, err)
	}
	gid, err := strconv.Atoi(pf.Gid)
	if err != nil {
		return fmt.Errorf("user postfix: gid %q: %w", pf.Gid, err)
	}
	pdGID := gid
	if g, err := user.LookupGroup("postdrop"); err == nil {
		if n, err := strconv.Atoi(g.Gid); err == nil {
			pdGID = n
		}
	}
	type dir struct {
		path     string
		mode     os.FileMode
		uid, gid int
	}
	dirs := []dir{
		{queueDir, 0o755, 0, 0},
		{dataDir, 0o700, uid, gid},
		{filepath.Join(queueDir, "public"), 0o710, uid, pdGID},
		{filepath.Join(queueDir, "maildrop"), 0o730, uid, pdGID},
		{filepath.Join(queueDir, "pid"), 0o755, 0, 0},
	}
	for _, d := range queueDirs {
		dirs = append(dirs, dir{filepath.Join(queueDir, d), 0o700, uid, 0})
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return fmt.Errorf("queue layout: %w", err)
		}
		if err := os.Chown(d.path, d.uid, d.gid); err != nil {
			return fmt.Errorf("queue layout: %w", err)
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			return fmt.Errorf("queue layout: %w", err)
		}
	}
	return nil
}
