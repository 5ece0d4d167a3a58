// Package postfixtest runs a private, throw-away instance of the real Postfix
// 3.7.11 daemons for interop tests: master(8) with qmqpd(8), cleanup(8),
// trivial-rewrite(8) and postlogd(8), but no qmgr(8), so every message a test
// sends stays in $queue_directory/incoming where the test can read it.
//
// A typical test:
//
//	inst := postfixtest.Start(t, map[string]string{"myhostname": "mx.example.org"})
//	reply := inst.SendQMQP(postfixtest.Packet([]byte("Subject: x\n\nbody\n"), "a@example.com", "b@example.net"))
//	files := inst.IncomingFiles() // queue IDs -> file contents
//
// The instance listens on a free loopback port picked at start, lives in a
// temporary directory, logs to a file (see Log) and is stopped by t.Cleanup.
// Starting the master needs root (as Postfix itself does); Start skips the
// test when real Postfix is missing or the test does not run as root, and
// fails it instead when QMQPD_INTEROP=require.
package postfixtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/queuelayout"
	"github.com/qmqpd-go/qmqpd/internal/testenv"
)

// Instance is one running private Postfix instance.
type Instance struct {
	t testing.TB
	// Root is the instance's scratch directory.
	Root string
	// ConfigDir holds main.cf and master.cf (use it as MAIL_CONFIG / -c).
	ConfigDir string
	// QueueDir is the instance's queue_directory.
	QueueDir string
	// Addr is the qmqpd listener, "127.0.0.1:PORT".
	Addr string
	// LogFile is the instance's maillog_file.
	LogFile string
	// MainCF is the complete set of main.cf parameters the instance runs with.
	MainCF map[string]string
	// ExtraAddrs are the addresses that replaced {ADDRn} in
	// Options.ExtraServices.
	ExtraAddrs []string

	masterPID int
}

// Defaults are the main.cf settings every instance starts from; the map given
// to Start is applied on top of them. They match the reference instance of
// the project's notes (compatibility_level 3.6, ipv4, smtputf8 off), and set
// in_flow_delay and qmqpd_error_delay to 0 so tests do not sleep (neither
// changes what is written to a queue file or replied).
func Defaults() map[string]string {
	return map[string]string{
		"compatibility_level":          "3.6",
		"myhostname":                   "research.example.org",
		"mydomain":                     "example.org",
		"inet_protocols":               "ipv4",
		"smtputf8_enable":              "no",
		"qmqpd_authorized_clients":     "127.0.0.0/8",
		"in_flow_delay":                "0",
		"qmqpd_error_delay":            "0",
		"maillog_file_prefixes":        "/var, /dev/stdout, /tmp",
		"biff":                         "no",
		"alias_maps":                   "",
		"alias_database":               "",
		"mynetworks":                   "127.0.0.0/8",
		"local_recipient_maps":         "",
		"relay_domains":                "",
		"smtpd_relay_restrictions":     "permit",
		"smtpd_recipient_restrictions": "permit",
		// postlogd exits after max_use requests, and lines sent while
		// master restarts it are lost; tests wait for log lines.
		"max_use": "100000",
	}
}

// Options configure StartWith.
type Options struct {
	// MainCF overrides Defaults.
	MainCF map[string]string
	// QmqpdBinary, when set, replaces Postfix's qmqpd: the instance gets
	// its own daemon_directory, with links to the real daemons and this
	// program as "qmqpd" (master(8) runs commands from daemon_directory
	// only), so every master.cf line that names qmqpd runs it.
	QmqpdBinary string
	// QmqpdArgs are extra master.cf arguments of that service (e.g. "-o",
	// "name=value").
	QmqpdArgs []string
	// ExtraServices are more master.cf lines. Each "{ADDRn}" (n = 0, 1, ...)
	// is replaced by a fresh free loopback address "127.0.0.1:PORT", kept
	// in Instance.ExtraAddrs[n].
	ExtraServices []string
	// Deliver also runs qmgr(8) with bounce, defer and trace, and sends
	// every message to the discard(8) transport, so that mail leaves the
	// queue and its delivery is logged.
	Deliver bool
}

// Start creates, configures and starts a private instance with the Defaults
// overridden by mainCF, and registers its shutdown with t.Cleanup.
func Start(t testing.TB, mainCF map[string]string) *Instance {
	t.Helper()
	return StartWith(t, Options{MainCF: mainCF})
}

// StartWith is Start with more choices (see Options).
func StartWith(t testing.TB, opts Options) *Instance {
	t.Helper()
	testenv.NeedPostfix(t)
	testenv.NeedRoot(t, "postfixtest: starting a real Postfix master")
	var inst *Instance
	var err error
	// The ports come from freePort, so another process (a parallel test's
	// client, say) may take one before master(8) binds it: start again on
	// new ports then.
	for attempt := 0; attempt < 3; attempt++ {
		if inst, err = start(t, opts); err == nil || !strings.Contains(err.Error(), "Address already in use") {
			break
		}
	}
	if err != nil {
		t.Fatalf("postfixtest: %v", err)
	}
	return inst
}

