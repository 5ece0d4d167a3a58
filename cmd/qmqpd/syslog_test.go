package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the qmqpd command (its main function) when
// this variable is set, so the tests below run the command exactly as
// installed.
const runAsQmqpd = "QMQPD_MAIN_TEST_RUN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsQmqpd) != "" {
		os.Unsetenv(runAsQmqpd)
		main()
		return
	}
	os.Exit(m.Run())
}

// syslogServer is a fake syslog daemon: a unix datagram socket the command
// is pointed at with QMQPD_TEST_SYSLOG_SOCKET (a test-only variable).
type syslogServer struct {
	path string
	conn *net.UnixConn
	got  chan string
}

func newSyslog(t *testing.T, dir string) *syslogServer {
	t.Helper()
	path := filepath.Join(dir, "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	s := &syslogServer{path: path, conn: conn, got: make(chan string, 100)}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(s.got)
				return
			}
			s.got <- string(buf[:n])
		}
	}()
	return s
}

// expect waits for datagrams matching each pattern, in order (other
// datagrams in between are skipped). PID in a pattern stands for pid.
func (s *syslogServer) expect(t *testing.T, pid int, patterns ...string) {
	t.Helper()
	var seen []string
	for _, p := range patterns {
		re := regexp.MustCompile("^" + strings.ReplaceAll(p, "PID", strconv.Itoa(pid)) + "$")
		for found := false; !found; {
			select {
			case d := <-s.got:
				seen = append(seen, d)
				found = re.MatchString(d)
				if found {
					checkStamp(t, d)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no datagram matching %q; got:\n%s", p, strings.Join(seen, "\n"))
			}
		}
	}
}

// checkStamp checks the time stamp of a datagram: syslog(3)'s
// "Mmm dd hh:mm:ss" in local time, now.
func checkStamp(t *testing.T, d string) {
	t.Helper()
	i := strings.IndexByte(d, '>')
	stamp, err := time.ParseInLocation(time.Stamp, d[i+1:i+1+len(time.Stamp)], time.Local)
	if err != nil {
		t.Errorf("datagram %q: time stamp: %v", d, err)
		return
	}
	now := time.Now()
	stamp = stamp.AddDate(now.Year(), 0, 0)
	if diff := now.Sub(stamp); diff < -time.Minute || diff > time.Minute {
		t.Errorf("datagram %q: time stamp %v is not now (%v)", d, stamp, now)
	}
}

func writeConfig(t *testing.T, dir string) string {
	t.Helper()
	etc := filepath.Join(dir, "etc")
	if err := os.Mkdir(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	text := `compatibility_level = 3.6
mail_owner = daemon
default_privs = nobody
setgid_group = bin
myhostname = mx.example.org
inet_protocols = ipv4
queue_directory = ` + filepath.Join(dir, "spool") + `
qmqpd_authorized_clients = 127.0.0.0/8
qmqpd_error_delay = 0s
syslog_name = mytag
syslog_facility = local3
`
	if err := os.WriteFile(filepath.Join(etc, "main.cf"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return etc
}

func command(t *testing.T, dir, etc, socket string, env []string, args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Installed under its own name: the process name in log lines comes
	// from argv[0].
	link := filepath.Join(dir, "qmqpd")
	if _, err := os.Lstat(link); err != nil {
		if err := os.Symlink(exe, link); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(link, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), runAsQmqpd+"=1", "MAIL_CONFIG="+etc, "QMQPD_TEST_SYSLOG_SOCKET="+socket)
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

func packet(rcpts ...string) string {
	ns := func(s string) string { return fmt.Sprintf("%d:%s,", len(s), s) }
	inner := ns("Subject: x\n\nbody\n") + ns("sender@example.org")
	for _, r := range rcpts {
		inner += ns(r)
	}
	return ns(inner)
}

// Priorities: facility local3 (19) with info (6), warning (4) and crit
// (2, fatal); the default facility mail (2) with info.
const (
	priInfo    = "<158>"
	priWarning = "<156>"
	priFatal   = "<154>"
	priMail    = "<22>"
	stamp      = `[A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d `
	qid        = `[0-9A-F]{10,12}`
)

// TestSyslogStdio runs qmqpd -S with syslog logging and checks the
// datagrams: priority from syslog_facility and the level, the tag from
// syslog_name (cleanup's lines with "/cleanup"), the pid, Postfix's texts.
func TestSyslogStdio(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	etc := writeConfig(t, dir)
	sl := newSyslog(t, dir)

	for _, tc := range []struct {
		name     string
		input    string
		reply    string
		patterns []string
	}{
		{"accepted", packet("rcpt@example.net"), ":KOk: queued as ", []string{
			priInfo + stamp + `mytag/qmqpd\[PID\]: connect from localhost\[127\.0\.0\.1\]`,
			priInfo + stamp + `mytag/qmqpd\[PID\]: ` + qid + `: client=localhost\[127\.0\.0\.1\]`,
			priInfo + stamp + `mytag/cleanup\[PID\]: ` + qid + `: message-id=<\d+\.` + qid + `@mx\.example\.org>`,
			priInfo + stamp + `mytag/qmqpd\[PID\]: disconnect from localhost\[127\.0\.0\.1\]`,
		}},
		{"rejected", packet(), ":DError: no recipients specified,", []string{
			priWarning + stamp + `mytag/qmqpd\[PID\]: warning: ` + qid + `: localhost\[127\.0\.0\.1\]: Error: no recipients specified`,
		}},
	} {
		cmd := command(t, dir, etc, sl.path, nil, "-S")
		cmd.Stdin = strings.NewReader(tc.input)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !strings.Contains(string(out), tc.reply) {
			t.Errorf("%s: reply %q", tc.name, out)
		}
		sl.expect(t, cmd.Process.Pid, tc.patterns...)
	}

	// $MAIL_VERBOSE: "daemon started" comes before main.cf is read, so
	// with Postfix's default name and facility; then a fatal error.
	cmd := command(t, dir, etc, sl.path, []string{"MAIL_VERBOSE=1", "GENERATION=1x"}, "-S")
	cmd.Stdin = strings.NewReader("")
	if err := cmd.Run(); err == nil {
		t.Fatal("bad generation: no error")
	}
	sl.expect(t, cmd.Process.Pid,
		priMail+stamp+`postfix/qmqpd\[PID\]: daemon started`,
		priFatal+stamp+`mytag/qmqpd\[PID\]: fatal: bad generation: 1x`)
}

// TestSyslogStandalone: the standalone server's lines go to syslog too.
func TestSyslogStandalone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	etc := writeConfig(t, dir)
	sl := newSyslog(t, dir)
	ready := filepath.Join(dir, "ready")
	cmd := command(t, dir, etc, sl.path, nil, "--listen", "127.0.0.1:0", "--ready-file", ready)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})
	sl.expect(t, cmd.Process.Pid,
		priInfo+stamp+`mytag/qmqpd\[PID\]: daemon started -- configuration .*/etc, listening on 127\.0\.0\.1:\d+`)
	b, err := os.ReadFile(ready)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, packet("rcpt@example.net"))
	buf := make([]byte, 100)
	n, _ := c.Read(buf)
	c.Close()
	if !strings.Contains(string(buf[:n]), ":KOk: queued as ") {
		t.Errorf("reply %q", buf[:n])
	}
	sl.expect(t, cmd.Process.Pid,
		priInfo+stamp+`mytag/qmqpd\[PID\]: connect from localhost\[127\.0\.0\.1\]`,
		priInfo+stamp+`mytag/cleanup\[PID\]: `+qid+`: message-id=<.*>`,
		priInfo+stamp+`mytag/qmqpd\[PID\]: disconnect from localhost\[127\.0\.0\.1\]`)
	cmd.Process.Signal(syscall.SIGTERM)
	sl.expect(t, cmd.Process.Pid, priInfo+stamp+`mytag/qmqpd\[PID\]: terminating on signal 15`)
	if err := <-done; err != nil {
		t.Errorf("exit: %v", err)
	}
}
