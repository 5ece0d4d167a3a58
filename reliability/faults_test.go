package reliability

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/cleanupclient"
	"github.com/qmqpd-go/qmqpd/internal/qmqp"
	"github.com/qmqpd-go/qmqpd/internal/qmqpd"
	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// faultFS is the real file system with injected failures.
type faultFS struct {
	queuefile.OSFS
	space     *atomic.Int64 // bytes left on the "disk" (nil = unlimited)
	writeErr  error         // error of a write beyond the space
	createErr error         // every Create fails with this
	syncErr   error         // every Sync fails with this
	chmodErr  error         // every Chmod fails with this
}

func (f *faultFS) Create(name string, perm fs.FileMode) (queuefile.Handle, error) {
	if f.createErr != nil {
		stats.faults.Add(1)
		return nil, &os.PathError{Op: "open", Path: name, Err: f.createErr}
	}
	h, err := f.OSFS.Create(name, perm)
	if err != nil {
		return nil, err
	}
	return &faultHandle{Handle: h, fs: f}, nil
}

type faultHandle struct {
	queuefile.Handle
	fs *faultFS
}

func (h *faultHandle) Write(p []byte) (int, error) {
	if h.fs.space == nil {
		return h.Handle.Write(p)
	}
	left := h.fs.space.Add(-int64(len(p)))
	if left >= 0 {
		return h.Handle.Write(p)
	}
	room := int64(len(p)) + left
	if room < 0 {
		room = 0
	}
	n, _ := h.Handle.Write(p[:room])
	stats.faults.Add(1)
	return n, &os.PathError{Op: "write", Path: "queue file", Err: h.fs.writeErr}
}

func (h *faultHandle) Sync() error {
	if h.fs.syncErr != nil {
		stats.faults.Add(1)
		return &os.PathError{Op: "fsync", Path: "queue file", Err: h.fs.syncErr}
	}
	return h.Handle.Sync()
}

func (h *faultHandle) Chmod(mode fs.FileMode) error {
	if h.fs.chmodErr != nil {
		stats.faults.Add(1)
		return &os.PathError{Op: "fchmod", Path: "queue file", Err: h.fs.chmodErr}
	}
	return h.Handle.Chmod(mode)
}

// result is one message sent during a fault test.
type result struct {
	m     msg
	reply qmqp.Reply
	err   error
}

