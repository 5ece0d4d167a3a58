package qmqp

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type parsed struct {
	Content string
	Sender  string
	Rcpts   []string
	Err     string
	Kind    Kind
}

func parseAll(in string, lim Limits) parsed {
	var p parsed
	r := NewReader(strings.NewReader(in), lim)
	fail := func(err error) parsed {
		p.Err = err.Error()
		var qe *Error
		if errors.As(err, &qe) {
			p.Kind = qe.Kind
		}
		return p
	}
	c, _, err := r.Message()
	if err != nil {
		return fail(err)
	}
	b, err := io.ReadAll(c)
	p.Content = string(b)
	if err != nil {
		return fail(err)
	}
	if p.Sender, err = r.Sender(); err != nil {
		return fail(err)
	}
	for {
		rc, ok, err := r.NextRecipient()
		if err != nil {
			return fail(err)
		}
		if !ok {
			break
		}
		p.Rcpts = append(p.Rcpts, rc)
	}
	return p
}

var defLimits = Limits{MessageSize: 100, AddressSize: 10}

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		lim  Limits
		want parsed
	}{
		{"simple", "24:5:hello,3:a@b,5:c@d.e,,", defLimits,
			parsed{Content: "hello", Sender: "a@b", Rcpts: []string{"c@d.e"}}},
		{"outer length ignored", "5:5:hello,3:a@b,5:c@d.e,,", defLimits,
			parsed{Content: "hello", Sender: "a@b", Rcpts: []string{"c@d.e"}}},
		{"empty lengths", "::,:,,", defLimits, parsed{}},
		{"zero padded", "0007:005:hello,0003:a@b,,", defLimits,
			parsed{Content: "hello", Sender: "a@b"}},
		{"no recipients", "1:0:,0:,,", defLimits, parsed{}},
		{"two recipients", "1:0:,0:,1:x,1:y,,trailing junk", defLimits,
			parsed{Rcpts: []string{"x", "y"}}},
		{"address at limit", "1:0:,10:0123456789,,", defLimits,
			parsed{Sender: "0123456789"}},
		{"sender too long", "1:0:,11:01234567890,,", defLimits,
			parsed{Err: "netstring length exceeds storage limit while receiving sender address", Kind: KindSize}},
		{"recipient too long", "1:0:,0:,11:01234567890,,", defLimits,
			parsed{Err: "netstring length exceeds storage limit while receiving recipient address", Kind: KindSize}},
		{"content too long", "1:101:", defLimits,
			parsed{Err: "netstring length exceeds storage limit while receiving message content", Kind: KindSize}},
		{"content at limit, unlimited addresses", "1:3:abc,0:,,", Limits{MessageSize: 3},
			parsed{Content: "abc"}},
		{"unlimited content", "1:3:abc,0:,,", Limits{}, parsed{Content: "abc"}},
		{"bad header", "x", defLimits,
			parsed{Err: "netstring format error while receiving QMQP packet header", Kind: KindFormat}},
		{"header sign", "+3:", defLimits,
			parsed{Err: "netstring format error while receiving QMQP packet header", Kind: KindFormat}},
		{"header overflow", "18446744073709551616:", defLimits,
			parsed{Err: "netstring length exceeds storage limit while receiving QMQP packet header", Kind: KindSize}},
		{"content overflow", "1:9223372036854775808:", Limits{},
			parsed{Err: "netstring length exceeds storage limit while receiving message content", Kind: KindSize}},
		{"content max int64", "1:9223372036854775807:", Limits{},
			parsed{Err: "lost connection while receiving message content", Kind: KindEOF}},
		{"bad content terminator", "1:3:foo;", defLimits,
			parsed{Content: "foo", Err: "netstring format error while receiving message content", Kind: KindFormat}},
		{"short content", "1:3:fo", defLimits,
			parsed{Content: "fo", Err: "lost connection while receiving message content", Kind: KindEOF}},
		{"empty input", "", defLimits,
			parsed{Err: "lost connection while receiving QMQP packet header", Kind: KindEOF}},
		{"eof at content terminator", "1:3:foo", defLimits,
			parsed{Content: "foo", Err: "netstring format error while receiving message content", Kind: KindFormat}},
		{"eof at recipient terminator", "1:3:foo,1:a,1:b", defLimits,
			parsed{Content: "foo", Sender: "a", Err: "netstring format error while receiving recipient address", Kind: KindFormat}},
		{"no sender", "1:3:foo,", defLimits,
			parsed{Content: "foo", Err: "lost connection while receiving sender address", Kind: KindEOF}},
		{"bad sender terminator", "1:3:foo,1:a;", defLimits,
			parsed{Content: "foo", Err: "netstring format error while receiving sender address", Kind: KindFormat}},
		{"eof before final comma", "1:3:foo,1:a,", defLimits,
			parsed{Content: "foo", Sender: "a", Err: "lost connection while receiving recipient address", Kind: KindEOF}},
		{"junk between recipients", "1:3:foo,1:a,x", defLimits,
			parsed{Content: "foo", Sender: "a", Err: "netstring format error while receiving recipient address", Kind: KindFormat}},
		{"space in length", "1:3:foo,1:a, 1:b,,", defLimits,
			parsed{Content: "foo", Sender: "a", Err: "netstring format error while receiving recipient address", Kind: KindFormat}},
		{"binary addresses", "1:0:,3:a\x00b,2:\r\n,,", defLimits,
			parsed{Sender: "a\x00b", Rcpts: []string{"\r\n"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseAll(tt.in, tt.lim)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parse %q (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestSenderSkipsContent(t *testing.T) {
	r := NewReader(strings.NewReader("30:11:hello world,1:s,1:r,,"), defLimits)
	s, err := r.Sender()
	if err != nil || s != "s" {
		t.Fatalf("Sender() = %q, %v", s, err)
	}
	rc, ok, err := r.NextRecipient()
	if err != nil || !ok || rc != "r" {
		t.Fatalf("NextRecipient() = %q, %v, %v", rc, ok, err)
	}
	if _, ok, err := r.NextRecipient(); ok || err != nil {
		t.Fatalf("end: %v %v", ok, err)
	}
	if !r.Done() {
		t.Error("Done() = false")
	}
}

func TestStickyError(t *testing.T) {
	r := NewReader(strings.NewReader("x"), defLimits)
	_, _, err1 := r.Message()
	_, err2 := r.Sender()
	_, _, err3 := r.NextRecipient()
	if err1 == nil || err1 != err2 || err2 != err3 {
		t.Errorf("errors not sticky: %v / %v / %v", err1, err2, err3)
	}
	if r.Where() != WhereHeader {
		t.Errorf("Where() = %q", r.Where())
	}
}

// TestReaderReset: a Reader reset onto a new stream parses it as a new
// Reader would, whatever state the previous packet left it in (finished,
// failed half-way, or with bytes read ahead).
func TestReaderReset(t *testing.T) {
	good := "23:5:hello,3:a@b,4:c@de,,"
	r := NewReader(strings.NewReader("30:5:hello,3:a"), Limits{MessageSize: 100, AddressSize: 100})
	if err := r.Header(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Message(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sender(); err == nil {
		t.Fatal("truncated packet parsed")
	}
	for range 2 {
		r.Reset(strings.NewReader(good+"trailing"), Limits{MessageSize: 100, AddressSize: 100})
		if err := r.Header(); err != nil {
			t.Fatal(err)
		}
		body, _, err := r.Message()
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(body)
		sender, err := r.Sender()
		if err != nil || string(msg) != "hello" || sender != "a@b" {
			t.Fatalf("after Reset: %q %q %v", msg, sender, err)
		}
		rcpt, more, err := r.NextRecipient()
		if err != nil || !more || rcpt != "c@de" {
			t.Fatalf("recipient %q %v %v", rcpt, more, err)
		}
		if _, more, err := r.NextRecipient(); err != nil || more {
			t.Fatalf("end of recipients: %v %v", more, err)
		}
	}
	r.Reset(strings.NewReader(good), Limits{MessageSize: 2, AddressSize: 100})
	_ = r.Header()
	if _, _, err := r.Message(); err == nil {
		t.Error("the new, smaller message size limit was not applied")
	}
}
