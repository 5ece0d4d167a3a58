package qmqpd

import (
	"bytes"
	"io"
	"math/rand"
	"net"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// splitReference splits msg the way Postfix's qmqpd does, on a buffer in
// memory: a record ends at a newline (N), after limit bytes (L) or at the
// end of the buffer (L).
func splitReference(msg []byte, limit int) []string {
	var out []string
	for start := 0; start < len(msg); {
		cp := start
		for {
			if cp >= len(msg) {
				out = append(out, "L"+string(msg[start:cp]))
				start = cp
				break
			}
			if msg[cp] == '\n' {
				out = append(out, "N"+string(msg[start:cp]))
				start = cp + 1
				break
			}
			if cp >= start+limit {
				out = append(out, "L"+string(msg[start:cp]))
				start = cp
				break
			}
			cp++
		}
	}
	return out
}

func splitStream(t *testing.T, msg []byte, limit int) []string {
	t.Helper()
	// One byte per read: records must not depend on read boundaries.
	lr := newLineReader(iotest.OneByteReader(bytes.NewReader(msg)), limit)
	var out []string
	for {
		typ, line, ok, err := lr.next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, string(typ)+string(line))
	}
}

func TestLineReader(t *testing.T) {
	for _, c := range []struct {
		msg   string
		limit int
		want  []string
	}{
		{"", 5, nil},
		{"\n", 5, []string{"N"}},
		{"abc", 5, []string{"Labc"}},
		{"abc\n", 5, []string{"Nabc"}},
		{"abcde\n", 5, []string{"Nabcde"}},
		{"abcdef\n", 5, []string{"Labcde", "Nf"}},
		{"abcdefghij", 5, []string{"Labcde", "Lfghij"}},
		{"abcdefghij\n", 5, []string{"Labcde", "Nfghij"}},
		{"a\n\nb", 5, []string{"Na", "N", "Lb"}},
	} {
		if got := splitStream(t, []byte(c.msg), c.limit); !cmp.Equal(got, c.want) {
			t.Errorf("%q limit %d: %q, want %q", c.msg, c.limit, got, c.want)
		}
		if got := splitReference([]byte(c.msg), c.limit); !cmp.Equal(got, c.want) {
			t.Errorf("reference %q limit %d: %q, want %q", c.msg, c.limit, got, c.want)
		}
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		msg := make([]byte, rng.Intn(300))
		for j := range msg {
			msg[j] = "ab\n"[rng.Intn(3)]
			if rng.Intn(10) == 0 {
				msg[j] = 'x'
			}
		}
		limit := 1 + rng.Intn(20)
		if got, want := splitStream(t, msg, limit), splitReference(msg, limit); !cmp.Equal(got, want) {
			t.Fatalf("%q limit %d:\n%s", msg, limit, cmp.Diff(want, got))
		}
	}
}

// TestSpooledContent: a message larger than the spool's memory goes
// through a temporary file and gives the same records as one in memory,
// and no file is left in the spool directory.
func TestSpooledContent(t *testing.T) {
	msg := "Subject: big\n\n" + strings.Repeat("0123456789abcdef\n", 500) + strings.Repeat("z", 5000) + "\ntail"
	records := func(spoolMemory int, dir string) []string {
		q := &memQueuer{}
		srv := NewServer(testConfig(), q, &memLog{})
		srv.Now = func() time.Time { return testArrival }
		srv.SpoolMemory, srv.SpoolDir = spoolMemory, dir
		client, server := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- srv.ServeConn(server) }()
		go io.WriteString(client, packet(msg, "s@x", "r@x"))
		reply, _ := io.ReadAll(client)
		client.Close()
		if err := <-done; err != nil || !strings.Contains(string(reply), "KOk") {
			t.Fatalf("reply %q, %v", reply, err)
		}
		return q.finished[0].records
	}
	dir := t.TempDir()
	inMemory := records(1<<20, dir)
	spilled := records(100, dir)
	if d := cmp.Diff(inMemory, spilled); d != "" {
		t.Errorf("records differ (-memory +file):\n%s", d)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("spool directory not empty: %v", ents)
	}
}

// TestSpoolFailure: when the message cannot be spooled, the packet is still
// read and the reply is a queue file write error; nothing is queued.
func TestSpoolFailure(t *testing.T) {
	q := &memQueuer{}
	log := &memLog{}
	srv := NewServer(testConfig(), q, log)
	srv.SpoolMemory, srv.SpoolDir = 10, "/nonexistent/spool"
	client, server := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- srv.ServeConn(server) }()
	go io.WriteString(client, packet(strings.Repeat("x", 100), "s@x", "r@x"))
	reply, _ := io.ReadAll(client)
	client.Close()
	<-done
	if want := "30:ZError: queue file write error,"; string(reply) != want {
		t.Errorf("reply %q, want %q", reply, want)
	}
	if len(q.finished) != 0 || q.aborted != 1 {
		t.Errorf("finished %d, aborted %d", len(q.finished), q.aborted)
	}
}