// sendAll sends msgs over conc parallel connections.
func sendAll(addr string, msgs []msg, conc int) []result {
	out := make([]result, len(msgs))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r, err := send(addr, msgs[i].packet())
				stats.sent.Add(1)
				out[i] = result{msgs[i], r, err}
			}
		}()
	}
	for i := range msgs {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// tally checks every reply against the allowed non-K replies and returns
// the K'd messages by queue ID.
func tally(t *testing.T, res []result, allowed ...string) map[string]msg {
	t.Helper()
	ok := map[string]msg{}
	for i, r := range res {
		if id, k := queuedID(r.reply); k {
			stats.queued.Add(1)
			ok[id] = r.m
			continue
		}
		stats.rejected.Add(1)
		got := r.reply.String()
		if r.err != nil {
			got = "error: " + r.err.Error()
		}
		match := false
		for _, a := range allowed {
			if got == a {
				match = true
			}
		}
		if !match {
			t.Errorf("message %d: reply %q, want K or one of %q", i, got, allowed)
		}
	}
	return ok
}

func bigMsgs(prefix string, n, lines int) []msg {
	var out []msg
	for i := 0; i < n; i++ {
		out = append(out, newMsg(fmt.Sprintf("%s%03d", prefix, i), 2, lines))
	}
	return out
}

const replyWriteError = "ZError: queue file write error"

// TestFaultDiskFull fills the "disk" while messages are written (ENOSPC
// from write(2) through an injected file system): messages that fit are
// answered K and are complete; the others get Postfix's "queue file write
// error" (Z) and leave nothing behind.
func TestFaultDiskFull(t *testing.T) {
	t.Parallel()
	space := &atomic.Int64{}
	space.Store(60 << 10)
	e := start(t, opts{fs: &faultFS{space: space, writeErr: syscall.ENOSPC}})
	res := sendAll(e.addr, bigMsgs("full", 40, 60), 4)
	e.stop()
	ok := tally(t, res, replyWriteError)
	if len(ok) == 0 || len(ok) == len(res) {
		t.Fatalf("%d of %d queued; the disk should fill part way", len(ok), len(res))
	}
	verifyQueue(t, e.dir, ok)
}

// TestFaultSyncAndChmod makes fsync (ENOSPC, as with delayed allocation)
// or fchmod (EIO) fail: the reply is Z and the file is removed.
func TestFaultSyncAndChmod(t *testing.T) {
	t.Parallel()
	for _, f := range []*faultFS{{syncErr: syscall.ENOSPC}, {syncErr: syscall.EIO}, {chmodErr: syscall.EIO}} {
		e := start(t, opts{fs: f})
		res := sendAll(e.addr, bigMsgs("sync", 5, 3), 2)
		e.stop()
		verifyQueue(t, e.dir, tally(t, res, replyWriteError))
		if e.q.opens.Load() != 5 {
			t.Errorf("%d queue files opened, want 5", e.q.opens.Load())
		}
	}
}

// mountTmpfs mounts a tmpfs of the given size (root only); it is unmounted
// at the end of the test. It skips the test where mounting is not allowed;
// the injected-fault tests cover the same paths everywhere.
func mountTmpfs(t *testing.T, size string, ro bool) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root; TestFaultDiskFull covers ENOSPC by injection")
	}
	dir := t.TempDir()
	o := "size=" + size + ",mode=0755"
	if ro {
		o += ",ro"
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", o, "reliab", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs not permitted here: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// TestFaultDiskFullTmpfs fills a real 256 KiB tmpfs with parallel writes.
func TestFaultDiskFullTmpfs(t *testing.T) {
	t.Parallel()
	dir := mountTmpfs(t, "256k", false)
	e := start(t, opts{dir: dir})
	res := sendAll(e.addr, bigMsgs("tmpfs", 60, 80), 6)
	e.stop()
	ok := tally(t, res, replyWriteError)
	if len(ok) == 0 || len(ok) == len(res) {
		t.Fatalf("%d of %d queued; the file system should fill part way", len(ok), len(res))
	}
	stats.faults.Add(int64(len(res) - len(ok)))
	verifyQueue(t, e.dir, ok)

	// Messages above the spool's memory part (queuefile.DefaultSpoolMemory)
	// are spooled to an unnamed file on the same file system first: that
	// write fails too.
	dir = mountTmpfs(t, "2m", false)
	e = start(t, opts{dir: dir})
	spooled := bigMsgs("spool", 16, 4000)
	if n := len(spooled[0].body); n <= queuefile.DefaultSpoolMemory {
		t.Fatalf("message of %d bytes is not spooled", n)
	}
	res = sendAll(e.addr, spooled, 6)
	e.stop()
	ok = tally(t, res, replyWriteError)
	if len(ok) == 0 || len(ok) == len(res) {
		t.Fatalf("spooled: %d of %d queued; the file system should fill part way", len(ok), len(res))
	}
	stats.faults.Add(int64(len(res) - len(ok)))
	verifyQueue(t, e.dir, ok)
}

// TestFaultFileTooLarge: a write failing with EFBIG makes the message "too
// large" (D), as in Postfix; nothing is left behind.
func TestFaultFileTooLarge(t *testing.T) {
	t.Parallel()
	space := &atomic.Int64{}
	space.Store(1 << 40)
	f := &faultFS{space: space, writeErr: syscall.EFBIG}
	e := start(t, opts{fs: f})
	small := bigMsgs("small", 3, 2)
	res := sendAll(e.addr, small, 1)
	space.Store(0)
	res = append(res, sendAll(e.addr, bigMsgs("efbig", 3, 100), 1)...)
	e.stop()
	ok := tally(t, res, "DError: message too large")
	if len(ok) != 3 {
		t.Errorf("%d queued, want the 3 small ones", len(ok))
	}
	verifyQueue(t, e.dir, ok)
}

// TestFaultFileTooLargeRlimit runs the daemon with RLIMIT_FSIZE: the
// kernel refuses the write with EFBIG.
func TestFaultFileTooLargeRlimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf, logf := childConf(t, dir)
	c := startChild(t, dir, conf, logf, []string{childFsizeEnv + "=65536"}, nil)
	msgs := append(bigMsgs("fit", 3, 5), bigMsgs("huge", 3, 2000)...)
	res := sendAll(c.addr, msgs, 2)
	stats.faults.Add(3)
	if err := c.signal(syscall.SIGTERM, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	ok := tally(t, res, "DError: message too large")
	if len(ok) != 3 {
		t.Errorf("%d queued, want the 3 that fit", len(ok))
	}
	verifyQueue(t, dir, ok)
}

// TestFaultUnwritableQueue: the queue directory refuses new files (an
// injected EACCES, and a real read-only file system as root). The client
// gets "queue file write error" (Z), the daemon keeps running, nothing is
// created.
func TestFaultUnwritableQueue(t *testing.T) {
	t.Parallel()
	t.Run("injected", func(t *testing.T) {
		e := start(t, opts{fs: &faultFS{createErr: syscall.EACCES}})
		res := sendAll(e.addr, bigMsgs("eacces", 4, 2), 2)
		e.stop()
		verifyQueue(t, e.dir, tally(t, res, replyWriteError))
		if n := len(tally(t, res, replyWriteError)); n != 0 {
			t.Errorf("%d messages queued", n)
		}
		if !strings.Contains(strings.ToLower(e.log.text()), "permission denied") {
			t.Errorf("no error logged:\n%s", e.log.text())
		}
	})
	t.Run("read-only", func(t *testing.T) {
		dir := mountTmpfs(t, "1m", false)
		makeQueue(t, dir)
		if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
			t.Skipf("remount ro: %v %s", err, out)
		}
		conf, logf := childConf(t, dir)
		c := startChild(t, dir, conf, logf, nil, nil)
		res := sendAll(c.addr, bigMsgs("erofs", 4, 2), 2)
		stats.faults.Add(4)
		if ok := tally(t, res, replyWriteError); len(ok) != 0 {
			t.Errorf("%d messages queued on a read-only file system", len(ok))
		}
		// Still serving after the failures.
		if r, err := send(c.addr, newMsg("after", 1, 1).packet()); err != nil || r.String() != replyWriteError {
			t.Errorf("after failures: %q %v", r.String(), err)
		}
		if err := c.signal(syscall.SIGTERM, 20*time.Second); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(c.logText(), "warning: NOQUEUE: localhost[127.0.0.1]: Error: queue file write error") {
			t.Errorf("no NOQUEUE warning logged:\n%s", c.logText())
		}
		if !strings.Contains(strings.ToLower(c.logText()), "read-only file system") {
			t.Errorf("no error logged:\n%s", c.logText())
		}
		verifyQueue(t, dir, nil)
	})
}