func start(t testing.TB, opts Options) (*Instance, error) {
	mainCF := opts.MainCF
	root, err := os.MkdirTemp("", "postfixtest-")
	if err != nil {
		return nil, err
	}
	inst := &Instance{
		t:         t,
		Root:      root,
		ConfigDir: filepath.Join(root, "etc"),
		QueueDir:  filepath.Join(root, "spool"),
		LogFile:   filepath.Join(root, "maillog"),
		MainCF:    Defaults(),
	}
	t.Cleanup(inst.stop)
	if opts.Deliver {
		for k, v := range map[string]string{
			"default_transport": "discard",
			"local_transport":   "discard",
			"relay_transport":   "discard",
			"mydestination":     "",
		} {
			inst.MainCF[k] = v
		}
	}
	for k, v := range mainCF {
		inst.MainCF[k] = v
	}
	inst.MainCF["queue_directory"] = inst.QueueDir
	inst.MainCF["data_directory"] = filepath.Join(root, "data")
	inst.MainCF["maillog_file"] = inst.LogFile

	if err := os.Chmod(root, 0o755); err != nil {
		return nil, err
	}
	if err := os.Mkdir(inst.ConfigDir, 0o755); err != nil {
		return nil, err
	}
	if err := queuelayout.Create(inst.QueueDir, filepath.Join(root, "data")); err != nil {
		return nil, err
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	inst.Addr = fmt.Sprintf("127.0.0.1:%d", port)

	if opts.QmqpdBinary != "" {
		dd := filepath.Join(root, "libexec")
		if err := linkDaemons(dd, opts.QmqpdBinary); err != nil {
			return nil, err
		}
		inst.MainCF["daemon_directory"] = dd
	}
	var main strings.Builder
	keys := make([]string, 0, len(inst.MainCF))
	for k := range inst.MainCF {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&main, "%s = %s\n", k, inst.MainCF[k])
	}
	if err := os.WriteFile(filepath.Join(inst.ConfigDir, "main.cf"), []byte(main.String()), 0o644); err != nil {
		return nil, err
	}
	command := "qmqpd"
	master := fmt.Sprintf(`%s inet n - n - - %s
cleanup   unix  n       -       n       -       0       cleanup
rewrite   unix  -       -       n       -       -       trivial-rewrite
postlog   unix-dgram n  -       n       -       1       postlogd
`, inst.Addr, strings.Join(append([]string{command}, opts.QmqpdArgs...), " "))
	if opts.Deliver {
		master += `qmgr      unix  n       -       n       300     1       qmgr
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
discard   unix  -       -       n       -       -       discard
`
	}
	for _, line := range opts.ExtraServices {
		for n := 0; strings.Contains(line, "{ADDR"); n++ {
			tok := fmt.Sprintf("{ADDR%d}", n)
			for len(inst.ExtraAddrs) <= n {
				p, err := freePort()
				if err != nil {
					return nil, err
				}
				inst.ExtraAddrs = append(inst.ExtraAddrs, fmt.Sprintf("127.0.0.1:%d", p))
			}
			line = strings.ReplaceAll(line, tok, inst.ExtraAddrs[n])
			if n > 100 {
				return nil, fmt.Errorf("bad service line %q", line)
			}
		}
		master += line + "\n"
	}
	if err := os.WriteFile(filepath.Join(inst.ConfigDir, "master.cf"), []byte(master), 0o644); err != nil {
		return nil, err
	}

	cmd := exec.Command(testenv.RealMaster, "-c", inst.ConfigDir, "-w")
	cmd.Env = append(os.Environ(), "MAIL_CONFIG="+inst.ConfigDir, "TZ=UTC")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("start master: %v: %s%s", err, out, inst.Log())
	}
	pidText, err := os.ReadFile(filepath.Join(inst.QueueDir, "pid", "master.pid"))
	if err != nil {
		return nil, fmt.Errorf("master pid: %w", err)
	}
	inst.masterPID, err = strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		return nil, fmt.Errorf("master pid: %w", err)
	}
	// Wait until the listener accepts connections.
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", inst.Addr)
		if err == nil {
			c.Close()
			break
		}
		if i > 200 {
			return nil, fmt.Errorf("qmqpd listener %s never came up: %v", inst.Addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return inst, nil
}

// linkDaemons fills dir with symbolic links to every real Postfix daemon,
// except qmqpd, which links to qmqpd.
func linkDaemons(dir, qmqpd string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(testenv.RealDaemonDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		target := filepath.Join(testenv.RealDaemonDir, e.Name())
		if e.Name() == "qmqpd" {
			continue
		}
		if err := os.Symlink(target, filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	abs, err := filepath.Abs(qmqpd)
	if err != nil {
		return err
	}
	return os.Symlink(abs, filepath.Join(dir, "qmqpd"))
}

// MasterPID returns the pid of the instance's master(8) process.
func (inst *Instance) MasterPID() int { return inst.masterPID }

// Reload makes master(8) re-read its configuration, as "postfix reload"
// does (SIGHUP to the master).
func (inst *Instance) Reload() {
	inst.t.Helper()
	if err := syscall.Kill(inst.masterPID, syscall.SIGHUP); err != nil {
		inst.t.Fatalf("postfixtest: reload: %v", err)
	}
}

// freePort asks the kernel for a free loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// stop terminates the master (its children follow) and removes the scratch
// directory unless the test failed.
func (inst *Instance) stop() {
	if inst.masterPID > 0 {
		_ = syscall.Kill(inst.masterPID, syscall.SIGTERM)
		for i := 0; i < 500; i++ {
			if err := syscall.Kill(inst.masterPID, 0); err != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		inst.masterPID = 0
	}
	if inst.t.Failed() {
		inst.t.Logf("postfixtest: instance kept for inspection in %s", inst.Root)
		return
	}
	_ = os.RemoveAll(inst.Root)
}

// SendQMQP connects to qmqpd, writes packet, half-closes the connection and
// returns everything qmqpd sent back until it closed the connection. A
// connection reset after a reply is not an error.
func (inst *Instance) SendQMQP(packet []byte) []byte {
	inst.t.Helper()
	reply, err := inst.TrySendQMQP(packet)
	if err != nil {
		inst.t.Fatalf("postfixtest: send QMQP: %v", err)
	}
	return reply
}

// TrySendQMQP is SendQMQP returning errors instead of failing the test.
func (inst *Instance) TrySendQMQP(packet []byte) ([]byte, error) {
	c, err := net.Dial("tcp", inst.Addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write(packet); err != nil && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		return nil, err
	}
	_ = c.(*net.TCPConn).CloseWrite()
	reply, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		return reply, err
	}
	return reply, nil
}

// Packet builds a QMQP packet: netstring(netstring(msg) netstring(sender)
// netstring(rcpt)...).
func Packet(msg []byte, sender string, rcpts ...string) []byte {
	var inner bytes.Buffer
	ns := func(b []byte) {
		fmt.Fprintf(&inner, "%d:", len(b))
		inner.Write(b)
		inner.WriteByte(',')
	}
	ns(msg)
	ns([]byte(sender))
	for _, r := range rcpts {
		ns([]byte(r))
	}
	return append(append([]byte(strconv.Itoa(inner.Len())+":"), inner.Bytes()...), ',')
}

// IncomingFiles returns every regular file under $queue_directory/incoming
// (hashed subdirectories included), keyed by file name (the queue ID), with
// its contents.
func (inst *Instance) IncomingFiles() map[string][]byte {
	inst.t.Helper()
	files := map[string][]byte{}
	dir := filepath.Join(inst.QueueDir, "incoming")
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files[d.Name()] = b
		}
		return nil
	})
	if err != nil {
		inst.t.Fatalf("postfixtest: read incoming: %v", err)
	}
	return files
}

