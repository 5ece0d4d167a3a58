package queuefile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"runtime"
	"testing"
	"time"
)

var examples = []string{"testdata/bare-message.qf", "testdata/two-recipients.qf"}

func readAll(t *testing.T, data []byte) []Record {
	t.Helper()
	r := NewReader(bytes.NewReader(data))
	var recs []Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return recs
		}
		if err != nil {
			t.Fatalf("record %d: %v", len(recs), err)
		}
		recs = append(recs, rec)
	}
}

// TestRoundTripExamples re-encodes the real Postfix files record by record
// and expects the same bytes.
func TestRoundTripExamples(t *testing.T) {
	for _, name := range examples {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		recs := readAll(t, data)
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, rec := range recs {
			if w.Offset() != rec.Offset {
				t.Fatalf("%s: writer offset %d, record offset %d", name, w.Offset(), rec.Offset)
			}
			if err := w.Record(rec.Type, rec.Data); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), data) {
			t.Errorf("%s: re-encoded file differs", name)
		}
		if recs[0].Type != RecSize || len(recs[0].Data) != SizePayloadLen {
			t.Fatalf("%s: first record %c len %d", name, recs[0].Type, len(recs[0].Data))
		}
		s, err := ParseSize(recs[0].Data)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Payload(); !bytes.Equal(got, recs[0].Data) {
			t.Errorf("%s: size payload %q, want %q", name, got, recs[0].Data)
		}
		// Check the six fields against the file's structure.
		var mesg, xtra, rcpts int64 = -1, -1, 0
		for _, rec := range recs {
			switch rec.Type {
			case RecMesg:
				mesg = rec.Offset
			case RecXtra:
				xtra = rec.Offset
			case RecRcpt:
				rcpts++
			}
		}
		want := Size{ContentSize: xtra - (mesg + 2), DataOffset: mesg + 2, Recipients: rcpts, ContentLength: xtra - (mesg + 2)}
		if s != want {
			t.Errorf("%s: size %+v, want %+v", name, s, want)
		}
	}
}

func TestLengthEncoding(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []byte
	}{{0, []byte{0}}, {95, []byte{0x5f}}, {127, []byte{0x7f}}, {128, []byte{0x80, 0x01}}, {961, []byte{0xc1, 0x07}}, {2048, []byte{0x80, 0x10}}, {1 << 21, []byte{0x80, 0x80, 0x80, 0x01}}} {
		got := AppendRecord(nil, RecNorm, make([]byte, tc.n))
		if !bytes.Equal(got[1:1+len(tc.want)], tc.want) {
			t.Errorf("length %d encoded as % x, want % x", tc.n, got[1:1+len(tc.want)], tc.want)
		}
		recs := readAll(t, got)
		if len(recs) != 1 || len(recs[0].Data) != tc.n {
			t.Errorf("length %d did not round-trip", tc.n)
		}
	}
}

func TestReaderErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		kind error
		text string
	}{
		{"truncated length", []byte{'N', 0x85}, ErrTruncatedLength, "f: unexpected EOF reading length, record type 78"},
		{"no length", []byte{'N'}, ErrTruncatedLength, "f: unexpected EOF reading length, record type 78"},
		{"truncated data", []byte{'N', 5, 'a', 'b'}, ErrTruncatedData, "f: unexpected EOF in data, record type 78 length 5"},
		{"too many length bits", []byte{'N', 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, ErrLengthBits, "f: too many length bits, record type 78"},
		{"negative length", []byte{'N', 0x80, 0x80, 0x80, 0x80, 0x7f}, ErrIllegalLength, "f: illegal length -268435456, record type 78"},
		{"unknown type", []byte{'Z', 0}, ErrUnknownType, "f: unknown record type, record type 90"},
	} {
		r := NewReader(bytes.NewReader(tc.in))
		r.Path = "f"
		_, err := r.Next()
		var fe *FormatError
		if !errors.As(err, &fe) || !errors.Is(err, tc.kind) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.kind)
			continue
		}
		if err.Error() != tc.text {
			t.Errorf("%s: text %q, want %q", tc.name, err.Error(), tc.text)
		}
	}
	r := NewReader(bytes.NewReader([]byte{'N', 3, 'a', 'b', 'c'}))
	r.MaxLength = 2
	if _, err := r.Next(); !errors.Is(err, ErrIllegalLength) || err.Error() != "illegal length 3, record type 78" {
		t.Errorf("MaxLength: %v", err)
	}
	r = NewReader(bytes.NewReader([]byte{'Z', 1, 'x'}))
	r.AllowUnknown = true
	if rec, err := r.Next(); err != nil || rec.Type != 'Z' || string(rec.Data) != "x" {
		t.Errorf("AllowUnknown: %v %v", rec, err)
	}
}

