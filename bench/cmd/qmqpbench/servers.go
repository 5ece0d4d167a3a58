package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/queuelayout"
)

// Paths of the real Postfix 3.7.11 programs (Debian package).
const (
	postfixMaster = "/usr/lib/postfix/sbin/master"
	qmqpSource    = "/usr/sbin/qmqp-source"
)

// server is one QMQP server under test.
type server struct {
	name     string // "ours" or "postfix"
	addr     string // 127.0.0.1:port
	queueDir string
	// pids returns the processes whose CPU and memory count for the
	// server (ours: the daemon; Postfix: qmqpd and cleanup).
	pids func() []int
	// allPids adds the helper processes the server needs (Postfix: master,
	// trivial-rewrite, postlogd); nil = same as pids.
	allPids func() []int
	stop    func()
}

// commonMainCF are the main.cf settings both servers get: same host name,
// limits, authorized clients. in_flow_delay is 0 because no qmgr runs (for
// either server), so there are no flow-control tokens to wait for.
func commonMainCF(root string) map[string]string {
	return map[string]string{
		"compatibility_level":      "3.6",
		"myhostname":               "bench.example.org",
		"mydomain":                 "example.org",
		"myorigin":                 "$myhostname",
		"inet_protocols":           "ipv4",
		"smtputf8_enable":          "no",
		"qmqpd_authorized_clients": "127.0.0.0/8",
		"mynetworks":               "127.0.0.0/8",
		"in_flow_delay":            "0",
		"qmqpd_error_delay":        "0",
		"message_size_limit":       "10240000",
		"line_length_limit":        "2048",
		"default_process_limit":    "600",
		"max_use":                  "1000000",
		"max_idle":                 "3600s",
		"biff":                     "no",
		"alias_maps":               "",
		"alias_database":           "",
		"local_recipient_maps":     "",
		"relay_domains":            "",
		"maillog_file_prefixes":    "/var, /dev/stdout, /tmp, " + root,
	}
}

func writeMainCF(path string, params map[string]string) error {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, params[k])
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// startPostfix starts a private real Postfix (master, qmqpd, cleanup,
// trivial-rewrite, postlogd; no qmgr) listening on addr.
func startPostfix(root, addr string) (*server, error) {
	etc := filepath.Join(root, "etc")
	spool := filepath.Join(root, "spool")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(root, 0o755); err != nil {
		return nil, err
	}
	if err := queuelayout.Create(spool, filepath.Join(root, "data")); err != nil {
		return nil, err
	}
	params := commonMainCF(filepath.Dir(root))
	params["queue_directory"] = spool
	params["data_directory"] = filepath.Join(root, "data")
	params["maillog_file"] = filepath.Join(root, "maillog")
	if err := writeMainCF(filepath.Join(etc, "main.cf"), params); err != nil {
		return nil, err
	}
	master := fmt.Sprintf(`%s inet n - n - - qmqpd
cleanup   unix  n       -       n       -       0       cleanup
rewrite   unix  -       -       n       -       -       trivial-rewrite
postlog   unix-dgram n  -       n       -       1       postlogd
`, addr)
	if err := os.WriteFile(filepath.Join(etc, "master.cf"), []byte(master), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(postfixMaster, "-c", etc, "-w")
	cmd.Env = append(os.Environ(), "MAIL_CONFIG="+etc)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("start postfix master: %v: %s", err, out)
	}
	pidText, err := os.ReadFile(filepath.Join(spool, "pid", "master.pid"))
	if err != nil {
		return nil, fmt.Errorf("postfix master pid: %w", err)
	}
	mpid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		return nil, fmt.Errorf("postfix master pid: %w", err)
	}
	s := &server{
		name:     "postfix",
		addr:     addr,
		queueDir: spool,
		pids: func() []int {
			return childrenNamed(mpid, "qmqpd", "cleanup")
		},
		allPids: func() []int {
			return append(childrenNamed(mpid, "qmqpd", "cleanup", "trivial-rewrite", "postlogd"), mpid)
		},
		stop: func() { stopPID(mpid) },
	}
	if err := waitListening(addr); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// startOurs starts our qmqpd standalone with the built-in cleanup.
func startOurs(root, addr, binary string, maxConn int) (*server, error) {
	etc := filepath.Join(root, "etc")
	spool := filepath.Join(root, "spool")
	for _, d := range []string{root, etc} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	params := commonMainCF(filepath.Dir(root))
	params["queue_directory"] = spool
	params["maillog_file"] = filepath.Join(root, "maillog")
	params["qmqpd_cleanup_mode"] = "builtin"
	if err := writeMainCF(filepath.Join(etc, "main.cf"), params); err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "--listen", addr, "--config", etc, "--max-connections", strconv.Itoa(maxConn))
	cmd.Dir = root
	logf, err := os.Create(filepath.Join(root, "stderr"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	pid := cmd.Process.Pid
	s := &server{
		name:     "ours",
		addr:     addr,
		queueDir: spool,
		pids:     func() []int { return []int{pid} },
		stop: func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		},
	}
	if err := waitListening(addr); err != nil {
		s.stop()
		out, _ := os.ReadFile(filepath.Join(root, "stderr"))
		return nil, fmt.Errorf("%w: %s", err, out)
	}
	return s, nil
}

func waitListening(addr string) error {
	var err error
	for i := 0; i < 500; i++ {
		var c net.Conn
		if c, err = net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("server on %s never came up: %v", addr, err)
}

// stopPID sends SIGTERM to pid and waits up to 10 s for it to go away.
func stopPID(pid int) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 1000; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// clearIncoming takes away the queue files a run left (no qmgr runs). With
// aside set, the whole incoming directory is moved into that directory
// and an empty one, with the same owner and mode, takes its place (see
// setAside); otherwise the files are removed.
func clearIncoming(queueDir string, aside *setAside) error {
	dir := filepath.Join(queueDir, "incoming")
	if aside != nil {
		fi, err := os.Stat(dir)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("stat %s: no owner", dir)
		}
		if err := aside.move(dir); err != nil {
			return err
		}
		if err := os.Mkdir(dir, fi.Mode().Perm()); err != nil {
			return err
		}
		if err := os.Chmod(dir, fi.Mode().Perm()); err != nil { // past the umask
			return err
		}
		return os.Chown(dir, int(st.Uid), int(st.Gid))
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// setAside is a directory on the queue's file system where the benchmark
// moves the files of small-message runs instead of deleting them. On ext4
// without a journal (this machine's) the inode allocator skips every inode
// freed in the last ~30 s (recently_deleted), reading the inode table for
// each: deleting thousands of files between runs would make the next run's
// file creations pay for the harness's own cleanup, and the more so the
// more messages per second a server handles. Renaming frees nothing, and
// renaming a run's whole directory at once leaves no dirty directory
// blocks behind for the next run's first sync to write, and every run an
// empty directory to start from. The set-aside directory is removed with
// the scratch directory at the end.
type setAside struct {
	dir string
	n   int
}

// move renames p (a file or a directory) into the set-aside directory
// under a new name.
func (a *setAside) move(p string) error {
	if a.n == 0 {
		if err := os.MkdirAll(a.dir, 0o700); err != nil {
			return err
		}
	}
	a.n++
	return os.Rename(p, filepath.Join(a.dir, strconv.Itoa(a.n)))
}

// countIncoming returns the number of ready (mode 0700) queue files.
func countIncoming(queueDir string) int {
	n := 0
	_ = filepath.WalkDir(filepath.Join(queueDir, "incoming"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil && fi.Mode().Perm() == 0o700 {
				n++
			}
		}
		return nil
	})
	return n
}
