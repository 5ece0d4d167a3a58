package reliability

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/qmqp"
)

// postfixQueue creates a queue directory laid out like Postfix's (the
// message and log directories, owned by mail_owner when it exists), so that
// Postfix's own tools accept it.
func postfixQueue(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	uid, gid := -1, -1
	if u, err := user.Lookup("postfix"); err == nil && os.Geteuid() == 0 {
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	for _, d := range []string{"incoming", "active", "deferred", "hold", "bounce", "defer", "trace", "flush", "maildrop", "corrupt", "saved", "public", "private"} {
		p := filepath.Join(dir, d)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if uid >= 0 {
			os.Chown(p, uid, gid)
		}
	}
	return dir
}

// TestCrashSIGKILL kills the daemon with SIGKILL while many large messages
// are being written. Afterwards every K'd message is ready and complete,
// every ready (0700) file is complete, and everything else is a file that
// is not ready (0600): the queue manager ignores those, and Postfix's
// "postsuper -p" removes them once they are old, which the test checks
// with the real postsuper when it is installed.
func TestCrashSIGKILL(t *testing.T) {
	t.Parallel()
	dir := postfixQueue(t)
	conf, logf := childConf(t, dir)
	c := startChild(t, dir, conf, logf, nil, nil)

	var (
		mu      sync.Mutex
		ok      = map[string]msg{}
		stop    atomic.Bool
		wg      sync.WaitGroup
		counter atomic.Int64
	)
	for w := 0; w < 12; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				i := counter.Add(1)
				m := newMsg(fmt.Sprintf("kill%05d", i), 3, 200+int(i%7)*300)
				r, err := send(c.addr, m.packet())
				stats.sent.Add(1)
				if id, k := queuedID(r); k && err == nil {
					stats.queued.Add(1)
					mu.Lock()
					ok[id] = m
					mu.Unlock()
				}
				if err != nil {
					return
				}
			}
		}()
	}
	// Let a good number of messages through, then kill in mid-write.
	settle(func() bool { mu.Lock(); defer mu.Unlock(); return len(ok) >= 60 })
	// Three more clients are surely in the middle of their packets (their
	// queue files exist and are being written) when the kill comes.
	for i := 0; i < 3; i++ {
		p := newMsg(fmt.Sprintf("half%d", i), 1, 100).packet()
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.Write(p[:len(p)/2])
	}
	settle(func() bool {
		n := 0
		for _, mode := range queueFiles(t, dir) {
			if mode.Perm() == 0o600 {
				n++
			}
		}
		return n >= 3
	})
	c.cmd.Process.Kill()
	<-c.done
	c.ended = true
	stop.Store(true)
	wg.Wait()
	stats.faults.Add(1)

	files := queueFiles(t, dir)
	ready, unready := 0, 0
	for rel, mode := range files {
		id := filepath.Base(rel)
		if !strings.HasPrefix(rel, "incoming/") {
			t.Errorf("file outside incoming: %s", rel)
			continue
		}
		if mode.Perm() == 0o700 {
			ready++
			q, err := readQueueFile(filepath.Join(dir, rel))
			if err != nil {
				t.Errorf("ready file is not complete: %v", err)
				continue
			}
			if m, k := ok[id]; k {
				if err := q.check(m); err != nil {
					t.Error(err)
				}
			}
			continue
		}
		if mode.Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0700 (ready) or 0600 (being written)", rel, mode)
		}
		unready++
	}
	for id := range ok {
		if m, in := files[filepath.Join("incoming", id)]; !in || m.Perm() != 0o700 {
			t.Errorf("K'd message %s is not a ready queue file", id)
		}
	}
	t.Logf("SIGKILL after %d K replies: %d ready files, %d not ready", len(ok), ready, unready)
	if unready < 3 {
		t.Errorf("%d files not ready after the kill; the 3 half-sent messages should have left theirs", unready)
	}

	// A restarted daemon works on the same queue, next to the leftovers.
	c2 := startChild(t, dir, conf, logf, nil, nil)
	again := map[string]msg{}
	for i := 0; i < 5; i++ {
		m := newMsg(fmt.Sprintf("restart%d", i), 1, 3)
		r, err := send(c2.addr, m.packet())
		stats.sent.Add(1)
		id, k := queuedID(r)
		if err != nil || !k {
			t.Fatalf("after restart: %q %v", r.String(), err)
		}
		stats.queued.Add(1)
		again[id] = m
	}
	if err := c2.signal(syscall.SIGTERM, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	for id, m := range again {
		q, err := readQueueFile(filepath.Join(dir, "incoming", id))
		if err == nil {
			err = q.check(m)
		}
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(queueFiles(t, dir)); n != len(files)+len(again) {
		t.Errorf("%d files after the restart, want %d", n, len(files)+len(again))
	}

	// Postfix's own cleanup of crash leftovers: postsuper -p removes old
	// files that are not ready and keeps every ready one.
	if _, err := exec.LookPath("postsuper"); err != nil || os.Geteuid() != 0 {
		return
	}
	old := time.Now().Add(-30 * 24 * time.Hour)
	for rel := range files {
		os.Chtimes(filepath.Join(dir, rel), old, old)
	}
	pconf := t.TempDir()
	os.WriteFile(filepath.Join(pconf, "main.cf"), []byte("compatibility_level = 3.6\nqueue_directory = "+dir+"\n"), 0o644)
	out, err := exec.Command("postsuper", "-c", pconf, "-p").CombinedOutput()
	if err != nil {
		t.Fatalf("postsuper -p: %v\n%s", err, out)
	}
	after := queueFiles(t, dir)
	for id := range again {
		if _, still := after["incoming/"+id]; !still {
			t.Errorf("postsuper -p removed ready file %s", id)
		}
	}
	for rel, mode := range files {
		_, still := after[rel]
		if mode.Perm() == 0o700 && !still {
			t.Errorf("postsuper -p removed ready file %s", rel)
		}
		if mode.Perm() != 0o700 && still {
			t.Errorf("postsuper -p kept incomplete file %s", rel)
		}
	}
}

// TestSIGTERMDrains sends SIGTERM while clients are in the middle of their
// packets and others keep connecting: the sessions in progress finish and
// get K, new connections are refused, the daemon exits 0, and the queue
// holds exactly the K'd messages.
func TestSIGTERMDrains(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf, logf := childConf(t, dir)
	c := startChild(t, dir, conf, logf, nil, nil)

	// Clients in flight: half of the packet sent before the signal.
	type flight struct {
		conn net.Conn
		m    msg
		rest []byte
	}
	var inflight []flight
	for i := 0; i < 8; i++ {
		m := newMsg(fmt.Sprintf("term%d", i), 2, 50)
		p := m.packet()
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.Write(p[:len(p)/2])
		inflight = append(inflight, flight{conn, m, p[len(p)/2:]})
	}
	// Background load that keeps connecting.
	var (
		mu   sync.Mutex
		ok   = map[string]msg{}
		stop atomic.Bool
		wg   sync.WaitGroup
		n    atomic.Int64
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				m := newMsg(fmt.Sprintf("load%05d", n.Add(1)), 1, 5)
				r, err := send(c.addr, m.packet())
				stats.sent.Add(1)
				if id, k := queuedID(r); k && err == nil {
					stats.queued.Add(1)
					mu.Lock()
					ok[id] = m
					mu.Unlock()
				} else if err == nil {
					t.Errorf("load: reply %q", r.String())
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	// Wait until the in-flight sessions are surely accepted (their
	// "connect from" is logged) before the signal.
	settle(func() bool { return strings.Count(c.logText(), "client=") >= 8 })
	c.cmd.Process.Signal(syscall.SIGTERM)
	stats.faults.Add(1)
	// New connections are refused once the listener is closed.
	refused := settle(func() bool {
		conn, err := net.Dial("tcp", c.addr)
		if err == nil {
			conn.Close()
			return false
		}
		return errors.Is(err, syscall.ECONNREFUSED)
	})
	if !refused {
		t.Error("new connections still accepted after SIGTERM")
	}
	stop.Store(true)
	wg.Wait()
	// The in-flight clients finish their packets and get K.
	for _, f := range inflight {
		f.conn.Write(f.rest)
		r, err := qmqp.ReadReply(bufio.NewReader(f.conn))
		stats.sent.Add(1)
		id, k := queuedID(r)
		if err != nil || !k {
			t.Errorf("in-flight client after SIGTERM: %q %v", r.String(), err)
			continue
		}
		stats.queued.Add(1)
		ok[id] = f.m
	}
	select {
	case err := <-c.done:
		c.ended = true
		if err != nil {
			t.Errorf("qmqpd exit: %v\n%s", err, c.logText())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("qmqpd did not exit after SIGTERM")
	}
	verifyQueue(t, dir, ok)
	if !strings.Contains(c.logText(), "terminating on signal 15") {
		t.Errorf("log:\n%s", c.logText())
	}
	var _ fs.FileMode
}
