package reliability

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/postfixtest"
	"github.com/qmqpd-go/qmqpd/internal/qmqp"
	"github.com/qmqpd-go/qmqpd/internal/qmqpd"
)

// badNetstrings are malformed (and borderline) netstrings, after the test
// table of CM4all qrelay's strict parser and the failure modes of other
// QMQP servers (indimail folding non-digits into the length, mailfront's
// unbounded allocation, overflow, missing terminators).
var badNetstrings = []string{
	"",
	":",
	":,",
	"03:foo,",
	"+3:foo,",
	"-3:foo,",
	" 3:foo,",
	"3 :foo,",
	"0x3:foo,",
	"3a:foo,",
	"3:foo;",
	"3:foox",
	"3:fo",
	"3",
	"3:",
	"18446744073709551616:x,",
	"99999999999999999999999999999:x,",
	"4294967299:foo,",
	"10240001:x,",
	"2049:x,",
	"1:\x00,",
	"3:\r\n.,",
}

// hostilePackets builds packets with each bad netstring in each position:
// the outer length, the message, the sender and a recipient.
func hostilePackets() (names []string, packets [][]byte) {
	body := "Subject: hostile\n\nbody\n"
	ns := func(s string) string { return fmt.Sprintf("%d:%s,", len(s), s) }
	msgNS, sndNS, rcptNS := ns(body), ns("alice@example.com"), ns("bob@example.org")
	add := func(name, p string) {
		names = append(names, name)
		packets = append(packets, []byte(p))
	}
	for i, bad := range badNetstrings {
		// The outer netstring: bad is used as its length prefix (its
		// payload, if any, is followed by a valid packet body).
		head := strings.TrimSuffix(bad, ",")
		add(fmt.Sprintf("outer%02d", i), head+msgNS+sndNS+rcptNS+",")
		inner := func(parts ...string) string {
			s := strings.Join(parts, "")
			return fmt.Sprintf("%d:%s,", len(s), s)
		}
		add(fmt.Sprintf("message%02d", i), inner(bad, sndNS, rcptNS))
		add(fmt.Sprintf("sender%02d", i), inner(msgNS, bad, rcptNS))
		add(fmt.Sprintf("recipient%02d", i), inner(msgNS, sndNS, bad))
	}
	// Truncated and trailing-garbage forms of a valid packet.
	good := inner3(msgNS, sndNS, rcptNS)
	add("trailing-garbage", good+"garbage after the end")
	add("no-outer-comma", strings.TrimSuffix(good, ","))
	add("recipient-garbage", strings.TrimSuffix(good, ",")+"x,")
	add("zero-recipients", inner3(msgNS, sndNS))
	add("empty-message", inner3("0:,", sndNS, rcptNS))
	return names, packets
}

func inner3(parts ...string) string {
	s := strings.Join(parts, "")
	return fmt.Sprintf("%d:%s,", len(s), s)
}

// converse writes a packet, half-closes and reads everything the server
// sends before it closes (a reset after the reply is not an error).
func converse(addr string, p []byte) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	c.Write(p)
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		return string(b) + " error: " + err.Error()
	}
	return string(b)
}

var queuedRE = regexp.MustCompile(`queued as [0-9A-Za-z]+`)

