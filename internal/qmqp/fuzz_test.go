package qmqp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the packet parser. A packet that
// parses must survive a re-encoding round trip; a failure must be an
// *Error with one of qmqpd's texts; the address buffer never outgrows the
// limit.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		// Malformed netstrings from CM4all qrelay's parser tests.
		"", ":", "03:foo,", "+3:foo,", "-3:foo,", " 3:foo,", "3 :foo,",
		"18446744073709551616:x,", "3:foo;", "3:foo", "3:fo", "0x3:foo,",
		// Whole packets.
		"22:5:hello,3:a@b,5:c@d.e,,", "::,:,,", "1:0:,0:,,", "5:3:abc,1:s,1:r,,trailing",
		"1:3:foo,1:a,x", "1:3:foo,1:a, 1:b,,", "1:1:x,11:01234567890,,",
		"1:9223372036854775807:", "1:99999999999999999999:",
	} {
		f.Add([]byte(s))
	}
	lim := Limits{MessageSize: 64, AddressSize: 10}
	f.Fuzz(func(t *testing.T, in []byte) {
		got := parseAll(string(in), lim)
		if got.Err != "" {
			if got.Kind == 0 {
				t.Fatalf("error %q is not an *Error", got.Err)
			}
			if !strings.HasSuffix(got.Err, " while "+whereOf(got.Err)) {
				t.Fatalf("error text %q", got.Err)
			}
			return
		}
		if len(got.Content) > 64 || len(got.Sender) > 10 {
			t.Fatalf("limit not enforced: %+v", got)
		}
		again := parseAll(string(AppendPacket(nil, []byte(got.Content), got.Sender, got.Rcpts)), lim)
		if again.Err != "" || again.Content != got.Content || again.Sender != got.Sender || len(again.Rcpts) != len(got.Rcpts) {
			t.Fatalf("round trip: %+v -> %+v", got, again)
		}
		// The address buffer is bounded by the limit.
		r := NewReader(bytes.NewReader(in), lim)
		for {
			_, ok, err := r.NextRecipientBytes()
			if cap(r.buf) > 10+bufferSize {
				t.Fatalf("address buffer grew to %d", cap(r.buf))
			}
			if !ok || err != nil {
				break
			}
		}
	})
}

func whereOf(text string) string {
	_, w, _ := strings.Cut(text, " while ")
	switch w {
	case WhereHeader, WhereContent, WhereSender, WhereRecipient:
		return w
	}
	return "(bad where)"
}

// slowReader returns one byte per Read, to exercise buffer boundaries.
type slowReader struct{ r io.Reader }

func (s slowReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return s.r.Read(p)
}

func TestReaderByteAtATime(t *testing.T) {
	in := "22:5:hello,3:a@b,5:c@d.e,,"
	r := NewReader(slowReader{strings.NewReader(in)}, defLimits)
	c, n, err := r.Message()
	if err != nil || n != 5 {
		t.Fatal(n, err)
	}
	var b bytes.Buffer
	if _, err := io.Copy(&b, c); err != nil || b.String() != "hello" {
		t.Fatalf("content %q, %v", b.String(), err)
	}
	s, err := r.Sender()
	if err != nil || s != "a@b" {
		t.Fatal(s, err)
	}
	rc, ok, err := r.NextRecipient()
	if err != nil || !ok || rc != "c@d.e" {
		t.Fatal(rc, ok, err)
	}
	if _, ok, err := r.NextRecipient(); ok || err != nil {
		t.Fatal(ok, err)
	}
}

func TestHugeClaimsAllocateNothing(t *testing.T) {
	// A client claiming a 9 EB message or a huge address costs nothing.
	for _, in := range []string{
		"1:9223372036854775807:abc",
		"1:0:,9223372036854775807:abc",
	} {
		allocs := testing.AllocsPerRun(10, func() {
			r := NewReader(strings.NewReader(in), Limits{})
			if c, _, err := r.Message(); err == nil {
				io.Copy(io.Discard, c)
			}
			r.Sender()
		})
		if allocs > 12 {
			t.Errorf("%q: %v allocations", in, allocs)
		}
	}
	var qe *Error
	r := NewReader(strings.NewReader("1:0:,9223372036854775807:abc"), Limits{})
	if _, err := r.Sender(); !errors.As(err, &qe) || qe.Kind != KindEOF {
		t.Errorf("error %v", err)
	}
}

// FuzzReadReply parses arbitrary server answers: a reply that parses has a
// K, Z or D status, fits MaxReplySize and is the input's first netstring;
// everything else is an error, never a panic.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"26:KOk: queued as 8E94B9899C3,", "1:K,", "31:DError: no recipients specified,",
		"0:,", ":K,", "2:Xy,", "5:Kabc", "5:Kabcd;", "04:Kabc,", "99999999999:K", "-1:K,", "3:K\x00b,trailing",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ReadReply(bytes.NewReader(in))
		if err != nil {
			return
		}
		if r.Code != StatusOK && r.Code != StatusRetry && r.Code != StatusHard {
			t.Fatalf("status %q", r.Code)
		}
		if len(r.Text)+1 > MaxReplySize {
			t.Fatalf("reply of %d bytes", len(r.Text)+1)
		}
		// The reply's canonical encoding ends the input's first netstring.
		enc := r.Netstring()
		i := bytes.IndexByte(in, ':')
		if i < 0 || !bytes.HasPrefix(in[i:], enc[bytes.IndexByte(enc, ':'):]) {
			t.Fatalf("reply %q does not match input %q", enc, in)
		}
	})
}