// TestFaultDisconnectEveryByte: a client that hangs up after any prefix of
// the packet never gets K and leaves no queue file; one that hangs up right
// after the whole packet (without reading the reply) has its message queued
// completely, exactly once.
func TestFaultDisconnectEveryByte(t *testing.T) {
	t.Parallel()
	e := start(t, opts{quietLog: true})
	m := newMsg("cut", 2, 2)
	p := m.packet()
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := 0; i < len(p); i++ {
		for _, half := range []bool{false, true} {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c, err := net.Dial("tcp", e.addr)
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				c.Write(p[:i])
				stats.faults.Add(1)
				if !half {
					return // hang up at once
				}
				// Half-close: we still read what the server says.
				c.(*net.TCPConn).CloseWrite()
				c.SetReadDeadline(time.Now().Add(20 * time.Second))
				b, _ := io.ReadAll(c)
				if len(b) > 0 && !strings.Contains(string(b), ":D") {
					bad.Add(1)
					t.Errorf("prefix of %d bytes: reply %q", i, b)
				}
			}()
		}
	}
	wg.Wait()
	// The whole packet, then hang up without reading the reply.
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(p)
	c.Close()
	want := int64(2*len(p) + 1)
	// Shutdown drops connections not yet accepted; wait for all sessions.
	settle(func() bool { return e.q.opens.Load() == want })
	e.stop()
	files := queueFiles(t, e.dir)
	if len(files) != 1 {
		t.Fatalf("queue holds %d files, want the one complete message: %v", len(files), files)
	}
	for rel := range files {
		q, err := readQueueFile(filepath.Join(e.dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if err := q.check(m); err != nil {
			t.Error(err)
		}
	}
	if got := e.q.opens.Load(); got != want {
		t.Errorf("%d queue files opened, want %d", got, want)
	}
}

// TestFaultStall: a client that stops sending is dropped after
// qmqpd_timeout at every stage, with Postfix's log line, and leaves no file.
func TestFaultStall(t *testing.T) {
	t.Parallel()
	e := start(t, opts{timeout: 400 * time.Millisecond})
	m := newMsg("stall", 2, 1)
	p := m.packet()
	stages := map[int]string{
		0:                                 qmqp.WhereHeader,
		5:                                 qmqp.WhereContent,
		len(p) - 60:                       qmqp.WhereSender,
		len(p) - 30:                       qmqp.WhereRecipient,
		len(p) - 1:                        qmqp.WhereRecipient,
		strings.Index(string(p), ":") + 1: qmqp.WhereContent,
	}
	var wg sync.WaitGroup
	for cut, where := range stages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", e.addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.Write(p[:cut])
			stats.faults.Add(1)
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			b, err := io.ReadAll(c)
			if err != nil || len(b) != 0 {
				t.Errorf("stalled at %d (%s): read %q, %v; want the server to hang up without a reply", cut, where, b, err)
			}
		}()
	}
	wg.Wait()
	e.stop()
	verifyQueue(t, e.dir, nil)
	log := e.log.text()
	for _, where := range stages {
		if !strings.Contains(log, "read/write timeout while "+where) {
			t.Errorf("no timeout logged while %s:\n%s", where, log)
		}
	}
}

