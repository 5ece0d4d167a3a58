package queuefile

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"testing"
	"testing/iotest"
)

func TestSpool(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		size   int
		limit  int
		inMem  bool
		viaRdr bool
	}{
		{"empty", 0, 100, true, true},
		{"small", 50, 100, true, true},
		{"exact", 100, 100, true, true},
		{"over", 101, 100, false, true},
		{"large", 300000, 1000, false, true},
		{"large-writes", 300000, 1000, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := make([]byte, tc.size)
			for i := range msg {
				msg[i] = byte(i * 7)
			}
			sp := NewSpool(dir, tc.limit)
			defer sp.Close()
			if tc.viaRdr {
				n, err := sp.ReadFrom(iotest.HalfReader(bytes.NewReader(msg)))
				if err != nil || n != int64(len(msg)) {
					t.Fatalf("ReadFrom = %d, %v", n, err)
				}
			} else {
				for i := 0; i < len(msg); i += 777 {
					if _, err := sp.Write(msg[i:min(i+777, len(msg))]); err != nil {
						t.Fatal(err)
					}
				}
			}
			if sp.Len() != int64(len(msg)) || sp.InMemory() != tc.inMem {
				t.Errorf("Len %d InMemory %v", sp.Len(), sp.InMemory())
			}
			if b, ok := sp.Bytes(); ok != tc.inMem || ok && !bytes.Equal(b, msg) {
				t.Errorf("Bytes ok=%v", ok)
			}
			if !tc.inMem && cap(sp.buf) != 0 {
				t.Errorf("memory kept after spilling: %d", cap(sp.buf))
			}
			for range 2 {
				r, err := sp.Reader()
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(r)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("read back %d bytes, %v", len(got), err)
				}
			}
		})
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Errorf("spool left names in the directory: %v", ents)
	}
}

func TestSpoolErrors(t *testing.T) {
	sp := NewSpool("/nonexistent-dir-for-spool", 10)
	if _, err := sp.Write(make([]byte, 20)); err == nil {
		t.Fatal("spilling into a missing directory succeeded")
	}
	if _, err := sp.Reader(); err == nil {
		t.Error("Reader after a failed spill succeeded")
	}
	sp = NewSpool(t.TempDir(), 10)
	if _, err := sp.ReadFrom(iotest.ErrReader(io.ErrUnexpectedEOF)); err != io.ErrUnexpectedEOF {
		t.Errorf("read error = %v", err)
	}
	_ = sp.Close()
	if _, err := sp.Reader(); err == nil {
		t.Error("Reader after Close succeeded")
	}
}

func TestQueueSpool(t *testing.T) {
	q := newQueue(t)
	sp := q.NewSpool()
	defer sp.Close()
	if _, err := sp.Write(make([]byte, DefaultSpoolMemory+1)); err != nil {
		t.Fatal(err)
	}
	if sp.InMemory() {
		t.Error("still in memory")
	}
	if got := onlyEntries(t, q.Dir); len(got) != 0 {
		t.Errorf("visible spool files: %v", got)
	}
}

func BenchmarkSpool(b *testing.B) {
	for _, size := range []int{2 << 10, 100 << 10, 5 << 20} {
		msg := make([]byte, size)
		b.Run(byteSize(size), func(b *testing.B) {
			dir := b.TempDir()
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				sp := NewSpool(dir, 0)
				sp.Grow(int64(size))
				if _, err := sp.ReadFrom(bytes.NewReader(msg)); err != nil {
					b.Fatal(err)
				}
				r, _ := sp.Reader()
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
				sp.Close()
			}
		})
	}
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20:
		return strconv.Itoa(n>>20) + "MiB"
	case n >= 1<<10:
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// TestSpoolReset: one Spool reused for messages in memory, spilled to a
// file and in memory again gives back each message exactly, keeps its
// memory buffer while it fits the limit, and leaves no file behind.
func TestSpoolReset(t *testing.T) {
	dir := t.TempDir()
	sp := NewSpool(dir, 1000)
	var lastBuf *byte
	for i, size := range []int{500, 3000, 999, 200, 0, 1000} {
		if i > 0 {
			if err := sp.Reset(dir, 1000); err != nil {
				t.Fatal(err)
			}
		}
		msg := bytes.Repeat([]byte{byte('a' + i)}, size)
		sp.Grow(int64(size))
		if _, err := sp.ReadFrom(iotest.HalfReader(bytes.NewReader(msg))); err != nil {
			t.Fatal(err)
		}
		r, err := sp.Reader()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		if !bytes.Equal(got, msg) || sp.Len() != int64(size) || sp.InMemory() != (size <= 1000) {
			t.Fatalf("message %d (%d bytes): got %d bytes, Len %d, in memory %v", i, size, len(got), sp.Len(), sp.InMemory())
		}
		if b, ok := sp.Bytes(); ok && size == 999 {
			lastBuf = &b[:1][0]
		}
		if b, ok := sp.Bytes(); ok && size == 200 && lastBuf != nil && &b[:1][0] != lastBuf {
			t.Errorf("the memory buffer was not reused")
		}
	}
	if err := sp.Reset(dir, 10); err != nil {
		t.Fatal(err)
	}
	if b, _ := sp.Bytes(); cap(b) > 10 {
		t.Errorf("kept a %d-byte buffer under a 10-byte limit", cap(b))
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("spool directory not empty: %v", ents)
	}
}
