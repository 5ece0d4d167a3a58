package reliability

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/qmqp"
	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// TestAccessUnauthorized runs the daemon with access lists that do not
// admit 127.0.0.1, including "!" exclusions and broken or failing lookup
// tables: the client is refused (D, or Z "server configuration error" for
// a table error), no queue file is ever opened (no "client=" log line) and
// the queue stays empty.
func TestAccessUnauthorized(t *testing.T) {
	t.Parallel()
	cases := []struct {
		list, reply string
	}{
		{"", "D"},
		{"10.0.0.0/8, [::1]", "D"},
		{"!127.0.0.1, 127.0.0.0/8", "D"},
		{"!127.0.0.0/8 127.0.0.1", "D"},
		{"cidr:/nonexistent/table, 127.0.0.0/8", "ZError: server configuration error"},
		{"texthash:/nonexistent/table 127.0.0.1", "ZError: server configuration error"},
		{"fail:broken 127.0.0.1", "ZError: server configuration error"},
		{"!fail:broken 127.0.0.1", "ZError: server configuration error"},
		{"regexp:/nonexistent/table", "ZError: server configuration error"},
	}
	for i, c := range cases {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			conf, logf := childConf(t, dir, "qmqpd_authorized_clients = "+c.list)
			ch := startChild(t, dir, conf, logf, nil, nil)
			for j := 0; j < 3; j++ {
				r, err := send(ch.addr, newMsg("unauth", 1, 2).packet())
				stats.sent.Add(1)
				stats.rejected.Add(1)
				got := r.String()
				if err != nil {
					t.Fatalf("%q: %v", c.list, err)
				}
				if c.reply == "D" {
					if r.Code != 'D' || !strings.HasSuffix(got, "[127.0.0.1] is not authorized to use this service") {
						t.Errorf("%q: reply %q", c.list, got)
					}
				} else if got != c.reply {
					t.Errorf("%q: reply %q, want %q", c.list, got, c.reply)
				}
			}
			if err := ch.signal(syscall.SIGTERM, 20*time.Second); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(ch.logText(), "client=") {
				t.Errorf("%q: a queue file was opened:\n%s", c.list, ch.logText())
			}
			verifyQueue(t, dir, nil)
		})
	}
}

// masterChild runs the daemon the way Postfix's master(8) does: the
// listening socket on descriptor 6, the status pipe on 5, with the
// generic options given (e.g. -u to drop privileges, -c to chroot).
type masterChild struct {
	cmd    *exec.Cmd
	addr   string
	done   chan error
	stderr *strings.Builder
}

func startMasterChild(t *testing.T, confDir string, flags ...string) *masterChild {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lf, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	flowR, flowW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	statR, statW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-l", "-n", "qmqp", "-t", "inet"}, flags...)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=qmqpd", childArgsEnv+"="+strings.Join(args, "\x1f"), "MAIL_CONFIG="+confDir, "GENERATION=1")
	cmd.ExtraFiles = []*os.File{flowR, flowW, statW, lf}
	mc := &masterChild{cmd: cmd, addr: lf.Name(), done: make(chan error, 1), stderr: &strings.Builder{}}
	cmd.Stderr = mc.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	flowR.Close()
	flowW.Close()
	statW.Close()
	addr := l.Addr().String()
	lf.Close()
	mc.addr = addr
	go func() {
		buf := make([]byte, 256)
		for {
			if _, err := statR.Read(buf); err != nil {
				return
			}
		}
	}()
	go func() { mc.done <- cmd.Wait(); statR.Close() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-mc.done
	})
	return mc
}