// TestFaultSlowDrip: a client that sends one byte every 8 ms, each within
// qmqpd_timeout (1s) but all together longer than it, is served normally (the timeout is per read, as in
// Postfix), and the message is queued intact.
func TestFaultSlowDrip(t *testing.T) {
	t.Parallel()
	e := start(t, opts{timeout: time.Second})
	var wg sync.WaitGroup
	ok := map[string]msg{}
	var mu sync.Mutex
	for i := 0; i < 4; i++ {
		m := newMsg(fmt.Sprintf("drip%d", i), 1, 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", e.addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			began := time.Now()
			for _, b := range m.packet() {
				if _, err := c.Write([]byte{b}); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(8 * time.Millisecond)
			}
			r, err := qmqp.ReadReply(bufio.NewReader(c))
			stats.sent.Add(1)
			if took := time.Since(began); took <= time.Second {
				t.Errorf("the drip took only %v; it must outlast qmqpd_timeout (1s) to show the timeout is per read", took)
			}
			id, k := queuedID(r)
			if err != nil || !k {
				t.Errorf("drip: %q %v", r.String(), err)
				return
			}
			stats.queued.Add(1)
			mu.Lock()
			ok[id] = m
			mu.Unlock()
		}()
	}
	wg.Wait()
	e.stop()
	verifyQueue(t, e.dir, ok)
}

// TestFaultNoQmgr: whatever public/qmgr is (absent, a FIFO nobody reads, a
// socket nobody accepts on, a plain file), the message is queued and the
// reply comes without waiting for the queue manager.
func TestFaultNoQmgr(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"absent", "fifo", "socket", "file"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			makeQueue(t, dir)
			path := filepath.Join(dir, "public", "qmgr")
			switch kind {
			case "fifo":
				if err := syscall.Mkfifo(path, 0o622); err != nil {
					t.Fatal(err)
				}
			case "socket":
				l, err := net.Listen("unix", path)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close() // never accepts
			case "file":
				os.WriteFile(path, nil, 0o644)
			}
			e := start(t, opts{dir: dir})
			began := time.Now()
			res := sendAll(e.addr, bigMsgs("qmgr"+kind, 20, 1), 1)
			took := time.Since(began)
			e.stop()
			stats.faults.Add(20)
			ok := tally(t, res)
			verifyQueue(t, dir, ok, "public/qmgr")
			// Postfix's trigger_timeout is 10s: one wait would show.
			if took > 8*time.Second {
				t.Errorf("20 messages took %v with public/qmgr %s", took, kind)
			}
		})
	}
}

