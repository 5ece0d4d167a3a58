package reliability

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/qmqpd/cli"
)

// The test binary doubles as the qmqpd command: with childEnv set it runs
// cli.Main (the code of cmd/qmqpd) with the arguments in childArgsEnv, so
// the signal, crash and resource-limit tests exercise the real daemon in
// its own process without a separate build step.
const (
	childEnv      = "RELIAB_CHILD"
	childArgsEnv  = "RELIAB_CHILD_ARGS"  // US-separated (0x1f) arguments after argv[0]
	childFsizeEnv = "RELIAB_CHILD_FSIZE" // RLIMIT_FSIZE in bytes, if set
)

func childMain() int {
	if v := os.Getenv(childFsizeEnv); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad", childFsizeEnv, v)
			return 2
		}
		// The Go runtime ignores SIGXFSZ, so writes beyond the limit fail
		// with EFBIG, as they do in Postfix (which ignores the signal too).
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
			fmt.Fprintln(os.Stderr, "setrlimit:", err)
			return 2
		}
	}
	args := []string{os.Getenv(childEnv)}
	if a := os.Getenv(childArgsEnv); a != "" {
		args = append(args, strings.Split(a, "\x1f")...)
	}
	env := cli.OSEnv()
	env.Args = args
	return cli.Main(env)
}

// child is a qmqpd process started from the test binary.
type child struct {
	t     testing.TB
	cmd   *exec.Cmd
	addr  string
	dir   string // queue directory
	conf  string // config directory
	log   string // maillog_file
	done  chan error
	ended bool
}

// childConf writes a main.cf for a standalone qmqpd with the built-in
// cleanup and returns its directory; extra lines are appended.
func childConf(t testing.TB, queueDir string, extra ...string) (confDir, logFile string) {
	t.Helper()
	confDir = t.TempDir()
	logFile = filepath.Join(confDir, "maillog")
	lines := []string{
		"compatibility_level = 3.6",
		"queue_directory = " + queueDir,
		"myhostname = reliab.example.org",
		"mydomain = example.org",
		"inet_protocols = ipv4",
		"qmqpd_authorized_clients = 127.0.0.0/8",
		"qmqpd_error_delay = 0s",
		"qmqpd_cleanup_mode = builtin",
		"maillog_file = " + logFile,
		"maillog_file_prefixes = /",
		"smtputf8_enable = no",
	}
	// An extra line replaces the default of the same parameter.
	for _, x := range extra {
		name, _, _ := strings.Cut(x, "=")
		name = strings.TrimSpace(name)
		for i, l := range lines {
			if n, _, _ := strings.Cut(l, "="); strings.TrimSpace(n) == name {
				lines = append(lines[:i], lines[i+1:]...)
				break
			}
		}
	}
	lines = append(lines, extra...)
	if err := os.WriteFile(filepath.Join(confDir, "main.cf"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return confDir, logFile
}

// startChild runs "qmqpd --listen 127.0.0.1:0" with the configuration in
// confDir and waits until it listens. setup may change the command (limits,
// credentials) before it starts.
func startChild(t testing.TB, queueDir, confDir, logFile string, env []string, setup func(*exec.Cmd), args ...string) *child {
	t.Helper()
	return startChildWith(t, false, queueDir, confDir, logFile, env, setup, args...)
}

// startChildWith is startChild; with socketActivation the listening socket
// is handed over through LISTEN_FDS instead of --listen and --ready-file.
func startChildWith(t testing.TB, socketActivation bool, queueDir, confDir, logFile string, env []string, setup func(*exec.Cmd), args ...string) *child {
	t.Helper()
	ready := filepath.Join(confDir, "ready")
	os.Remove(ready)
	all := append([]string{"--listen", "127.0.0.1:0", "--ready-file", ready}, args...)
	var activated net.Listener
	if socketActivation {
		// The listening socket is passed as systemd does (LISTEN_FDS).
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		activated = l
		all = args
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=qmqpd", childArgsEnv+"="+strings.Join(all, "\x1f"), "MAIL_CONFIG="+confDir)
	cmd.Env = append(cmd.Env, env...)
	if activated != nil {
		f, err := activated.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		defer activated.Close()
		cmd.ExtraFiles = []*os.File{f}
		cmd.Env = append(cmd.Env, "LISTEN_FDS=1")
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if setup != nil {
		setup(cmd)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, dir: queueDir, conf: confDir, log: logFile, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if !c.ended {
			cmd.Process.Kill()
			<-c.done
		}
	})
	if activated != nil {
		c.addr = activated.Addr().String()
		// Wait until the daemon has taken over the socket.
		if !settle(func() bool { return strings.Contains(c.logText(), "daemon started") }) {
			t.Fatalf("qmqpd did not start\n%s\n%s", stderr.String(), c.logText())
		}
		return c
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(ready)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			c.addr = strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
			return c
		}
		select {
		case err := <-c.done:
			c.ended = true
			t.Fatalf("qmqpd exited before listening: %v\n%s\nlog:\n%s", err, stderr.String(), c.logText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("qmqpd did not start listening\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *child) pid() string { return strconv.Itoa(c.cmd.Process.Pid) }

// signal sends sig and waits (bounded) for the process to end.
func (c *child) signal(sig syscall.Signal, wait time.Duration) error {
	c.cmd.Process.Signal(sig)
	select {
	case err := <-c.done:
		c.ended = true
		return err
	case <-time.After(wait):
		return fmt.Errorf("qmqpd still running %v after signal %v", wait, sig)
	}
}

func (c *child) logText() string {
	b, _ := os.ReadFile(c.log)
	return string(b)
}

// rss returns the child's resident set size in KiB.
func (c *child) rss(t testing.TB) int {
	b, err := os.ReadFile("/proc/" + c.pid() + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