func TestNames(t *testing.T) {
	for typ, want := range map[byte]string{'C': "message_size", 'L': "content_filter", 'N': "regular_text", 'p': "pointer_record", 'm': "unknown_record_type", 'd': "unknown_record_type", 'Q': "unknown_record_type", 'c': "queue_file_create_time"} {
		if got := Name(typ); got != want {
			t.Errorf("Name(%q) = %q, want %q", typ, got, want)
		}
	}
	for _, c := range EnvelopeTypes + ContentTypes + ExtractTypes + "fdm" {
		if !Known(byte(c)) {
			t.Errorf("%q not known", c)
		}
	}
}

// TestReaderHugeDeclaredLength: a record claiming 2 GiB in a 6-byte file
// fails as truncated without allocating the claimed size.
func TestReaderHugeDeclaredLength(t *testing.T) {
	in := []byte{'N', 0xff, 0xff, 0xff, 0xff, 0x07}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := NewReader(bytes.NewReader(in)).Next()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTruncatedData) {
		t.Errorf("error %v, want truncated data", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("reading a 6-byte file allocated %d bytes", grew)
	}
	// A long record that is really there still reads back whole.
	long := bytes.Repeat([]byte("0123456789"), 30000)
	rec, err := NewReader(bytes.NewReader(AppendRecord(nil, RecNorm, long))).Next()
	if err != nil || !bytes.Equal(rec.Data, long) {
		t.Errorf("long record: %d bytes, %v", len(rec.Data), err)
	}
}

// TestWriterBuffering: records of every size around the buffer size encode
// exactly as AppendRecord does, offsets stay exact, and patching works both
// for bytes still buffered and for bytes already written.
func TestWriterBuffering(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	var want []byte
	sizes := []int{0, 1, 100, writerBufStart - 3, writerBufStart, 2*writerBufStart + 1, 9000, writerBufSize - 3, writerBufSize, writerBufSize + 1, 3 * writerBufSize, 5, 127, 128, 16383, 16384}
	for i, n := range sizes {
		data := bytes.Repeat([]byte{byte('a' + i)}, n)
		if i%2 == 0 {
			_ = w.Record(RecNorm, data)
		} else {
			_ = w.RecordString(RecNorm, string(data))
		}
		want = AppendRecord(want, RecNorm, data)
		if w.Offset() != int64(len(want)) {
			t.Fatalf("after record %d: offset %d, want %d", i, w.Offset(), len(want))
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatal("encoding differs from AppendRecord")
	}

	// Patching: in the buffer, then after a flush (through a file).
	q := newQueue(t)
	for _, flushFirst := range []bool{false, true} {
		f, err := q.Create(time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		_ = f.Writer().Record(RecSize, Size{}.Payload())
		_ = f.Writer().RecordString(RecNorm, "text")
		if flushFirst {
			_ = f.Writer().Flush()
		}
		if err := f.PatchSize(Size{ContentSize: 7, DataOffset: 99}); err != nil {
			t.Fatal(err)
		}
		if err := f.Commit(); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(f.Path)
		recs := readAll(t, got)
		if s, _ := ParseSize(recs[0].Data); s.ContentSize != 7 || s.DataOffset != 99 || string(recs[1].Data) != "text" {
			t.Errorf("flushFirst=%v: size %+v, records %v", flushFirst, s, recs)
		}
	}
}