// fakeCleanup is a stand-in for Postfix's cleanup(8) service that goes
// away at a chosen point of the conversation.
func fakeCleanup(t *testing.T, path string, mode string) {
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	n := 0
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n++
			go func(c net.Conn, n int) {
				defer c.Close()
				stats.faults.Add(1)
				if mode == "before-greeting" {
					return
				}
				fmt.Fprintf(c, "protocol\x00cleanup_protocol\x00queue_id\x00FAKE%d\x00\x00", n)
				buf := make([]byte, 64)
				switch mode {
				case "after-flags":
					io.ReadAtLeast(c, buf, 9)
				case "mid-records":
					io.ReadAtLeast(c, buf, 40)
				case "no-status":
					c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
					io.Copy(io.Discard, c)
				case "hang":
					time.Sleep(3 * time.Second)
				}
			}(c, n)
		}
	}()
}

// TestFaultCleanupGone: Postfix's cleanup service disappears in the middle
// of the conversation (before its greeting, after the flags, in the middle
// of the records, before the status, or hangs past ipc_timeout). The client
// gets Z "queue file write error", never K.
func TestFaultCleanupGone(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"before-greeting", "after-flags", "mid-records", "no-status", "hang"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			makeQueue(t, dir)
			sock := filepath.Join(dir, "public", "cleanup")
			fakeCleanup(t, sock, mode)
			q := qmqpd.ServiceQueuer{Client: &cleanupclient.Client{Path: sock, Timeout: time.Second}}
			e := start(t, opts{dir: dir, queuer: q})
			res := sendAll(e.addr, bigMsgs("gone", 3, 200), 3)
			e.stop()
			ok := tally(t, res, replyWriteError)
			if len(ok) != 0 {
				t.Errorf("K without cleanup: %v", ok)
			}
		})
	}
	// The daemon process in service mode, with cleanup vanishing in the
	// middle of the records and before its greeting.
	for _, mode := range []string{"mid-records", "before-greeting"} {
		t.Run("daemon-"+mode, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			makeQueue(t, dir)
			fakeCleanup(t, filepath.Join(dir, "public", "cleanup"), mode)
			conf, logf := childConf(t, dir, "qmqpd_cleanup_mode = service", "ipc_timeout = 2s")
			c := startChild(t, dir, conf, logf, nil, nil)
			res := sendAll(c.addr, bigMsgs("dgone", 3, 200), 3)
			if ok := tally(t, res, replyWriteError); len(ok) != 0 {
				t.Errorf("K without cleanup: %v", ok)
			}
			if err := c.signal(syscall.SIGTERM, 20*time.Second); err != nil {
				t.Fatal(err)
			}
			verifyQueue(t, dir, nil, "public/cleanup")
		})
	}
	// Under master(8), Postfix's qmqpd exits when cleanup cannot be
	// reached; the server reports that as fatal instead of answering.
	t.Run("master-fatal", func(t *testing.T) {
		dir := t.TempDir()
		makeQueue(t, dir)
		sock := filepath.Join(dir, "public", "cleanup")
		fakeCleanup(t, sock, "before-greeting")
		q := qmqpd.ServiceQueuer{Client: &cleanupclient.Client{Path: sock, Timeout: time.Second}}
		e := start(t, opts{dir: dir, queuer: q, noQueueErr: true})
		r, err := send(e.addr, newMsg("fatal", 1, 1).packet())
		e.stop()
		if r.Code == 'K' {
			t.Errorf("K without cleanup")
		}
		_ = err
		if !strings.Contains(e.log.text(), "fatal: unable to connect to the public cleanup service") {
			t.Errorf("log:\n%s", e.log.text())
		}
	})
}

var _ = context.Background
var _ = errors.New
