package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/qmqp"
	"github.com/qmqpd-go/qmqpd/internal/queuefile"
	"github.com/qmqpd-go/qmqpd/internal/testenv"
)

// The test binary doubles as the qmqpd command: with this variable set,
// TestMain runs Main instead of the tests, so tests can start real server
// processes and send them signals.
const runAsQmqpd = "QMQPD_CLI_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsQmqpd) != "" {
		os.Unsetenv(runAsQmqpd)
		args := append([]string{"qmqpd"}, os.Args[1:]...)
		env := OSEnv()
		env.Args = args
		os.Exit(Main(env))
	}
	os.Exit(m.Run())
}

// server is one standalone qmqpd process started by a test.
type server struct {
	t       *testing.T
	dir     string // scratch directory (also the working directory)
	cfgDir  string
	logFile string
	cmd     *exec.Cmd
	stderr  bytes.Buffer
	addrs   []string // bound addresses, from --ready-file
	exited  chan error
}

// writeMainCF writes main.cf into dir with a private queue and log file.
func writeMainCF(t *testing.T, dir, extra string) {
	t.Helper()
	// Accounts that exist on every Linux system (checked at start-up),
	// unless extra names others (a second entry would draw a warning).
	accounts := ""
	for _, a := range []string{"mail_owner = daemon", "setgid_group = bin"} {
		if !strings.Contains(extra, a[:strings.IndexByte(a, ' ')]+" =") {
			accounts += a + "\n"
		}
	}
	text := `compatibility_level = 3.6
` + accounts + `myhostname = mx.example.org
mydomain = example.org
inet_protocols = all
queue_directory = ` + filepath.Join(dir, "spool") + `
qmqpd_authorized_clients = 127.0.0.0/8, [::1]/128
qmqpd_error_delay = 0s
maillog_file_prefixes = /
maillog_file = ` + filepath.Join(dir, "maillog") + `
` + extra
	if err := os.WriteFile(filepath.Join(dir, "etc", "main.cf"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startServer runs the test binary as qmqpd with args (plus --ready-file)
// and waits until it has bound its listeners.
func startServer(t *testing.T, mainCFExtra string, args ...string) *server {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeMainCF(t, dir, mainCFExtra)
	s := &server{t: t, dir: dir, cfgDir: filepath.Join(dir, "etc"), logFile: filepath.Join(dir, "maillog"), exited: make(chan error, 1)}
	s.start(nil, args...)
	return s
}

func (s *server) start(files []*os.File, args ...string) {
	t := s.t
	t.Helper()
	ready := filepath.Join(s.dir, "ready")
	os.Remove(ready)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"--ready-file", ready}, args...)...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), runAsQmqpd+"=1", "MAIL_CONFIG="+s.cfgDir)
	cmd.Stderr = &s.stderr
	cmd.ExtraFiles = files
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd = cmd
	go func() { s.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-s.exited
		}
	})
	for i := 0; ; i++ {
		if b, err := os.ReadFile(ready); err == nil {
			s.addrs = strings.Fields(string(b))
			return
		}
		select {
		case err := <-s.exited:
			t.Fatalf("qmqpd exited during start: %v\nstderr: %s\nlog: %s", err, s.stderr.String(), s.log())
		case <-time.After(10 * time.Millisecond):
		}
		if i > 1000 {
			t.Fatalf("qmqpd did not start\nstderr: %s", s.stderr.String())
		}
	}
}

// wait waits for the process to exit and returns its exit status.
func (s *server) wait() int {
	s.t.Helper()
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		s.t.Fatal("qmqpd did not exit")
	}
	return s.cmd.ProcessState.ExitCode()
}

func (s *server) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

func (s *server) log() string {
	b, _ := os.ReadFile(s.logFile)
	return string(b)
}

