package queuefile

import (
	"io"
	"testing"
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
