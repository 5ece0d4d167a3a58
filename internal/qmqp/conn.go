package qmqp

import (
	"io"
	"net"
	"time"
)

// TimeoutConn applies an idle timeout to every Read and Write of a
// connection, as Postfix applies qmqpd_timeout to each read or write system
// call rather than to the whole session. A timed-out read surfaces from a
// Reader as an *Error of KindTimeout.
type TimeoutConn struct {
	net.Conn
	Timeout time.Duration // zero or less: no timeout
}

// NewTimeoutConn wraps c so each Read and Write must finish within d.
func NewTimeoutConn(c net.Conn, d time.Duration) *TimeoutConn {
	return &TimeoutConn{Conn: c, Timeout: d}
}

// Read reads from the connection with a fresh read deadline.
func (c *TimeoutConn) Read(p []byte) (int, error) {
	if c.Timeout > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.Timeout)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

// Write writes to the connection with a fresh write deadline.
func (c *TimeoutConn) Write(p []byte) (int, error) {
	if err := c.armWrite(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// armWrite sets a fresh write deadline (none when Timeout is not set).
func (c *TimeoutConn) armWrite() error {
	if c.Timeout > 0 {
		return c.Conn.SetWriteDeadline(time.Now().Add(c.Timeout))
	}
	return nil
}

// WriteFinal writes p, the last data the connection will carry, with a
// fresh write deadline, and then shuts down the writing side of a TCP
// connection. On Linux, p is sent with MSG_MORE, so the kernel keeps it
// until the shutdown and sends it together with the FIN: the client is
// woken once for the reply and the end of the stream and acknowledges both
// at once (two segments fewer per connection). Shutting down, rather than
// leaving the FIN to Close, makes sure p leaves before a Close that finds
// unread input resets the connection (which would discard it). The bytes
// are the same as Write's; other connections get a plain Write.
func (c *TimeoutConn) WriteFinal(p []byte) (int, error) {
	tc, ok := c.Conn.(*net.TCPConn)
	if !ok {
		return c.Write(p)
	}
	if err := c.armWrite(); err != nil {
		return 0, err
	}
	n, err := writeFinalTCP(tc, p)
	if err != nil {
		return n, err
	}
	// The data is in the socket; a failed shutdown (the peer reset the
	// connection meanwhile) changes nothing for the caller.
	_ = tc.CloseWrite()
	return n, nil
}

// CloseWrite shuts down the writing side when the underlying connection
// supports it (TCP and UNIX stream sockets); otherwise it does nothing.
func (c *TimeoutConn) CloseWrite() error {
	if cw, ok := c.Conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return nil
}

type closeWriter interface{ CloseWrite() error }

// Linger bounds how long and how much ReplyEarly keeps reading after it has
// sent its reply.
type Linger struct {
	Time  time.Duration // total time to keep draining; zero or less: 2s
	Bytes int64         // bytes to drain at most; zero or less: 1 MiB
}

// Default drain bounds of ReplyEarly.
const (
	DefaultLingerTime  = 2 * time.Second
	DefaultLingerBytes = 1 << 20
)

// ReplyEarly sends r on conn when the server answers before it has read
// the whole packet (a refused client, a malformed or oversized packet),
// then closes conn without provoking a TCP reset.
//
// Postfix's qmqpd simply closes the socket, so a client that is still
// writing (or whose unread data is still in the server's receive buffer)
// gets a reset and often never sees the reply. ReplyEarly instead writes
// the reply, shuts down the writing side (so the client sees the reply
// followed by end of file), then reads and discards what the client is
// still sending, for at most lim.Time and lim.Bytes, and finally closes.
// The first error, if any, is returned; conn is always closed.
func ReplyEarly(conn net.Conn, r Reply, lim Linger) error {
	err := WriteReply(conn, r.Code, r.Text)
	if err == nil {
		err = Drain(conn, lim)
	}
	if cerr := conn.Close(); err == nil {
		err = cerr
	}
	return err
}

// Drain shuts down conn's writing side and discards input until the peer
// closes, lim.Time has passed or lim.Bytes were read. It does not close
// conn. Running out of time or bytes, or a read error, is not an error.
func Drain(conn net.Conn, lim Linger) error {
	if lim.Time <= 0 {
		lim.Time = DefaultLingerTime
	}
	if lim.Bytes <= 0 {
		lim.Bytes = DefaultLingerBytes
	}
	base := conn
	if tc, ok := conn.(*TimeoutConn); ok {
		base = tc.Conn
	}
	if cw, ok := base.(closeWriter); ok {
		if err := cw.CloseWrite(); err != nil {
			return err
		}
	}
	if err := base.SetReadDeadline(time.Now().Add(lim.Time)); err != nil {
		return err
	}
	// A read error here only means the peer is gone or slow: either way
	// there is nothing more to do.
	_, _ = io.CopyN(io.Discard, base, lim.Bytes)
	return nil
}
