package cli

import (
	"fmt"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
	"os"
	"path/filepath"

	"github.com/qmqpd-go/qmqpd/internal/maincf"
	"github.com/qmqpd-go/qmqpd/internal/qmqpd"
	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// newBuiltinQueuer returns the built-in cleanup writing into queueDir ("" =
// the current directory, which is the queue directory under master(8)).
// Standalone, it first creates the queue directories it needs.
func (d *daemon) newBuiltinQueuer(c *maincf.Config, queueDir string, standalone bool) (qmqpd.Queuer, error) {
	if standalone {
		if err := makeQueueDirs(queueDir); err != nil {
			return nil, err
		}
	}
	d.ensureSyncer(queueDir)
	return qmqpd.NewBuiltinQueuer(c, qmqpd.BuiltinOptions{
		QueueDir:    queueDir,
		QuietWakeup: standalone,
		Log:         d.cleanupLogger(),
		Syncer:      d.syncer,
	})
}

// ensureSyncer opens the group-commit Syncer of the queue directory dir (""
// = the current directory) unless one is open: one per queue directory,
// kept across reloads. Without one, every file is synced on its own. The
// daemon calls it before chroot(2) too, when the built-in cleanup is in
// use, so that the Syncer can still read /sys to learn how the file system
// makes syncfs(2) durable.
func (d *daemon) ensureSyncer(dir string) {
	if d.syncer != nil {
		return
	}
	if dir == "" {
		dir = "."
	}
	s, err := queuefile.NewSyncer(dir)
	if err != nil {
		d.warn(fmt.Sprintf("queue file group commit unavailable, syncing files one by one: %v", err))
		return
	}
	d.syncer = s
}

// queueDirs are the directories below queue_directory that the built-in
// cleanup uses, with the modes of Postfix's postfix-files: incoming holds
// the new queue files, public the queue manager's wakeup endpoint.
var queueDirs = []struct {
	name string
	mode os.FileMode
}{
	{"incoming", 0o700},
	{"public", 0o710},
}

// makeQueueDirs creates queue_directory (mode 0755, like Postfix) and the
// subdirectories in queueDirs when they are missing. Existing directories
// are left alone.
func makeQueueDirs(queueDir string) error {
	root := queueDir
	if root == "" {
		root = "."
	}
	if err := mkdirMode(root, 0o755, true); err != nil {
		return err
	}
	for _, d := range queueDirs {
		if err := mkdirMode(filepath.Join(queueDir, d.name), d.mode, false); err != nil {
			return err
		}
	}
	return nil
}

func mkdirMode(path string, mode os.FileMode, parents bool) error {
	if fi, err := os.Stat(path); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s: not a directory", path)
		}
		return nil
	}
	mk := os.Mkdir
	if parents {
		mk = os.MkdirAll
	}
	if err := mk(path, mode); err != nil {
		return fmt.Errorf("create directory %s: %s", path, syserr.Text(err))
	}
	// The umask may have removed bits; set the exact mode.
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("chmod %s: %s", path, syserr.Text(err))
	}
	return nil
}

// spoolDir is where large messages wait for their queue file: the queue's
// incoming directory when it exists (same file system, writable by the
// daemon), else the system's temporary directory.
func spoolDir(queueDir string) string {
	dir := filepath.Join(queueDir, "incoming")
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return dir
	}
	return ""
}
