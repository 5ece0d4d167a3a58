package qmqpd

import (
	"bytes"
	"io"
	"math/rand"
	"net"
	"os"
	"regexp"
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

// splitMem splits msg with the in-memory splitter a session uses for a
// message held in memory.
func splitMem(msg []byte, limit int) []string {
	var lr lineReader
	lr.resetBytes(msg, limit)
	var out []string
	for {
		typ, line, ok, _ := lr.next()
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
		if got := splitMem([]byte(c.msg), c.limit); !cmp.Equal(got, c.want) {
			t.Errorf("in memory %q limit %d: %q, want %q", c.msg, c.limit, got, c.want)
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
		if got, want := splitMem(msg, limit), splitReference(msg, limit); !cmp.Equal(got, want) {
			t.Fatalf("in memory %q limit %d:\n%s", msg, limit, cmp.Diff(want, got))
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

// TestBufferReuse: one server serves messages of every kind one after the
// other (small, spilled to a file, a bad packet, a different
// line_length_limit), so each session runs on buffers an earlier one used;
// every message's records equal those a fresh server makes.
func TestBufferReuse(t *testing.T) {
	msgs := []string{
		"Subject: one\n\nshort body\n",
		"Subject: big\n\n" + strings.Repeat("0123456789abcdef\n", 500) + strings.Repeat("z", 5000),
		"Subject: two\n\n" + strings.Repeat("y", 3000) + "\nend",
		"",
		"Subject: three\n\nx\n",
	}
	ids := regexp.MustCompile(`ID[0-9A-F]+`)
	send := func(srv *Server, msg string) string {
		client, server := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- srv.ServeConn(server) }()
		go io.WriteString(client, packet(msg, "s@x", "r@x"))
		reply, _ := io.ReadAll(client)
		client.Close()
		<-done
		return ids.ReplaceAllString(string(reply), "ID")
	}
	masked := func(recs []string) []string {
		out := make([]string, len(recs))
		for i, r := range recs {
			out[i] = ids.ReplaceAllString(r, "ID")
		}
		return out
	}
	newServer := func(q Queuer, limit int) *Server {
		cfg := testConfig()
		cfg.LineLengthLimit = limit
		srv := NewServer(cfg, q, &memLog{})
		srv.Now = func() time.Time { return testArrival }
		srv.SpoolMemory, srv.SpoolDir = 4096, t.TempDir()
		return srv
	}
	shared := &memQueuer{}
	reused := newServer(shared, 2048)
	for i, msg := range append(msgs, msgs...) {
		limit := 2048
		if i >= len(msgs) {
			limit = 7
			cfg := *reused.Config()
			cfg.LineLengthLimit = limit
			reused.SetConfig(&cfg)
		}
		fresh := &memQueuer{}
		wantReply := send(newServer(fresh, limit), msg)
		before := len(shared.finished)
		gotReply := send(reused, msg)
		if gotReply != wantReply {
			t.Errorf("message %d: reply %q, fresh server %q", i, gotReply, wantReply)
		}
		if len(fresh.finished) != len(shared.finished)-before {
			t.Fatalf("message %d: queued %d, fresh server %d", i, len(shared.finished)-before, len(fresh.finished))
		}
		if len(fresh.finished) == 1 {
			if d := cmp.Diff(masked(fresh.finished[0].records), masked(shared.finished[before].records)); d != "" {
				t.Errorf("message %d: records differ (-fresh +reused):\n%s", i, d)
			}
		}
	}
}