// waitLog waits until the log holds a line containing text.
func (s *server) waitLog(text string) {
	s.t.Helper()
	for i := 0; i < 2000; i++ {
		if strings.Contains(s.log(), text) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.t.Fatalf("log never showed %q:\n%s", text, s.log())
}

// readyFiles lists the queue files in incoming that are ready (mode 0700).
func (s *server) readyFiles() []string {
	s.t.Helper()
	var ids []string
	err := filepath.WalkDir(filepath.Join(s.dir, "spool", "incoming"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a temporary name renamed to its queue ID meanwhile
			}
			if err != nil {
				return err
			}
			if fi.Mode().Perm() == 0o700 && queuefile.ValidID(d.Name()) {
				ids = append(ids, d.Name())
			}
		}
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return ids
}

func dialAddr(a string) (network, addr string) {
	if p, ok := strings.CutPrefix(a, "unix:"); ok {
		return "unix", p
	}
	return "tcp", a
}

func send(t *testing.T, addr string, rcpts ...string) qmqp.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := qmqp.Send(ctx, addr, []byte("Subject: test\n\nbody\n"), "sender@example.org", rcpts)
	if err != nil {
		t.Fatalf("send to %s: %v", addr, err)
	}
	return r
}

func haveIPv6() bool {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// TestStandaloneListeners: several --listen addresses of every kind, the
// queue directories created with Postfix's modes, one ready queue file per
// message, the log lines, and a clean exit on SIGTERM.
func TestStandaloneListeners(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "qmqp.sock")
	args := []string{"--listen", "127.0.0.1:0", "--listen", "unix:" + sock}
	if haveIPv6() {
		args = append(args, "--listen", "[::1]:0")
	}
	s := startServer(t, "", args...)
	if len(s.addrs) != len(args)/2 {
		t.Fatalf("ready file lists %v, want %d addresses", s.addrs, len(args)/2)
	}
	if s.addrs[1] != "unix:"+sock {
		t.Errorf("second address %q, want unix:%s", s.addrs[1], sock)
	}
	for _, want := range []struct {
		path string
		mode os.FileMode
	}{{"spool", 0o755}, {"spool/incoming", 0o700}, {"spool/public", 0o710}} {
		fi, err := os.Stat(filepath.Join(s.dir, want.path))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() || fi.Mode().Perm() != want.mode {
			t.Errorf("%s: mode %v, want directory %v", want.path, fi.Mode(), want.mode)
		}
	}
	var ids []string
	for _, a := range s.addrs {
		r := send(t, a, "rcpt@example.net")
		if r.Code != 'K' || !strings.HasPrefix(r.Text, "Ok: queued as ") {
			t.Fatalf("%s: reply %v", a, r)
		}
		ids = append(ids, strings.TrimPrefix(r.Text, "Ok: queued as "))
	}
	files := s.readyFiles()
	if len(files) != len(ids) {
		t.Errorf("ready queue files %v, want %v", files, ids)
	}
	s.signal(syscall.SIGTERM)
	if code := s.wait(); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0; stderr: %s", code, s.stderr.String())
	}
	log := s.log()
	for _, want := range []string{
		"postfix/qmqpd[", "daemon started -- configuration " + s.cfgDir + ", listening on ",
		"connect from localhost[127.0.0.1]",
		ids[0] + ": client=localhost[127.0.0.1]",
		ids[0] + ": message-id=<",
		"disconnect from localhost[127.0.0.1]",
		"terminating on signal 15",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if _, err := os.Stat(sock); err != nil {
		// Go removes its unix socket on close; either way a restart must
		// be able to bind again.
		t.Logf("socket after exit: %v", err)
	}
}

