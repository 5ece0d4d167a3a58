package cleanup

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// discardStore is a Store whose files count their bytes and keep nothing,
// so that a benchmark measures cleanup's own memory, not the file's.
type discardStore struct{}

func (discardStore) Create(now time.Time) (QueueFile, error) { return &discardFile{}, nil }

type discardFile struct {
	n   int64
	buf []byte
}

func (f *discardFile) ID() string         { return "ABC123" }
func (f *discardFile) Created() time.Time { return time.Unix(1795530772, 0) }
func (f *discardFile) Record(typ byte, data []byte) error {
	f.buf = queuefile.AppendRecord(f.buf[:0], typ, data)
	f.n += int64(len(f.buf))
	return nil
}
func (f *discardFile) Flush() error                     { return nil }
func (f *discardFile) PatchSize(s queuefile.Size) error { return nil }
func (f *discardFile) Commit() error                    { return nil }
func (f *discardFile) Abort() error                     { return nil }

// streamMessage feeds cleanup one message of about size bytes, record by
// record as qmqpd sends them, without ever holding the message: a few
// headers, then body lines of 76 characters. It returns the status.
func streamMessage(tb testing.TB, s *Settings, size int) int {
	c := &Cleanup{Settings: s, Store: discardStore{}, Now: func() time.Time { return time.Unix(1795530772, 0) }}
	st, err := c.Open(tb.Context(), s.QMQPFlags())
	if err != nil {
		tb.Fatal(err)
	}
	put := func(typ byte, data string) {
		if err := st.Record(typ, []byte(data)); err != nil {
			tb.Fatal(err)
		}
	}
	put('T', "1795530772 599664")
	put('S', "sender@example.com")
	for _, a := range []string{"client_name=localhost", "client_address=127.0.0.1", "protocol_name=QMQP"} {
		put('A', a)
	}
	put('R', "rcpt@example.net")
	put('M', "")
	put('N', "Received: from localhost (localhost [127.0.0.1])")
	put('N', "\tby research.example.org (Postfix) with QMQP id ABC123")
	put('N', "Subject: a large message")
	put('N', "From: Sender <sender@example.com>")
	put('N', "To: rcpt@example.net")
	put('N', "MIME-Version: 1.0")
	put('N', "Content-Type: text/plain")
	put('N', "")
	line := []byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd")
	for n := 0; n < size; n += len(line) + 1 {
		if err := st.Record('N', line); err != nil {
			tb.Fatal(err)
		}
	}
	put('X', "")
	put('E', "")
	status, _ := st.Finish()
	return status
}

// BenchmarkCleanupLargeMessage streams messages of 1 MB and 50 MB through
// cleanup. The memory a message costs is bounded whatever its size: B/op
// (all bytes allocated for one message, so also an upper bound on what is
// live at any time) stays under 64 KiB for both sizes, made of the
// per-message state, the duplicate filter and header buffers (at most
// header_size_limit plus line_length_limit for one header); body lines are
// passed through without allocating. TestBoundedMemory enforces the bound.
func BenchmarkCleanupLargeMessage(b *testing.B) {
	for _, mb := range []int{1, 50} {
		b.Run(fmt.Sprintf("%dMB", mb), func(b *testing.B) {
			s := DefaultSettings("research.example.org", "example.org")
			s.MessageSizeLimit = 0
			s.Location = time.UTC
			b.ReportAllocs()
			b.SetBytes(int64(mb) << 20)
			for b.Loop() {
				if st := streamMessage(b, s, mb<<20); st != StatOK {
					b.Fatalf("status %#x", st)
				}
			}
		})
	}
}

// memoryBound is the most one message may allocate, whatever its size.
const memoryBound = 64 << 10

// TestBoundedMemory checks that the bytes allocated for one message do not
// grow with its size and stay under memoryBound. It must not run in
// parallel with other tests: it reads the process's allocation counter.
func TestBoundedMemory(t *testing.T) {
	s := DefaultSettings("research.example.org", "example.org")
	s.MessageSizeLimit = 0
	s.Location = time.UTC
	streamMessage(t, s, 1000) // warm up
	for _, size := range []int{64 << 10, 8 << 20} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if st := streamMessage(t, s, size); st != StatOK {
			t.Fatalf("status %#x", st)
		}
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > memoryBound {
			t.Errorf("a %d-byte message allocated %d bytes, more than the bound %d", size, got, memoryBound)
		}
	}
}

// reusedStore is a Store that hands out one reused file, so that a
// benchmark counts only what cleanup itself allocates per message.
type reusedStore struct{ f discardFile }

func (s *reusedStore) Create(now time.Time) (QueueFile, error) {
	s.f.n = 0
	return &s.f, nil
}

// smallMessage is a typical small message as qmqpd hands it to cleanup:
// a Received header, From/To/Subject/Date/Message-ID, about 2 KB of body
// lines, two recipients.
func smallMessage() []rec {
	var rs []rec
	put := func(typ byte, data string) { rs = append(rs, rec{typ, []byte(data)}) }
	put('T', "1795530772 599664")
	put('S', "sender@example.org")
	for _, a := range []string{"log_client_name=localhost", "log_client_address=127.0.0.1", "log_client_port=40000",
		"log_message_origin=localhost[127.0.0.1]", "log_protocol_name=QMQP", "client_name=localhost",
		"client_address=127.0.0.1", "client_port=40000", "client_address_type=2", "protocol_name=QMQP"} {
		put('A', a)
	}
	put('R', "rcpt@example.com")
	put('R', "Other.Rcpt@Example.NET")
	put('M', "")
	put('N', "Received: from localhost (localhost [127.0.0.1])")
	put('N', "\tby research.example.org (Postfix) with QMQP")
	put('N', "\tfor <rcpt@example.com>; Tue, 24 Nov 2026 20:00:00 +0000 (UTC)")
	put('N', "From: Sender Name <sender@example.org>")
	put('N', "To: rcpt@example.com, Other Rcpt <Other.Rcpt@Example.NET>")
	put('N', "Subject: a small benchmark message")
	put('N', "Date: Tue, 24 Nov 2026 20:00:00 +0000")
	put('N', "Message-ID: <20261124200000.12345@example.org>")
	put('N', "")
	line := "La de da de da 1. La de da de da 2. La de da de da 3. La de da de da 4."
	for n := 0; n < 2000; n += len(line) + 1 {
		put('N', line)
	}
	put('X', "")
	put('E', "")
	return rs
}

// BenchmarkCleanupSmallMessage measures cleanup's CPU time and allocations
// for one typical small message (see smallMessage), with one Cleanup
// reused across messages and a log function (that discards the lines), as
// the server has.
func BenchmarkCleanupSmallMessage(b *testing.B) {
	s := DefaultSettings("research.example.org", "example.org")
	s.Location = time.UTC
	c := &Cleanup{Settings: s, Store: &reusedStore{}, Log: func(bool, string) {},
		Now: func() time.Time { return time.Unix(1795530772, 0) }}
	msg := smallMessage()
	b.ReportAllocs()
	for b.Loop() {
		st, err := c.Open(b.Context(), s.QMQPFlags())
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range msg {
			if err := st.Record(r.typ, r.data); err != nil {
				b.Fatal(err)
			}
		}
		if status, reason := st.Finish(); status != StatOK {
			b.Fatalf("status %#x %s", status, reason)
		}
	}
}