// TestAccessPrivilegesAndChroot runs the daemon under the master(8)
// protocol with -u (drop to mail_owner) and -c (chroot to
// queue_directory), as master.cf's "unpriv" and "chroot" columns ask. It
// proves: the process runs with mail_owner's uid and gid only, its root
// is the queue directory, a queue file is 0600 and owned by mail_owner
// while being written and 0700 once ready, and nothing appears outside
// incoming/.
func TestAccessPrivilegesAndChroot(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("dropping privileges and chroot need root")
	}
	u, err := user.Lookup("postfix")
	if err != nil {
		t.Skip("no postfix user (mail_owner)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := postfixQueue(t)
	before := queueFiles(t, dir)
	conf, _ := childConf(t, dir, "maillog_file =")
	mc := startMasterChild(t, conf, "-u", "-c")

	// A client that stops half way: its file is being written.
	m := newMsg("priv", 2, 30)
	p := m.packet()
	c, err := net.Dial("tcp", mc.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(p[:len(p)/2])
	var writing string
	settle(func() bool {
		ents, _ := os.ReadDir(filepath.Join(dir, "incoming"))
		if len(ents) == 1 {
			writing = filepath.Join(dir, "incoming", ents[0].Name())
		}
		return writing != ""
	})
	if writing == "" {
		t.Fatalf("no queue file while the message is written\n%s", mc.stderr.String())
	}
	fi, err := os.Lstat(writing)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != queuefile.ModeWriting || int(st.Uid) != uid {
		t.Errorf("queue file being written: mode %v uid %d, want 0600 uid %d", fi.Mode(), st.Uid, uid)
	}

	// The process: uid, gid, groups and root directory.
	pid := strconv.Itoa(mc.cmd.Process.Pid)
	status, _ := os.ReadFile("/proc/" + pid + "/status")
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 5 && f[0] == "Uid:":
			for _, v := range f[1:] {
				if v != u.Uid {
					t.Errorf("process %s, want all %d", line, uid)
				}
			}
		case len(f) == 5 && f[0] == "Gid:":
			for _, v := range f[1:] {
				if v != u.Gid {
					t.Errorf("process %s, want all %d", line, gid)
				}
			}
		case len(f) >= 1 && f[0] == "Groups:":
			if len(f) != 2 || f[1] != u.Gid {
				t.Errorf("process %s, want only %d", line, gid)
			}
		}
	}
	if root, err := os.Readlink("/proc/" + pid + "/root"); err != nil || root != dir {
		t.Errorf("process root %q (%v), want the queue directory %s", root, err, dir)
	}

	// Finish the message: K, file ready and owned by mail_owner.
	c.Write(p[len(p)/2:])
	r, err := qmqp.ReadReply(bufio.NewReader(c))
	stats.sent.Add(1)
	id, ok := queuedID(r)
	if err != nil || !ok {
		t.Fatalf("reply %q %v\n%s", r.String(), err, mc.stderr.String())
	}
	stats.queued.Add(1)
	q, err := readQueueFile(filepath.Join(dir, "incoming", id))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.check(m); err != nil {
		t.Error(err)
	}
	if q.uid != uid {
		t.Errorf("ready queue file owned by uid %d, want %d", q.uid, uid)
	}
	after := queueFiles(t, dir)
	for rel := range after {
		if _, ok := before[rel]; !ok && rel != filepath.Join("incoming", id) {
			t.Errorf("unexpected file %s", rel)
		}
	}
	if ents, _ := os.ReadDir(conf); len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("config directory holds %v, want only main.cf", names)
	}
	_ = fmt.Sprint
}

// stepClock returns a clock that starts at t0 and advances by 1µs per call.
func stepClock(t0 time.Time) func() time.Time {
	var mu sync.Mutex
	n := 0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		n++
		return t0.Add(time.Duration(n-1) * time.Microsecond)
	}
}

// TestAccessSymlinkTempName plants symlinks where the next temporary queue
// file name will be (incoming/USEC.PID), pointing outside the queue to a
// missing file and to an existing one: the server does not follow them
// (the message is queued under another name), creates and changes nothing
// outside the queue, and leaves the planted links alone.
func TestAccessSymlinkTempName(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	existing := filepath.Join(outside, "existing")
	os.WriteFile(existing, []byte("do not touch\n"), 0o644)
	missing := filepath.Join(outside, "missing")
	t0 := time.Date(2026, 11, 24, 20, 0, 0, 123456000, time.UTC)
	for i, target := range []string{missing, existing} {
		dir := t.TempDir()
		makeQueue(t, dir)
		link := filepath.Join("incoming", "123456.4242")
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
		stats.faults.Add(1)
		e := start(t, opts{dir: dir, now: stepClock(t0), pid: 4242})
		m := newMsg(fmt.Sprintf("symlink%d", i), 1, 2)
		r, err := send(e.addr, m.packet())
		stats.sent.Add(1)
		e.stop()
		id, ok := queuedID(r)
		if err != nil || !ok {
			t.Fatalf("reply %q %v\n%s", r.String(), err, e.log.text())
		}
		stats.queued.Add(1)
		verifyQueue(t, dir, map[string]msg{id: m}, link)
		if got, err := os.Readlink(filepath.Join(dir, link)); err != nil || got != target {
			t.Errorf("planted link changed: %q %v", got, err)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("%s was created through the planted link", missing)
	}
	if b, _ := os.ReadFile(existing); string(b) != "do not touch\n" {
		t.Errorf("%s was changed through the planted link: %q", existing, b)
	}
}

// TestAccessSymlinkIncoming replaces incoming/ itself by a symlink to a
// directory outside the queue: nothing may be written there.
func TestAccessSymlinkIncoming(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "public"), 0o755)
	if err := os.Symlink(outside, filepath.Join(dir, "incoming")); err != nil {
		t.Fatal(err)
	}
	stats.faults.Add(1)
	e := start(t, opts{dir: dir})
	r, err := send(e.addr, newMsg("symdir", 1, 2).packet())
	stats.sent.Add(1)
	e.stop()
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("reply %q %v, and the server wrote %d file(s) through the incoming symlink (%s)", r.String(), err, len(ents), ents[0].Name())
	}
	if r.String() != replyWriteError {
		t.Errorf("reply %q %v with incoming/ a symlink out of the queue, want %q", r.String(), err, replyWriteError)
	}

	// Hashed incoming (hash_queue_depth 1): every possible hash
	// directory is a symlink out of the queue.
	dir = t.TempDir()
	makeQueue(t, dir)
	for _, c := range "0123456789ABCDEF" {
		if err := os.Symlink(outside, filepath.Join(dir, "incoming", string(c))); err != nil {
			t.Fatal(err)
		}
	}
	stats.faults.Add(1)
	e = start(t, opts{dir: dir, hashed: true})
	r, err = send(e.addr, newMsg("symhash", 1, 2).packet())
	stats.sent.Add(1)
	e.stop()
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("reply %q %v, and the server wrote %d file(s) through a hash directory symlink (%s)", r.String(), err, len(ents), ents[0].Name())
	}
	if r.String() != replyWriteError {
		t.Errorf("reply %q %v with symlinked hash directories, want %q", r.String(), err, replyWriteError)
	}
}