// ClearIncoming removes every file under $queue_directory/incoming, so the
// next message's file is easy to find.
func (inst *Instance) ClearIncoming() {
	inst.t.Helper()
	dir := filepath.Join(inst.QueueDir, "incoming")
	ents, err := os.ReadDir(dir)
	if err != nil {
		inst.t.Fatalf("postfixtest: %v", err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			inst.t.Fatalf("postfixtest: %v", err)
		}
	}
}

// Log returns the instance's maillog so far ("" if none yet).
func (inst *Instance) Log() string {
	b, _ := os.ReadFile(inst.LogFile)
	return string(b)
}

// LogLines returns the maillog lines so far with the timestamp, host name
// and program[pid] prefix removed and the program name kept, e.g.
// "cleanup: 93E5698A2F3: message-id=<...>" or "qmqpd: warning: ...".
func (inst *Instance) LogLines() []string {
	var out []string
	for _, line := range strings.Split(inst.Log(), "\n") {
		if prog, text, ok := SplitLogLine(line); ok {
			out = append(out, prog+": "+text)
		}
	}
	return out
}

// SplitLogLine splits a maillog line such as "Nov 24 14:32:53 research
// postfix/cleanup[13104]: text" into the program name without its
// syslog_name and pid ("cleanup") and the text; ok is false for a line of
// another shape.
func SplitLogLine(line string) (prog, text string, ok bool) {
	f := strings.SplitN(line, " ", 6)
	if len(f) < 6 {
		return "", "", false
	}
	prog = f[4]
	if i := strings.IndexByte(prog, '['); i >= 0 {
		prog = prog[:i]
	}
	if i := strings.LastIndexByte(prog, '/'); i >= 0 {
		prog = prog[i+1:]
	}
	return prog, f[5], true
}

// Postcat runs the real postcat with this instance's configuration and the
// given arguments, returning stdout, stderr and the exit error.
func (inst *Instance) Postcat(args ...string) (stdout, stderr string, err error) {
	return RunPostcat(inst.ConfigDir, args...)
}

// RunPostcat runs the real postcat with "-c configDir" (configDir may be ""
// for none) and args, with TZ=UTC.
func RunPostcat(configDir string, args ...string) (stdout, stderr string, err error) {
	if configDir != "" {
		args = append([]string{"-c", configDir}, args...)
	}
	cmd := exec.Command(testenv.RealPostcat, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}
