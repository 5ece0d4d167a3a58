// Package master runs the project's qmqpd under a real Postfix 3.7.11
// master(8), in place of Postfix's own qmqpd, and checks that mail sent by
// Postfix's qmqp-source goes through it and the real queue manager to
// delivery, in both cleanup modes, with no complaint from master.
package master

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/postfixtest"
	"github.com/qmqpd-go/qmqpd/internal/testenv"
)

// buildQmqpd compiles cmd/qmqpd into a directory master(8) can execute
// from.
func buildQmqpd(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "qmqpd")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/qmqpd-go/qmqpd/cmd/qmqpd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// qmqpSource sends count messages with Postfix's qmqp-source to addr and
// returns its output (it prints nothing when every reply is K).
func qmqpSource(t *testing.T, addr, to string, count int, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := append([]string{"-m", strconv.Itoa(count), "-f", "sender@example.org", "-t", to}, extra...)
	cmd := exec.CommandContext(ctx, testenv.RealQmqpSource, append(args, addr)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("qmqp-source %s: %v\n%s", addr, err, out.String())
	}
	return out.String()
}

// waitLog polls the instance log until match finds n matches or time runs
// out.
func waitLog(t *testing.T, inst *postfixtest.Instance, re *regexp.Regexp, n int) [][]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := re.FindAllStringSubmatch(inst.Log(), -1)
		if len(m) >= n {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("log has %d lines matching %s, want %d:\n%s", len(m), re, n, inst.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestUnderMaster: our qmqpd in master.cf, three services:
// the default (cleanup mode "service": Postfix's cleanup over
// public/cleanup), one with -o qmqpd_cleanup_mode=builtin, and one with
// max_use 1 and a short max_idle.
func TestUnderMaster(t *testing.T) {
	testenv.NeedPostfix(t)
	testenv.NeedRoot(t, "running a real master(8)")
	bin := buildQmqpd(t)
	inst := postfixtest.StartWith(t, postfixtest.Options{
		QmqpdBinary: bin,
		Deliver:     true,
		ExtraServices: []string{
			"{ADDR0} inet n - n - - qmqpd -o qmqpd_cleanup_mode=builtin",
			"{ADDR1} inet n - n - 1 qmqpd -o max_use=1",
			"{ADDR2} inet n - n - 1 qmqpd -o max_idle=1s",
			// chroot = y: master passes -c.
			"{ADDR3} inet n - y - - qmqpd",
			"{ADDR4} inet n - y - - qmqpd -o qmqpd_cleanup_mode=builtin",
		},
	})
	service, builtin, limited, idle := inst.Addr, inst.ExtraAddrs[0], inst.ExtraAddrs[1], inst.ExtraAddrs[2]
	chrootService, chrootBuiltin := inst.ExtraAddrs[3], inst.ExtraAddrs[4]

	// Both cleanup modes: qmqp-source gets K (it prints nothing then) and
	// the real qmgr delivers every message.
	for _, c := range []struct{ addr, rcpt string }{
		{service, "svc@example.net"},
		{builtin, "builtin@example.net"},
	} {
		if out := qmqpSource(t, c.addr, c.rcpt, 3); out != "" {
			t.Errorf("qmqp-source to %s: %s", c.addr, out)
		}
	}
	sent := regexp.MustCompile(`postfix/discard\[\d+\]: ([0-9A-F]+): to=<(svc|builtin)@example\.net>, relay=none, .*status=sent`)
	waitLog(t, inst, sent, 6)
	removed := regexp.MustCompile(`postfix/qmgr\[\d+\]: ([0-9A-F]+): removed`)
	waitLog(t, inst, removed, 6)
	log := inst.Log()
	for _, want := range []string{
		"postfix/qmqpd[", ": client=localhost[127.0.0.1]",
		// The service mode hands the message to Postfix's cleanup.
		"postfix/cleanup[",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	// In builtin mode our qmqpd logs cleanup's message-id line itself,
	// with cleanup's tag.
	qmqpdPIDs := map[string]bool{}
	for _, m := range regexp.MustCompile(`postfix/qmqpd\[(\d+)\]: `).FindAllStringSubmatch(log, -1) {
		qmqpdPIDs[m[1]] = true
	}
	builtinLines := 0
	for _, m := range regexp.MustCompile(`postfix/cleanup\[(\d+)\]: [0-9A-F]+: message-id=<`).FindAllStringSubmatch(log, -1) {
		if qmqpdPIDs[m[1]] {
			builtinLines++
		}
	}
	if builtinLines != 3 {
		t.Errorf("%d message-id lines from the built-in cleanup, want 3:\n%s", builtinLines, log)
	}

	// max_use = 1: every connection gets a fresh process.
	qmqpSource(t, limited, "limited@example.net", 1)
	qmqpSource(t, limited, "limited@example.net", 1)
	if pids := sessionPIDs(t, inst, "limited@example.net", 2); len(pids) != 2 || pids[0] == pids[1] {
		t.Errorf("max_use=1: sessions ran in processes %v, want two different ones", pids)
	}
	// max_idle = 1s: the process exits on its own after its session.
	qmqpSource(t, idle, "idle@example.net", 1)
	if pids := sessionPIDs(t, inst, "idle@example.net", 1); len(pids) == 1 {
		waitGone(t, pids[0])
	}

	// Chrooted to the queue directory, in both modes; the log lines still
	// reach postlogd. The messages are large (300 kB), so they wait in a
	// spool file in incoming/ while the recipients are read.
	for _, c := range []struct{ addr, rcpt string }{
		{chrootService, "chroot-svc@example.net"},
		{chrootBuiltin, "chroot-builtin@example.net"},
	} {
		if out := qmqpSource(t, c.addr, c.rcpt, 1, "-l", "300000"); out != "" {
			t.Errorf("qmqp-source to chrooted %s: %s", c.addr, out)
		}
		pids := sessionPIDs(t, inst, c.rcpt, 1)
		if len(pids) != 1 {
			t.Errorf("chrooted: no client= line for %s", c.rcpt)
			continue
		}
		if root, err := os.Readlink("/proc/" + pids[0] + "/root"); err == nil && root != inst.QueueDir {
			t.Errorf("process %s has root %s, want %s", pids[0], root, inst.QueueDir)
		}
	}

	// postfix reload (SIGHUP to master): the processes of the old
	// generation go away, and mail still flows afterwards.
	before := map[string]bool{}
	for _, m := range regexp.MustCompile(`postfix/qmqpd\[(\d+)\]: `).FindAllStringSubmatch(inst.Log(), -1) {
		before[m[1]] = true
	}
	inst.Reload()
	for pid := range before {
		waitGone(t, pid)
	}
	waitLog(t, inst, regexp.MustCompile(`postfix/master\[\d+\]: reload`), 1)
	if out := qmqpSource(t, builtin, "reload@example.net", 1); out != "" {
		t.Errorf("after reload: %s", out)
	}
	waitLog(t, inst, regexp.MustCompile(`to=<reload@example\.net>, relay=none, .*status=sent`), 1)

	// Standalone, with this instance's main.cf and
	// qmqpd_cleanup_mode = service: through the real public/cleanup.
	standalone := exec.Command(bin, "-o", "qmqpd_cleanup_mode=service", "--listen", "127.0.0.1:0", "--ready-file", filepath.Join(inst.Root, "ready"))
	standalone.Env = append(os.Environ(), "MAIL_CONFIG="+inst.ConfigDir)
	var stderr bytes.Buffer
	standalone.Stderr = &stderr
	if err := standalone.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standalone.Process.Kill(); standalone.Wait() })
	addr := waitReady(t, filepath.Join(inst.Root, "ready"))
	if out := qmqpSource(t, addr, "standalone@example.net", 1); out != "" {
		t.Errorf("standalone, service mode: %s", out)
	}
	waitLog(t, inst, regexp.MustCompile(`to=<standalone@example\.net>, relay=none, .*status=sent`), 1)
	standalone.Process.Signal(syscall.SIGTERM)
	if err := standalone.Wait(); err != nil {
		t.Errorf("standalone exit: %v: %s", err, stderr.String())
	}

	// No warning (or worse) from master, and none from our qmqpd.
	for _, line := range strings.Split(inst.Log(), "\n") {
		if (strings.Contains(line, "postfix/master[") || strings.Contains(line, "postfix/qmqpd[")) &&
			regexp.MustCompile(`: (warning|error|fatal|panic): `).MatchString(line) {
			t.Errorf("log: %s", line)
		}
	}

	// When master goes away, our processes exit (the service-mode one
	// is still waiting for clients: process limit 100, max_idle 100s).
	ours := map[string]bool{}
	for _, m := range regexp.MustCompile(`postfix/qmqpd\[(\d+)\]: `).FindAllStringSubmatch(inst.Log(), -1) {
		ours[m[1]] = true
	}
	if err := syscall.Kill(inst.MasterPID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for pid := range ours {
		waitGone(t, pid)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("log:\n%s", inst.Log())
	}
}

// sessionPIDs returns the pids of the qmqpd processes that received the
// n messages for rcpt, once they are delivered.
func sessionPIDs(t *testing.T, inst *postfixtest.Instance, rcpt string, n int) []string {
	t.Helper()
	waitLog(t, inst, regexp.MustCompile(`postfix/discard\[\d+\]: [0-9A-F]+: to=<`+regexp.QuoteMeta(rcpt)+`>`), n)
	log := inst.Log()
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`([0-9A-F]+): to=<`+regexp.QuoteMeta(rcpt)+`>`).FindAllStringSubmatch(log, -1) {
		ids[m[1]] = true
	}
	var pids []string
	for _, m := range regexp.MustCompile(`postfix/qmqpd\[(\d+)\]: ([0-9A-F]+): client=`).FindAllStringSubmatch(log, -1) {
		if ids[m[2]] {
			pids = append(pids, m[1])
		}
	}
	return pids
}

// waitReady waits for a --ready-file and returns its first address.
func waitReady(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil {
			return strings.Fields(string(b))[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGone waits until process pid no longer exists.
func waitGone(t *testing.T, pid string) {
	t.Helper()
	n, _ := strconv.Atoi(pid)
	deadline := time.Now().Add(15 * time.Second)
	for syscall.Kill(n, 0) == nil {
		if time.Now().After(deadline) {
			t.Errorf("process %d still running", n)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