// TestAccessStandalonePrivileges runs the standalone daemon with -u and -c:
// after binding it runs as mail_owner inside the queue directory, and the
// queue files it makes belong to mail_owner.
func TestAccessStandalonePrivileges(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("dropping privileges and chroot need root")
	}
	u, err := user.Lookup("postfix")
	if err != nil {
		t.Skip("no postfix user (mail_owner)")
	}
	dir := postfixQueue(t)
	conf, logf := childConf(t, dir)
	c := startChild(t, dir, conf, logf, nil, nil, "-u", "-c")
	m := newMsg("standalone-priv", 1, 3)
	r, err := send(c.addr, m.packet())
	stats.sent.Add(1)
	id, ok := queuedID(r)
	if err != nil || !ok {
		t.Fatalf("reply %q %v\n%s", r.String(), err, c.logText())
	}
	stats.queued.Add(1)
	status, _ := os.ReadFile("/proc/" + c.pid() + "/status")
	if !strings.Contains(string(status), "\nUid:\t"+u.Uid+"\t"+u.Uid+"\t"+u.Uid+"\t"+u.Uid+"\n") {
		t.Errorf("process not running as mail_owner:\n%s", status)
	}
	if root, err := os.Readlink("/proc/" + c.pid() + "/root"); err != nil || root != dir {
		t.Errorf("process root %q (%v), want %s", root, err, dir)
	}
	if err := c.signal(syscall.SIGTERM, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	q, err := readQueueFile(filepath.Join(dir, "incoming", id))
	if err != nil {
		t.Fatal(err)
	}
	if strconv.Itoa(q.uid) != u.Uid {
		t.Errorf("queue file owned by uid %d, want mail_owner %s", q.uid, u.Uid)
	}
	verifyQueue(t, dir, map[string]msg{id: m})
}

// TestAccessRootRefused: under master(8) without -u the daemon runs as
// root; like Postfix's qmqpd it refuses to serve an inet client with the
// wrong privileges (fatal exit), so no queue file is opened and no reply
// is given.
func TestAccessRootRefused(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := user.Lookup("postfix"); err != nil {
		t.Skip("no postfix user (mail_owner)")
	}
	dir := postfixQueue(t)
	conf, _ := childConf(t, dir, "maillog_file =")
	mc := startMasterChild(t, conf, "-V")
	r := converse(mc.addr, newMsg("root", 1, 1).packet())
	stats.sent.Add(1)
	stats.rejected.Add(1)
	if r != "" {
		t.Errorf("reply %q from a daemon running as root", r)
	}
	select {
	case err := <-mc.done:
		mc.done <- err
		if err == nil {
			t.Error("daemon exited 0")
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("daemon still running; reply %q, stderr:\n%s", r, mc.stderr.String())
	}
	if !strings.Contains(mc.stderr.String(), "fatal: the Postfix QMQP server must run with $mail_owner privileges") {
		t.Errorf("stderr:\n%s", mc.stderr.String())
	}
	verifyQueue(t, dir, nil)
}
