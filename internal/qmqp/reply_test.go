package qmqp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestWriteReply(t *testing.T) {
	// Replies observed from Postfix 3.7.11's qmqpd.
	tests := []struct {
		r    Reply
		want string
	}{
		{Queued("93E5698A2F3"), "26:KOk: queued as 93E5698A2F3,"},
		{NotAuthorized("localhost[127.0.0.1]"), "66:DError: localhost[127.0.0.1] is not authorized to use this service,"},
		{ReplyConfigError, "34:ZError: server configuration error,"},
		{FinalReply(CleanupStatRcpt, "", "X"), "31:DError: no recipients specified,"},
		{FinalReply(CleanupStatRcpt, "", "X").SoftBounce(true), "31:ZError: no recipients specified,"},
		{FinalReply(CleanupStatSize, "", "X"), "25:DError: message too large,"},
		{FinalReply(CleanupStatHops, "", "X"), "21:DError: too many hops,"},
		{FinalReply(CleanupStatCont, "5.7.1 message content rejected", "X"), "38:DError: 5.7.1 message content rejected,"},
		{FinalReply(CleanupStatCont, "4.7.1 try later", "X"), "23:ZError: 4.7.1 try later,"},
		{FinalReply(CleanupStatWrite|CleanupStatRcpt, "", "X"), "30:ZError: queue file write error,"},
		{FinalReply(CleanupStatBad|CleanupStatSize, "", "X"), "24:ZError: internal error 5,"},
		{FinalReply(CleanupStatDefer|CleanupStatBad, "4.3.0 later", "X"), "19:ZError: 4.3.0 later,"},
		{FinalReply(0x20, "", "X"), "25:ZError: internal error 32,"},
		{(&Error{Kind: KindFormat, Where: WhereHeader}).mustReply(), "58:Dnetstring format error while receiving QMQP packet header,"},
		{(&Error{Kind: KindSize, Where: WhereSender}).mustReply(), "70:Dnetstring length exceeds storage limit while receiving sender address,"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := WriteReply(&b, tt.r.Code, tt.r.Text); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("WriteReply(%q) = %q, want %q", tt.r, b.String(), tt.want)
		}
		if got := string(tt.r.Netstring()); got != tt.want {
			t.Errorf("Netstring() = %q", got)
		}
		back, err := ReadReply(strings.NewReader(tt.want))
		if err != nil || back != tt.r {
			t.Errorf("ReadReply(%q) = %v, %v", tt.want, back, err)
		}
	}
}

func (e *Error) mustReply() Reply {
	r, ok := e.Reply()
	if !ok {
		panic("no reply")
	}
	return r
}

func TestErrorReply(t *testing.T) {
	for _, e := range []*Error{
		{Kind: KindEOF, Where: WhereContent},
		{Kind: KindTimeout, Where: WhereContent},
		{Kind: KindFormat, Where: WhereContent, Err: errTimeout{}},
	} {
		if r, ok := e.Reply(); ok {
			t.Errorf("%v: Reply() = %v, want none", e, r)
		}
	}
	if _, ok := (&Error{Kind: KindFormat, Where: WhereContent}).Reply(); !ok {
		t.Error("format error without I/O error has no reply")
	}
}

type errTimeout struct{}

func (errTimeout) Error() string   { return "i/o timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }

func TestReadReplyBad(t *testing.T) {
	for _, in := range []string{
		"", "x", ":", "0:,", "1:X,", "3:Kab;", "5:Kab,", "99999:K", "2:K", "1:K",
	} {
		r, err := ReadReply(strings.NewReader(in))
		if err == nil {
			t.Errorf("ReadReply(%q) = %v, want error", in, r)
		}
		if in == "x" && !errors.Is(err, ErrBadReply) {
			t.Errorf("ReadReply(%q) error = %v, want ErrBadReply", in, err)
		}
	}
	if r, err := ReadReply(strings.NewReader("1:K,")); err != nil || r != (Reply{Code: 'K'}) {
		t.Errorf("ReadReply(1:K,) = %v, %v", r, err)
	}
}
