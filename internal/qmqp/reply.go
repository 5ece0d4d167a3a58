package qmqp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Status bytes of a QMQP reply.
const (
	StatusOK    byte = 'K' // message accepted
	StatusRetry byte = 'Z' // temporary failure, try again later
	StatusHard  byte = 'D' // permanent failure
)

// Reply is a server's answer: a status byte and a text.
type Reply struct {
	Code byte
	Text string
}

// String returns the reply as it travels inside its netstring: the status
// byte followed by the text.
func (r Reply) String() string { return string(r.Code) + r.Text }

// Netstring returns the reply encoded as the netstring a server sends.
func (r Reply) Netstring() []byte { return AppendReply(nil, r.Code, r.Text) }

// SoftBounce returns r with a hard (D) status turned into a temporary (Z)
// one when soft is true (Postfix's soft_bounce); the text is kept.
func (r Reply) SoftBounce(soft bool) Reply {
	if soft && r.Code == StatusHard {
		r.Code = StatusRetry
	}
	return r
}

// AppendReply appends the netstring "LEN:CODETEXT," to dst.
func AppendReply(dst []byte, code byte, text string) []byte {
	dst = strconv.AppendInt(dst, int64(len(text)+1), 10)
	dst = append(dst, ':', code)
	dst = append(dst, text...)
	return append(dst, ',')
}

// WriteReply writes one reply netstring to w in a single Write call.
func WriteReply(w io.Writer, code byte, text string) error {
	_, err := w.Write(AppendReply(make([]byte, 0, len(text)+24), code, text))
	return err
}

// WriteFinalReply is WriteReply for the reply that ends a session: it is
// sent with the end of the connection's output (TimeoutConn.WriteFinal).
func WriteFinalReply(conn *TimeoutConn, code byte, text string) error {
	_, err := conn.WriteFinal(AppendReply(make([]byte, 0, len(text)+24), code, text))
	return err
}

// Replies qmqpd sends whose text does not depend on cleanup.
var (
	// ReplyConfigError is the answer when the access list cannot be
	// evaluated (a table lookup failed).
	ReplyConfigError = Reply{Code: StatusRetry, Text: "Error: server configuration error"}
)

// NotAuthorized returns the reply to a client that is not listed in
// qmqpd_authorized_clients; namaddr is "name[addr]" (or with ":port").
func NotAuthorized(namaddr string) Reply {
	return Reply{Code: StatusHard, Text: "Error: " + namaddr + " is not authorized to use this service"}
}

// Queued returns the success reply for queue ID id.
func Queued(id string) Reply { return Reply{Code: StatusOK, Text: "Ok: queued as " + id} }

// Cleanup status bits (Postfix's CLEANUP_STAT_*), as used by FinalReply.
const (
	CleanupStatBad   = 0x1   // internal protocol error
	CleanupStatWrite = 0x2   // error writing the queue file
	CleanupStatSize  = 0x4   // message too large
	CleanupStatCont  = 0x8   // content rejected
	CleanupStatHops  = 0x10  // too many hops
	CleanupStatRcpt  = 0x40  // no recipients
	CleanupStatDefer = 0x100 // temporary reject
)

// FinalReply maps cleanup's final status bits and reason text to qmqpd's
// reply, checking the bits in qmqpd's order of severity. why is cleanup's
// reason (used for DEFER and CONT). Status 0 means success for queue ID id.
func FinalReply(status int, why, id string) Reply {
	switch {
	case status == 0:
		return Queued(id)
	case status&CleanupStatDefer != 0:
		return Reply{StatusRetry, "Error: " + why}
	case status&CleanupStatBad != 0:
		return Reply{StatusRetry, fmt.Sprintf("Error: internal error %d", status)}
	case status&CleanupStatSize != 0:
		return Reply{StatusHard, "Error: message too large"}
	case status&CleanupStatHops != 0:
		return Reply{StatusHard, "Error: too many hops"}
	case status&CleanupStatCont != 0:
		code := StatusHard
		if len(why) > 0 && why[0] == '4' {
			code = StatusRetry
		}
		return Reply{code, "Error: " + why}
	case status&CleanupStatWrite != 0:
		return Reply{StatusRetry, "Error: queue file write error"}
	case status&CleanupStatRcpt != 0:
		return Reply{StatusHard, "Error: no recipients specified"}
	}
	return Reply{StatusRetry, fmt.Sprintf("Error: internal error %d", status)}
}

// MaxReplySize bounds the reply netstring a Client accepts.
const MaxReplySize = 4096

// ErrBadReply means the server's answer was not a reply netstring.
var ErrBadReply = errors.New("response from server was not a QMQP reply netstring")

// ReadReply parses one reply netstring ("LEN:CODETEXT,") of at most
// MaxReplySize bytes. The status byte must be K, Z or D.
func ReadReply(r io.Reader) (Reply, error) {
	br, ok := r.(io.ByteReader)
	if !ok {
		br = bufio.NewReaderSize(r, 64)
	}
	var n int
	digits := 0
	for {
		c, err := br.ReadByte()
		if err != nil {
			return Reply{}, fmt.Errorf("reading reply: %w", noEOF(err))
		}
		if c == ':' && digits > 0 {
			break
		}
		if c < '0' || c > '9' || n > MaxReplySize {
			return Reply{}, ErrBadReply
		}
		n = n*10 + int(c-'0')
		digits++
	}
	if n < 1 || n > MaxReplySize {
		return Reply{}, ErrBadReply
	}
	buf := make([]byte, n+1)
	for i := range buf {
		c, err := br.ReadByte()
		if err != nil {
			return Reply{}, fmt.Errorf("reading reply: %w", noEOF(err))
		}
		buf[i] = c
	}
	if buf[n] != ',' {
		return Reply{}, ErrBadReply
	}
	switch buf[0] {
	case StatusOK, StatusRetry, StatusHard:
	default:
		return Reply{}, ErrBadReply
	}
	return Reply{Code: buf[0], Text: string(buf[1:n])}, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
