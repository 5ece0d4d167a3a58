package reliability

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// soakMsg is message i of a soak run: 1-5 recipients, 0-39 body lines.
func soakMsg(i int) msg { return newMsg(fmt.Sprintf("soak%06d", i), 1+i%5, i%40) }

// soak sends n messages over conc parallel connections to addr and
// returns the queue IDs of the K replies (every reply must be K).
func soak(t *testing.T, addr string, n, conc int) map[string]int {
	t.Helper()
	var (
		mu   sync.Mutex
		ids  = make(map[string]int, n)
		next = make(chan int)
		wg   sync.WaitGroup
		fail = make(chan string, conc)
	)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r, err := send(addr, soakMsg(i).packet())
				stats.sent.Add(1)
				id, ok := queuedID(r)
				if err != nil || !ok {
					select {
					case fail <- fmt.Sprintf("message %d: reply %q, error %v", i, r.String(), err):
					default:
					}
					continue
				}
				stats.queued.Add(1)
				mu.Lock()
				if _, dup := ids[id]; dup {
					select {
					case fail <- "queue ID " + id + " given twice":
					default:
					}
				}
				ids[id] = i
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(fail)
	for f := range fail {
		t.Error(f)
	}
	if len(ids) != n {
		t.Fatalf("%d K replies for %d messages", len(ids), n)
	}
	return ids
}

// TestSoak sends many messages over parallel connections to an in-process
// server with the built-in cleanup and checks that every K reply has
// exactly one ready queue file with the same sender, recipients and body,
// that nothing else is in the queue directory, and that the heap, the
// goroutines and the open file descriptors return to their starting level.
// CI: 2,000 messages over 32 connections; -long: 100,000 over 64.
func TestSoak(t *testing.T) {
	n, conc := 2000, 32
	if *long {
		n, conc = 100000, 64
	}
	pid := fmt.Sprint(os.Getpid())
	fds0, gr0, heap0 := openFDs(t, pid), runtime.NumGoroutine(), heapInuse()

	e := start(t, opts{quietLog: true})
	ids := soak(t, e.addr, n, conc)
	e.stop()
	verifyQueueGen(t, e.dir, ids, soakMsg)
	ids = nil

	if !settle(func() bool { return openFDs(t, pid) <= fds0 }) {
		t.Errorf("open file descriptors: %d at the start, %d at the end", fds0, openFDs(t, pid))
	}
	if !settle(func() bool { return runtime.NumGoroutine() <= gr0 }) {
		t.Errorf("goroutines: %d at the start, %d at the end", gr0, runtime.NumGoroutine())
	}
	// A little slack for runtime-internal caches; a leak of even a few
	// bytes per message would exceed it.
	const slack = 1 << 20
	if heap1 := heapInuse(); heap1 > heap0+slack {
		t.Errorf("heap in use: %d bytes at the start, %d at the end (%d messages)", heap0, heap1, n)
	}
	t.Logf("soak: %d messages over %d connections, all queued and verified", n, conc)
}

// TestSoakDaemon runs the soak against the daemon in its own process
// (cmd/qmqpd's code, standalone with the built-in cleanup) and checks the
// process itself: its open descriptors return to the level they had before
// the load, and its resident memory stays bounded once the load is over.
// CI: 500 messages; -long: 20,000.
func TestSoakDaemon(t *testing.T) {
	n, conc := 500, 16
	if *long {
		n, conc = 20000, 64
	}
	dir := t.TempDir()
	conf, logf := childConf(t, dir, "maillog_file =")
	c := startChild(t, dir, conf, logf, nil, nil)
	// One message first, so lazily opened descriptors (the log, the
	// epoll instance) exist before the baseline is taken.
	if r, err := send(c.addr, soakMsg(n).packet()); err != nil || r.Code != 'K' {
		t.Fatalf("first message: %q %v", r.String(), err)
	}
	// The server closes the first connection after its reply; take the
	// lowest count over a short while as the baseline.
	fds0, rss0 := openFDs(t, c.pid()), c.rss(t)
	for i := 0; i < 20; i++ {
		time.Sleep(10 * time.Millisecond)
		fds0 = min(fds0, openFDs(t, c.pid()))
	}
	ids := soak(t, c.addr, n, conc)
	rss1 := c.rss(t)
	if !settle(func() bool { return openFDs(t, c.pid()) <= fds0 }) {
		t.Errorf("daemon descriptors: %d before the load, %d after", fds0, openFDs(t, c.pid()))
	}
	rss2, fds2 := c.rss(t), openFDs(t, c.pid())
	if err := c.signal(syscall.SIGTERM, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	// The heap the load used is kept by the Go runtime for reuse, so RSS
	// does not drop to the very start; it must stay within a fixed bound.
	if limit := rss0 + 64<<10; rss2 > limit {
		t.Errorf("daemon RSS: %d KiB before, %d KiB at the end of the load, %d KiB after (limit %d KiB)", rss0, rss1, rss2, limit)
	}
	t.Logf("daemon: %d messages, fds %d -> %d, RSS %d KiB -> %d KiB (peak sample %d KiB)", n, fds0, fds2, rss0, rss2, rss1)
	// The first message is in the queue as well.
	files := queueFiles(t, dir)
	for id := range ids {
		delete(files, "incoming/"+id)
	}
	if len(files) != 1 {
		t.Errorf("%d files besides the soak messages, want the first message only", len(files))
	}
	for rel := range files {
		q, err := readQueueFile(dir + "/" + rel)
		if err == nil {
			err = q.check(soakMsg(n))
		}
		if err != nil {
			t.Error(err)
		}
		ids[strings.TrimPrefix(rel, "incoming/")] = n
	}
	verifyQueueGen(t, dir, ids, soakMsg)
}
