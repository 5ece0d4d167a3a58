package queuefile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the record reader: it must never
// panic, must account for every byte it consumed, and every record it
// accepts must re-encode to exactly the bytes it came from.
func FuzzReader(f *testing.F) {
	for _, name := range examples {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte{'N', 0x80, 0x80, 0x80, 0x80, 0x7f})
	f.Add([]byte{'N', 0x85})
	f.Add([]byte{'Z', 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		r.AllowUnknown = len(data)%2 == 0
		var off int64
		for {
			rec, err := r.Next()
			if err == io.EOF {
				if off != int64(len(data)) {
					t.Fatalf("clean EOF at %d of %d", off, len(data))
				}
				return
			}
			if err != nil {
				var fe *FormatError
				if !errors.As(err, &fe) || fe.Offset != off {
					t.Fatalf("unexpected error %v at %d", err, off)
				}
				return
			}
			if rec.Offset != off {
				t.Fatalf("record offset %d, want %d", rec.Offset, off)
			}
			enc := AppendRecord(nil, rec.Type, rec.Data)
			if !bytes.Equal(enc, data[off:off+int64(len(enc))]) {
				// Postfix accepts non-minimal length encodings (e.g. 0x80 0x00);
				// they must at least decode to the same length.
				if len(enc) > int(r.Offset()-off) {
					t.Fatalf("record at %d re-encodes longer than its source", off)
				}
			}
			off = r.Offset()
		}
	})
}
