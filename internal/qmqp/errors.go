package qmqp

import (
	"errors"
	"net"
	"os"
)

// The stages of a QMQP session, as qmqpd names them in "... while WHERE"
// replies and log lines.
const (
	WhereInit      = "initializing client connection"
	WhereHeader    = "receiving QMQP packet header"
	WhereContent   = "receiving message content"
	WhereSender    = "receiving sender address"
	WhereRecipient = "receiving recipient address"
	WhereStatus    = "sending completion status"
)

// Kind classifies a failed QMQP read the way Postfix's netstring layer does.
type Kind int

// The four netstring exceptions of Postfix.
const (
	// KindEOF: the peer went away or an I/O error happened.
	KindEOF Kind = iota + 1
	// KindTimeout: a read or write did not complete within the idle timeout.
	KindTimeout
	// KindFormat: an unexpected byte (non-digit length, missing ',').
	KindFormat
	// KindSize: a length above the applicable limit, or one that overflows.
	KindSize
)

// Reason returns qmqpd's wording for the kind ("lost connection",
// "read/write timeout", "netstring format error",
// "netstring length exceeds storage limit").
func (k Kind) Reason() string {
	switch k {
	case KindEOF:
		return "lost connection"
	case KindTimeout:
		return "read/write timeout"
	case KindFormat:
		return "netstring format error"
	case KindSize:
		return "netstring length exceeds storage limit"
	}
	return "unknown netstring error"
}

// Error is a failed QMQP read or write. Its Error text is qmqpd's
// "REASON while WHERE", e.g. "netstring format error while receiving
// message content".
type Error struct {
	Kind  Kind
	Where string // one of the Where* constants
	// Err is the underlying I/O error for KindEOF and KindTimeout. A
	// KindFormat error has one when the netstring's terminating comma
	// could not be read (Postfix calls that a format error too).
	Err error
}

// Error returns "REASON while WHERE", the text qmqpd replies and logs.
func (e *Error) Error() string { return e.Kind.Reason() + " while " + e.Where }

// Unwrap returns the underlying I/O error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Reply returns the reply qmqpd sends for e: a hard (D) reply with the text
// of e for format and size errors. For a lost connection or a timeout qmqpd
// sends nothing, and ok is false; that includes a format error caused by a
// timeout while waiting for a terminating comma (Postfix logs it as a
// format error but its stream is then unusable for the reply).
func (e *Error) Reply() (r Reply, ok bool) {
	switch e.Kind {
	case KindFormat, KindSize:
		if e.Err != nil && IsTimeout(e.Err) {
			return Reply{}, false
		}
		return Reply{Code: StatusHard, Text: e.Error()}, true
	}
	return Reply{}, false
}

// ioError classifies an error from the underlying connection: timeouts
// become KindTimeout, everything else (EOF, resets) KindEOF.
func ioError(err error, where string) *Error {
	var qe *Error
	if errors.As(err, &qe) {
		return qe
	}
	if IsTimeout(err) {
		return &Error{Kind: KindTimeout, Where: where, Err: err}
	}
	return &Error{Kind: KindEOF, Where: where, Err: err}
}

// IsTimeout reports whether err is a deadline or network timeout.
func IsTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
