package queuefile

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func BenchmarkWriterRecord(b *testing.B) {
	w := NewWriter(io.Discard)
	line := []byte("Received: from localhost (localhost [127.0.0.1])")
	b.ReportAllocs()
	b.SetBytes(int64(len(line) + 2))
	for i := 0; i < b.N; i++ {
		if err := w.Record(RecNorm, line); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriterRecordString(b *testing.B) {
	w := NewWriter(io.Discard)
	const line = "Received: from localhost (localhost [127.0.0.1])"
	b.ReportAllocs()
	b.SetBytes(int64(len(line) + 2))
	for i := 0; i < b.N; i++ {
		if err := w.RecordString(RecNorm, line); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriterAttr(b *testing.B) {
	w := NewWriter(io.Discard)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := w.Attr("log_client_name", "localhost"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriterRecordf(b *testing.B) {
	w := NewWriter(io.Discard)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := w.Recordf(RecTime, "%d %d", 1795530772, 599664); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSizePayload(b *testing.B) {
	s := Size{ContentSize: 372, DataOffset: 545, Recipients: 2, ContentLength: 372}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = s.Payload()
	}
}

// BenchmarkCommit32 creates, writes (2 KB) and commits queue files from 32
// goroutines: plain per-file fsync against group commit in both Syncer
// modes.
func BenchmarkCommit32(b *testing.B) {
	data := make([]byte, 2000)
	for _, mode := range []SyncMode{0, SyncFiles, SyncFS} {
		name := "plain"
		if mode != 0 {
			name = "group-" + mode.String()
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "incoming"), 0o700); err != nil {
				b.Fatal(err)
			}
			q := &Queue{Dir: dir}
			if mode != 0 {
				s, err := NewSyncerMode(dir, mode)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				q.Syncer = s
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					f, err := q.Create(time.Time{})
					if err != nil {
						b.Error(err)
						return
					}
					_ = f.Writer().Record(RecNorm, data)
					if err := f.Commit(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			if q.Syncer != nil {
				st := q.Syncer.Stats()
				b.ReportMetric(float64(st.Files)/float64(max(st.Batches, 1)), "files/sync")
			}
		})
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWriteMessage encodes the records of one typical 2 KB QMQP
// message's queue file (size record, envelope, 30 content lines) into a
// fresh Writer: the per-message cost of the record writer.
func BenchmarkWriteMessage(b *testing.B) {
	line := []byte("La de da de da 1. La de da de da 2. La de da de da 3. La de da de da 4.")
	b.ReportAllocs()
	for b.Loop() {
		w := NewWriter(io.Discard)
		_ = w.Record(RecSize, Size{}.Payload())
		_ = w.RecordString(RecTime, "1795530772 599664")
		_ = w.Attr("create_time", "1795530772")
		_ = w.RecordString(RecFrom, "sender@example.org")
		for _, a := range [...][2]string{{"log_client_name", "localhost"}, {"log_client_address", "127.0.0.1"}, {"log_client_port", "40000"},
			{"log_message_origin", "localhost[127.0.0.1]"}, {"log_protocol_name", "QMQP"}, {"client_name", "localhost"},
			{"client_address", "127.0.0.1"}, {"client_port", "40000"}, {"client_address_type", "2"}, {"protocol_name", "QMQP"}} {
			_ = w.Attr(a[0], a[1])
		}
		_ = w.RecordString(RecRcpt, "rcpt@example.com")
		_ = w.Record(RecMesg, nil)
		for range 30 {
			_ = w.Record(RecNorm, line)
		}
		_ = w.Record(RecXtra, nil)
		_ = w.Record(RecEnd, nil)
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}