// TestMalformedNetstrings sends every packet of hostilePackets to our
// server and to Postfix 3.7.11's qmqpd: the replies must be the same, no
// input may be answered K without a complete queue file, and every input
// that is not K leaves nothing in the queue.
func TestMalformedNetstrings(t *testing.T) {
	t.Parallel()
	names, packets := hostilePackets()
	e := start(t, opts{quietLog: true})
	ours := make([]string, len(packets))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, p := range packets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ours[i] = converse(e.addr, p)
			stats.sent.Add(1)
		}()
	}
	wg.Wait()
	e.stop()
	// Every K has its complete file; nothing else is queued.
	want := map[string]msg{}
	for i, r := range ours {
		if m := regexp.MustCompile(`^\d+:KOk: queued as ([0-9A-Za-z]+),$`).FindStringSubmatch(r); m != nil {
			stats.queued.Add(1)
			q, err := readQueueFile(filepath.Join(e.dir, "incoming", m[1]))
			if err != nil {
				t.Errorf("%s: K but %v", names[i], err)
				continue
			}
			if q.mode != 0o700 {
				t.Errorf("%s: K but mode %o", names[i], q.mode)
			}
			want[m[1]] = msg{}
		} else {
			stats.rejected.Add(1)
			if strings.Contains(r, "K") && strings.Contains(r, "queued") {
				t.Errorf("%s: malformed K reply %q", names[i], r)
			}
		}
	}
	files := queueFiles(t, e.dir)
	for rel := range files {
		if _, ok := want[filepath.Base(rel)]; !ok {
			t.Errorf("file without K reply: %s", rel)
		}
	}
	if len(files) != len(want) {
		t.Errorf("%d files for %d K replies", len(files), len(want))
	}

	// The same table against real Postfix.
	inst := postfixtest.Start(t, nil)
	for i, p := range packets {
		theirs, err := inst.TrySendQMQP(p)
		if err != nil {
			t.Errorf("%s: postfix: %v", names[i], err)
			continue
		}
		norm := func(s string) string { return queuedRE.ReplaceAllString(s, "queued as ID") }
		if norm(ours[i]) != norm(string(theirs)) {
			t.Errorf("%s: packet %q\nours:    %q\npostfix: %q", names[i], p, ours[i], theirs)
		}
	}
}

// TestConnectionFlood opens many more connections than the connection
// limit, all stalling, plus a few that send garbage: the server stays
// within its limit (sessions and goroutines), its heap stays bounded, every
// connection is eventually closed, and a real client behind the flood is
// served and queued.
func TestConnectionFlood(t *testing.T) {
	// Not parallel: it measures the process heap.
	const limit, flood = 20, 150
	e := start(t, opts{maxConns: limit, timeout: 200 * time.Millisecond, quietLog: true})
	heap0 := heapInuse()
	var conns []net.Conn
	for i := 0; i < flood; i++ {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		if i%10 == 0 {
			c.Write([]byte("99999999:"))
		}
		conns = append(conns, c)
	}
	stats.faults.Add(flood)
	gr := runtime.NumGoroutine()
	// A real message behind the flood.
	m := newMsg("flood", 1, 3)
	r, err := send(e.addr, m.packet())
	stats.sent.Add(1)
	id, ok := queuedID(r)
	if err != nil || !ok {
		t.Fatalf("client behind the flood: %q %v", r.String(), err)
	}
	stats.queued.Add(1)
	if peak := heapInuse(); peak > heap0+16<<20 {
		t.Errorf("heap grew from %d to %d under the flood", heap0, peak)
	}
	if gr > 200+limit*4 {
		t.Errorf("%d goroutines during the flood (limit %d)", gr, limit)
	}
	// Every flood connection was closed by the server.
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("flood connection %d: %v", i, err)
		}
		if bytes.Contains(b, []byte("K")) {
			t.Errorf("flood connection %d got %q", i, b)
		}
		c.Close()
	}
	e.stop()
	verifyQueue(t, e.dir, map[string]msg{id: m})
}