// TestGracefulShutdown: SIGTERM while a client is in the middle of its
// packet: new connections are refused, the message in flight is queued
// and answered, then the server exits 0.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--listen", "127.0.0.1:0")
	c, err := net.Dial("tcp", s.addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pkt := qmqp.AppendPacket(nil, []byte("Subject: slow\n\nbody\n"), "a@example.org", []string{"b@example.net"})
	if _, err := c.Write(pkt[:10]); err != nil {
		t.Fatal(err)
	}
	s.waitLog(": client=localhost[127.0.0.1]")
	s.signal(syscall.SIGTERM)
	s.waitLog("terminating on signal 15")
	// The listener is closed: a new client cannot connect.
	for i := 0; ; i++ {
		c2, err := net.Dial("tcp", s.addrs[0])
		if err != nil {
			break
		}
		c2.Close()
		if i > 200 {
			t.Fatal("server still accepts connections after SIGTERM")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := c.Write(pkt[10:]); err != nil {
		t.Fatal(err)
	}
	r, err := qmqp.ReadReply(c)
	if err != nil {
		t.Fatalf("reply after SIGTERM: %v", err)
	}
	if r.Code != 'K' {
		t.Fatalf("reply %v, want K", r)
	}
	if code := s.wait(); code != 0 {
		t.Errorf("exit status %d", code)
	}
	if n := len(s.readyFiles()); n != 1 {
		t.Errorf("%d ready files, want 1", n)
	}
}

// TestReload: SIGHUP re-reads main.cf; the next client gets the new
// settings (here: nobody is authorized any more).
func TestReload(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--listen", "127.0.0.1:0")
	if r := send(t, s.addrs[0], "x@example.net"); r.Code != 'K' {
		t.Fatalf("before reload: %v", r)
	}
	writeMainCF(t, s.dir, "qmqpd_authorized_clients =\n")
	s.signal(syscall.SIGHUP)
	s.waitLog("reload -- configuration " + s.cfgDir)
	r := send(t, s.addrs[0], "x@example.net")
	want := qmqp.NotAuthorized("localhost[127.0.0.1]")
	if r != want {
		t.Errorf("after reload: %v, want %v", r, want)
	}
	// A broken main.cf is reported and the old settings stay.
	if err := os.WriteFile(filepath.Join(s.cfgDir, "main.cf"), []byte("qmqpd_timeout = soon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.signal(syscall.SIGHUP)
	s.waitLog("reload failed, keeping the old configuration")
	if r := send(t, s.addrs[0], "x@example.net"); r != want {
		t.Errorf("after failed reload: %v, want %v", r, want)
	}
	// A new maillog_file is opened on reload.
	writeMainCF(t, s.dir, "maillog_file = "+filepath.Join(s.dir, "maillog2")+"\n")
	s.signal(syscall.SIGHUP)
	s.logFile = filepath.Join(s.dir, "maillog2")
	s.waitLog("reload -- configuration " + s.cfgDir)
	if r := send(t, s.addrs[0], "x@example.net"); r.Code != 'K' {
		t.Errorf("after the third reload: %v", r)
	}
	s.waitLog(": client=localhost[127.0.0.1]")
	s.signal(syscall.SIGTERM)
	s.wait()
}

// TestConnectionLimit: with --max-connections 1, a second client is not
// served while the first one holds its session.
func TestConnectionLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--listen", "127.0.0.1:0", "--max-connections", "1")
	first, err := net.Dial("tcp", s.addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	s.waitLog("connect from localhost[127.0.0.1]")
	second, err := net.Dial("tcp", s.addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	pkt := qmqp.AppendPacket(nil, []byte("Subject: x\n\nbody\n"), "a@example.org", []string{"b@example.net"})
	if _, err := second.Write(pkt); err != nil {
		t.Fatal(err)
	}
	// The second client stays unanswered while the first session lasts.
	second.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := second.Read(make([]byte, 1)); err == nil || !os.IsTimeout(err) {
		t.Fatalf("second client got %d bytes (%v) while the first held the only slot", n, err)
	}
	if n := strings.Count(s.log(), "connect from localhost"); n != 1 {
		t.Fatalf("%d sessions started, want 1:\n%s", n, s.log())
	}
	first.Close()
	second.SetReadDeadline(time.Now().Add(20 * time.Second))
	r, err := qmqp.ReadReply(second)
	if err != nil || r.Code != 'K' {
		t.Fatalf("second client after the first left: %v %v", r, err)
	}
	s.signal(syscall.SIGTERM)
	s.wait()
}

// TestSocketActivation: a socket passed as systemd does (fd 3, LISTEN_FDS,
// LISTEN_PID of the process itself).
func TestSocketActivation(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "etc"), 0o755)
	writeMainCF(t, dir, "")
	s := &server{t: t, dir: dir, cfgDir: filepath.Join(dir, "etc"), logFile: filepath.Join(dir, "maillog"), exited: make(chan error, 1)}
	// sh keeps its pid across exec, so LISTEN_PID=$$ names the server.
	exe, _ := os.Executable()
	ready := filepath.Join(dir, "ready")
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" --ready-file "$1"`, exe, ready)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), runAsQmqpd+"=1", "MAIL_CONFIG="+s.cfgDir)
	cmd.Stderr = &s.stderr
	cmd.ExtraFiles = []*os.File{f}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd = cmd
	go func() { s.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-s.exited
		}
	})
	for i := 0; ; i++ {
		if b, err := os.ReadFile(ready); err == nil {
			s.addrs = strings.Fields(string(b))
			break
		}
		if i > 2000 {
			t.Fatalf("not ready; stderr %s", s.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(s.addrs) != 1 || s.addrs[0] != l.Addr().String() {
		t.Fatalf("listening on %v, want %s", s.addrs, l.Addr())
	}
	if r := send(t, s.addrs[0], "x@example.net"); r.Code != 'K' {
		t.Fatalf("reply %v", r)
	}
	s.signal(syscall.SIGTERM)
	if code := s.wait(); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestSocketActivationOtherPID: sockets announced for another process are
// not taken (sd_listen_fds semantics); without --listen that is an error.
func TestSocketActivationOtherPID(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "etc"), 0o755)
	writeMainCF(t, dir, "")
	exe, _ := os.Executable()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), runAsQmqpd+"=1", "MAIL_CONFIG="+filepath.Join(dir, "etc"), "LISTEN_FDS=1", "LISTEN_PID=1")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit %d (%v), want 1: %s", code, err, out)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
	if !strings.Contains(string(log), "fatal: no listening sockets") {
		t.Errorf("log: %s\noutput: %s", log, out)
	}
}

// TestStderrLogging: -V copies every log line to stderr; maillog_file =
// /dev/stdout works.
func TestStderrLogging(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "etc"), 0o755)
	writeMainCF(t, dir, "maillog_file = /dev/stdout\nsyslog_name = qtest\n")
	exe, _ := os.Executable()
	ready := filepath.Join(dir, "ready")
	cmd := exec.Command(exe, "-V", "--listen", "127.0.0.1:0", "--ready-file", ready)
	cmd.Env = append(os.Environ(), runAsQmqpd+"=1", "MAIL_CONFIG="+filepath.Join(dir, "etc"))
	cmd.Dir = dir
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var addr string
	for i := 0; ; i++ {
		if b, err := os.ReadFile(ready); err == nil {
			addr = strings.TrimSpace(string(b))
			break
		}
		if i > 2000 {
			t.Fatalf("not ready: %s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := send(t, addr, "x@example.net")
	id := strings.TrimPrefix(r.Text, "Ok: queued as ")
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	wantErr := "qtest/qmqpd: " + id + ": client=localhost[127.0.0.1]\n"
	if !strings.Contains(stderr.String(), wantErr) {
		t.Errorf("stderr lacks %q:\n%s", wantErr, stderr.String())
	}
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	found := false
	for sc.Scan() {
		// "Nov 24 19:48:55 mx qtest/qmqpd[15356]: ID: client=..."
		f := strings.SplitN(sc.Text(), " ", 6)
		if len(f) == 6 && f[3] == "mx" && strings.HasPrefix(f[4], "qtest/qmqpd[") && f[5] == id+": client=localhost[127.0.0.1]" {
			found = true
		}
	}
	if !found {
		t.Errorf("stdout (maillog_file = /dev/stdout) lacks the client line:\n%s", stdout.String())
	}
}

// lockedBuffer is a bytes.Buffer safe for the writer goroutines of
// exec.Cmd and the test reading it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRealClients: Postfix's qmqp-source and nullmailer's qmqp module get K
// from the standalone server, and their messages are queued.
func TestRealClients(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--listen", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(s.addrs[0])
	t.Run("qmqp-source", func(t *testing.T) {
		testenv.NeedPostfix(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, testenv.RealQmqpSource, "-c", "-m", "3", "-f", "from@example.org", "-t", "to@example.net", s.addrs[0])
		out, err := cmd.CombinedOutput()
		// qmqp-source warns about every reply other than K.
		if err != nil || strings.Contains(string(out), "warning") {
			t.Fatalf("qmqp-source: %v\n%s", err, out)
		}
	})
	t.Run("nullmailer", func(t *testing.T) {
		nm := testenv.NeedNullmailer(t)
		mail := filepath.Join(t.TempDir(), "mail")
		if err := os.WriteFile(mail, []byte("from@example.org\nto1@example.net\nto2@example.net\n\nSubject: x\n\nbody\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(mail)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, nm)
		cmd.Stdin = strings.NewReader("host=127.0.0.1\nport=" + port + "\n")
		cmd.ExtraFiles = []*os.File{f} // the message, on fd 3
		out, err := cmd.CombinedOutput()
		// nullmailer exits 0 only on K and prints the server's text.
		if err != nil || !strings.Contains(string(out), "Ok: queued as ") {
			t.Fatalf("nullmailer qmqp: %v: %s", err, out)
		}
	})
	s.signal(syscall.SIGTERM)
	s.wait()
	want := 0
	if testenv.HavePostfix() {
		want += 3
	}
	if testenv.NullmailerQMQP() != "" {
		want++
	}
	log := s.log()
	if n := strings.Count(log, ": message-id=<"); n != want || len(s.readyFiles()) != want {
		t.Errorf("%d messages queued:\n%s", n, log)
	}
}

// TestChrootAndPrivileges: standalone with -c and -u: bound as root, then
// chrooted to the queue directory and running as mail_owner; queue files
// belong to mail_owner.
func TestChrootAndPrivileges(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	owner, err := user.Lookup("postfix")
	if err != nil {
		t.Skip("no postfix user")
	}
	s := startServer(t, "mail_owner = postfix\n", "-c", "-u", "--listen", "127.0.0.1:0")
	r := send(t, s.addrs[0], "x@example.net")
	if r.Code != 'K' {
		t.Fatalf("reply %v; log:\n%s", r, s.log())
	}
	pid := strconv.Itoa(s.cmd.Process.Pid)
	if root, err := os.Readlink("/proc/" + pid + "/root"); err != nil || root != filepath.Join(s.dir, "spool") {
		t.Errorf("root directory %q (%v), want the queue directory", root, err)
	}
	status, _ := os.ReadFile("/proc/" + pid + "/status")
	if !regexp.MustCompile(`(?m)^Uid:\s+` + owner.Uid + `\s+` + owner.Uid + `\s`).Match(status) {
		t.Errorf("process does not run as %s:\n%s", owner.Uid, status)
	}
	files := s.readyFiles()
	if len(files) != 1 {
		t.Fatalf("ready files %v", files)
	}
	var fi os.FileInfo
	filepath.WalkDir(filepath.Join(s.dir, "spool", "incoming"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == files[0] {
			fi, _ = d.Info()
		}
		return nil
	})
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || strconv.Itoa(int(st.Uid)) != owner.Uid {
		t.Errorf("queue file owner %v, want %s", fi.Sys(), owner.Uid)
	}
	s.signal(syscall.SIGTERM)
	if code := s.wait(); code != 0 {
		t.Errorf("exit %d: %s", code, s.stderr.String())
	}
}

// stdioSocket runs "qmqpd -S args" with a connected TCP socket as standard
// input and output (as inetd does), sends input from the other end and
// returns the reply, the exit status and stderr.
func stdioSocket(t *testing.T, dir string, input []byte, args ...string) (reply string, port int, code int, stderr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := server.(*net.TCPConn).File()
	server.Close()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	cmd := exec.Command(exe, append([]string{"-V", "-S"}, args...)...)
	cmd.Env = append(os.Environ(), runAsQmqpd+"=1", "MAIL_CONFIG="+filepath.Join(dir, "etc"))
	cmd.Dir = dir
	cmd.Stdin, cmd.Stdout = f, f
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	client.Write(input)
	client.SetReadDeadline(time.Now().Add(20 * time.Second))
	r, err := qmqp.ReadReply(client)
	cmd.Wait()
	if err != nil {
		reply = ""
	} else {
		reply = string(r.Netstring())
	}
	return reply, client.LocalAddr().(*net.TCPAddr).Port, cmd.ProcessState.ExitCode(), errBuf.String()
}

// TestStdioSocket: -S with a network socket on standard input: like
// Postfix, the client's real address is used, and the server insists on
// mail_owner's privileges (-u gives them up).
func TestStdioSocket(t *testing.T) {
	t.Parallel()
	owner, err := user.Lookup("postfix")
	if err != nil {
		t.Skip("no postfix user")
	}
	if strconv.Itoa(os.Geteuid()) == owner.Uid {
		t.Skip("runs as mail_owner")
	}
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "etc"), 0o755)
	writeMainCF(t, dir, "mail_owner = postfix\nqmqpd_client_port_logging = yes\n")
	pkt := qmqp.AppendPacket(nil, []byte("Subject: x\n\nbody\n"), "a@example.org", []string{"b@example.net"})
	reply, _, code, stderr := stdioSocket(t, dir, pkt)
	want := fmt.Sprintf("postfix/qmqpd: error: incorrect QMQP server privileges: uid=%d euid=%d\npostfix/qmqpd: fatal: the Postfix QMQP server must run with $mail_owner privileges\n", os.Getuid(), os.Geteuid())
	if code != 1 || stderr != want || reply != "" {
		t.Errorf("without -u: exit %d, reply %q, stderr %q, want %q", code, reply, stderr, want)
	}
	if os.Geteuid() != 0 {
		return
	}
	reply, port, code, stderr := stdioSocket(t, dir, pkt, "-u")
	if code != 0 || !strings.Contains(reply, ":KOk: queued as ") {
		t.Fatalf("with -u: exit %d, reply %q, stderr %s", code, reply, stderr)
	}
	if want := fmt.Sprintf("postfix/qmqpd: connect from localhost[127.0.0.1]:%d\n", port); !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr %q, want it to start with %q", stderr, want)
	}
}

// queueFiles lists the regular files below dir/incoming.
func queueFiles(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(filepath.Join(dir, "incoming"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			names = append(names, d.Name())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestReloadQueueDirectory: SIGHUP with a new queue_directory switches new
// clients to the new queue (created as at start-up) while a session in
// progress finishes in the old one.
func TestReloadQueueDirectory(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--listen", "127.0.0.1:0")
	// A session in progress: connected, packet partly sent.
	c, err := net.Dial("tcp", s.addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pkt := string(qmqp.AppendPacket(nil, []byte("Subject: x\n\nbody\n"), "sender@example.org", []string{"a@b.net"}))
	if _, err := io.WriteString(c, pkt[:10]); err != nil {
		t.Fatal(err)
	}
	s.waitLog(": client=localhost[127.0.0.1]")

	writeMainCF(t, s.dir, "queue_directory = spool2\n")
	s.signal(syscall.SIGHUP)
	s.waitLog("queue_directory changed from " + filepath.Join(s.dir, "spool") + " to spool2: new messages go to the new queue, messages in progress finish in the old one")
	s.waitLog("reload -- configuration " + s.cfgDir)
	if r := send(t, s.addrs[0], "x@example.net"); r.Code != 'K' {
		t.Fatalf("after reload: %v", r)
	}
	// The session that began before the reload.
	if _, err := io.WriteString(c, pkt[10:]); err != nil {
		t.Fatal(err)
	}
	r, err := qmqp.ReadReply(c)
	if err != nil || r.Code != 'K' {
		t.Fatalf("session in progress: %v %v", r, err)
	}
	old, nu := queueFiles(t, filepath.Join(s.dir, "spool")), queueFiles(t, filepath.Join(s.dir, "spool2"))
	if len(old) != 1 || !strings.Contains(r.Text, old[0]) {
		t.Errorf("old queue %v, reply %q", old, r.Text)
	}
	if len(nu) != 1 {
		t.Errorf("new queue %v", nu)
	}
	for sub, mode := range map[string]os.FileMode{"incoming": 0o700, "public": 0o710} {
		fi, err := os.Stat(filepath.Join(s.dir, "spool2", sub))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("spool2/%s: %v %v", sub, fi, err)
		}
	}
	// Large messages spool in the new queue too: the old one can go.
	if err := os.RemoveAll(filepath.Join(s.dir, "spool")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	big := "Subject: big\n\n" + strings.Repeat("0123456789012345678901234567890123456789012345678901234567890123456789\n", 3000)
	if r, err := qmqp.Send(ctx, s.addrs[0], []byte(big), "sender@example.org", []string{"x@example.net"}); err != nil || r.Code != 'K' {
		t.Fatalf("large message after the old queue was removed: %v %v", r, err)
	}
	// A queue directory that cannot be made: the reload fails, the
	// current queue stays.
	if err := os.WriteFile(filepath.Join(s.dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	writeMainCF(t, s.dir, "queue_directory = file/spool3\n")
	s.signal(syscall.SIGHUP)
	s.waitLog("reload failed, keeping the old configuration: ")
	if r := send(t, s.addrs[0], "x@example.net"); r.Code != 'K' {
		t.Fatalf("after the failed reload: %v", r)
	}
	if nu := queueFiles(t, filepath.Join(s.dir, "spool2")); len(nu) != 3 {
		t.Errorf("new queue after the failed reload: %v", nu)
	}
	s.signal(syscall.SIGTERM)
	s.wait()
}
