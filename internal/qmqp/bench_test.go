package qmqp

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

func benchPacket(size, rcpts int) []byte {
	msg := bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog.\n"), size/45+1)[:size]
	var rs []string
	for i := 0; i < rcpts; i++ {
		rs = append(rs, fmt.Sprintf("user%d@example.com", i))
	}
	return AppendPacket(nil, msg, "list-owner@example.org", rs)
}

func benchmarkReader(b *testing.B, size, rcpts int) {
	pkt := benchPacket(size, rcpts)
	lim := Limits{MessageSize: 10240000, AddressSize: 2048}
	src := bytes.NewReader(pkt)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(pkt)
		r := NewReader(src, lim)
		c, _, err := r.Message()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, c); err != nil {
			b.Fatal(err)
		}
		if _, err := r.SenderBytes(); err != nil {
			b.Fatal(err)
		}
		for {
			_, ok, err := r.NextRecipientBytes()
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
		}
	}
}

func BenchmarkReaderSmall(b *testing.B)          { benchmarkReader(b, 2000, 1) }
func BenchmarkReaderLarge(b *testing.B)          { benchmarkReader(b, 1<<20, 1) }
func BenchmarkReaderManyRecipients(b *testing.B) { benchmarkReader(b, 2000, 1000) }

func BenchmarkAppendReply(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = AppendReply(buf[:0], StatusOK, "Ok: queued as 93E5698A2F3")
	}
}