// FuzzSession feeds arbitrary bytes to a real server over TCP. Properties:
// no panic (a panicking session would crash the test binary), a reply is
// either absent or a well-formed K/Z/D netstring, K only with a complete
// ready queue file, and no queue file is left behind otherwise.
func FuzzSession(f *testing.F) {
	_, packets := hostilePackets()
	for _, p := range packets {
		f.Add(p)
	}
	f.Add(newMsg("seed", 2, 3).packet())
	f.Add([]byte("27:9:Subject:,3:a@b,3:c@d,,"))
	e := start(f, opts{quietLog: true, timeout: 2 * time.Second})
	f.Fuzz(func(t *testing.T, p []byte) {
		r := converse(e.addr, p)
		if r == "" {
			return
		}
		reply, err := qmqp.ReadReply(bufio.NewReader(strings.NewReader(r)))
		if err != nil {
			t.Fatalf("reply %q: %v", r, err)
		}
		if reply.Code == 'K' {
			id, ok := queuedID(reply)
			if !ok {
				t.Fatalf("K reply %q", r)
			}
			path := filepath.Join(e.dir, "incoming", id)
			q, err := readQueueFile(path)
			if err != nil {
				t.Fatalf("K reply %q: %v", r, err)
			}
			if q.mode != 0o700 {
				t.Fatalf("K reply %q: mode %o", r, q.mode)
			}
			os.Remove(path)
		}
		// After an early reply the server drains the client for a while
		// before it drops the file; wait for that.
		var ents []os.DirEntry
		settle(func() bool {
			ents, _ = os.ReadDir(filepath.Join(e.dir, "incoming"))
			return len(ents) == 0
		})
		for _, ent := range ents {
			t.Fatalf("queue file %s left after reply %q", ent.Name(), r)
		}
	})
}

// TestMemoryBound checks the server's memory bound under hostile sizes.
// Clients that announce huge messages and then stall cost a bounded amount
// each: the announced size is not allocated up front. A length above
// message_size_limit is refused before anything is read. Maximum-size
// messages sent at once are queued intact while the server's heap grows by
// far less than their size, because the body is spooled (at most
// queuefile.DefaultSpoolMemory in memory per session).
func TestMemoryBound(t *testing.T) {
	// Not parallel: it measures the process heap.
	const stalled = 40
	e := start(t, opts{quietLog: true, timeout: 5 * time.Second, cfg: func(c *qmqpd.Config) { c.MessageSizeLimit = 4 << 20 }})
	heap0 := heapInuse()
	var conns []net.Conn
	for i := 0; i < stalled; i++ {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("4194320:4194304:partial"))
		conns = append(conns, c)
	}
	stats.faults.Add(stalled)
	// Wait until every session is reading the content.
	settle(func() bool { return e.q.opens.Load() == stalled })
	time.Sleep(100 * time.Millisecond)
	if grown := int64(heapInuse()) - int64(heap0); grown > stalled*(256<<10)+8<<20 {
		t.Errorf("%d stalled clients announcing 4 MiB grew the heap by %d bytes", stalled, grown)
	}
	for _, c := range conns {
		c.Close()
	}
	// Above the limit: refused at once.
	if r := converse(e.addr, []byte("99999999999:999999999:")); !strings.Contains(r, "Dnetstring length exceeds storage limit while receiving message content") {
		t.Errorf("oversized announcement: %q", r)
	}
	// Four messages of nearly 4 MiB at once. The packets are built before
	// the baseline so that only the server's memory is measured.
	const big = 4
	var msgs []msg
	var packets [][]byte
	for i := 0; i < big; i++ {
		m := newMsg(fmt.Sprintf("big%d", i), 1, 59000)
		msgs = append(msgs, m)
		packets = append(packets, m.packet())
	}
	base := heapInuse()
	var peak uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	ok := map[string]msg{}
	var mu sync.Mutex
	for i := 0; i < big; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := send(e.addr, packets[i])
			stats.sent.Add(1)
			if id, k := queuedID(r); k && err == nil {
				stats.queued.Add(1)
				mu.Lock()
				ok[id] = msgs[i]
				mu.Unlock()
			} else {
				t.Errorf("big message: %q %v", r.String(), err)
			}
		}()
	}
	wg.Wait()
	close(done)
	<-sampled
	if grown := int64(peak) - int64(base); grown > 8<<20 {
		t.Errorf("%d messages of %d bytes at once grew the heap by %d bytes at the peak", big, len(msgs[0].body), grown)
	}
	e.stop()
	verifyQueue(t, e.dir, ok)
}
