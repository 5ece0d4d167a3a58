package qmqp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Client sends messages over QMQP, trying its servers in order the way
// qmail-qmqpc does: a server that cannot be reached is skipped; once a
// connection is made, the answer (K, Z or D) or a failure on that
// connection is final.
type Client struct {
	// Servers are tried in order. Forms: "host:port", "[v6addr]:port",
	// "host" (port 628), "unix:/path" or an absolute path for a UNIX
	// socket.
	Servers []string
	// ConnectTimeout bounds each connection attempt (0: 10s, like
	// qmail-qmqpc).
	ConnectTimeout time.Duration
	// Timeout bounds each read and write on a connection (0: 60s, like
	// qmail-qmqpc).
	Timeout time.Duration
	// Dial, when set, replaces net.Dialer.DialContext (for tests).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultPort is QMQP's TCP port.
const DefaultPort = "628"

// ConnectError means no server could be reached. Last is the error of the
// last attempt.
type ConnectError struct {
	Server string // the last server tried
	Err    error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("unable to connect to %s: %v", e.Server, netErrorText(e.Err))
}

// netErrorText drops the operation and address wrappers of a dial error,
// keeping the reason ("connection refused", "i/o timeout").
func netErrorText(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
	}
	var se *os.SyscallError
	if errors.As(err, &se) && se.Err != nil {
		err = se.Err
	}
	return err.Error()
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Timeout reports whether the last connection attempt timed out.
func (e *ConnectError) Timeout() bool { return IsTimeout(e.Err) }

// ErrNoServers is returned by Client.Send when Servers is empty.
var ErrNoServers = errors.New("no QMQP servers given")

// Send sends one message (given whole) to addr and returns the reply.
func Send(ctx context.Context, addr string, msg []byte, sender string, rcpts []string) (Reply, error) {
	c := &Client{Servers: []string{addr}}
	return c.Send(ctx, msg, sender, rcpts)
}

// Send sends msg with the given envelope and returns the first server's
// reply. A non-nil error is a *ConnectError when no server could be
// reached, or an error on the connection that was made (including
// ErrBadReply).
func (c *Client) Send(ctx context.Context, msg []byte, sender string, rcpts []string) (Reply, error) {
	return c.SendFrom(ctx, bytes.NewReader(msg), int64(len(msg)), sender, rcpts)
}

// SendFrom is like Send but reads the size bytes of the message from
// content for each attempt, so a large message need not be in memory.
func (c *Client) SendFrom(ctx context.Context, content io.ReaderAt, size int64, sender string, rcpts []string) (Reply, error) {
	if len(c.Servers) == 0 {
		return Reply{}, ErrNoServers
	}
	var last *ConnectError
	for _, s := range c.Servers {
		conn, err := c.dial(ctx, s)
		if err != nil {
			last = &ConnectError{Server: s, Err: err}
			if ctx.Err() != nil {
				break
			}
			continue
		}
		r, err := c.exchange(conn, content, size, sender, rcpts)
		_ = conn.Close()
		if err != nil {
			return Reply{}, fmt.Errorf("%s: %w", s, err)
		}
		return r, nil
	}
	return Reply{}, last
}

// ServerAddress splits a server argument into a network and an address
// for net.Dial: "unix:/p" and "/p" are UNIX sockets, "host" gets port 628.
func ServerAddress(s string) (network, addr string, err error) {
	switch {
	case strings.HasPrefix(s, "unix:"):
		if len(s) == len("unix:") {
			return "", "", fmt.Errorf("bad server address %q: empty socket path", s)
		}
		return "unix", s[len("unix:"):], nil
	case strings.HasPrefix(s, "/"):
		return "unix", s, nil
	case s == "":
		return "", "", errors.New("empty server address")
	}
	if _, _, err := net.SplitHostPort(s); err == nil {
		return "tcp", s, nil
	}
	host := s
	if strings.HasPrefix(s, "[") {
		if !strings.HasSuffix(s, "]") {
			return "", "", fmt.Errorf("bad server address %q", s)
		}
		host = s[1 : len(s)-1]
	}
	if strings.ContainsAny(host, "[]") {
		return "", "", fmt.Errorf("bad server address %q", s)
	}
	return "tcp", net.JoinHostPort(host, DefaultPort), nil
}

func (c *Client) dial(ctx context.Context, s string) (net.Conn, error) {
	network, addr, err := ServerAddress(s)
	if err != nil {
		return nil, err
	}
	to := c.ConnectTimeout
	if to <= 0 {
		to = 10 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, to)
	defer cancel()
	if c.Dial != nil {
		return c.Dial(dctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(dctx, network, addr)
}

// exchange writes the packet and reads the reply.
func (c *Client) exchange(conn net.Conn, content io.ReaderAt, size int64, sender string, rcpts []string) (Reply, error) {
	to := c.Timeout
	if to <= 0 {
		to = 60 * time.Second
	}
	tc := NewTimeoutConn(conn, to)
	w := bufio.NewWriterSize(tc, 16<<10)
	werr := WritePacket(w, io.NewSectionReader(content, 0, size), size, sender, rcpts)
	if werr == nil {
		werr = w.Flush()
	}
	var rerr *readError
	if werr != nil && errors.As(werr, &rerr) {
		return Reply{}, werr
	}
	// A server may answer before it has read everything (Postfix does,
	// for refused clients and malformed packets), so look for a reply
	// even when writing failed.
	r, err := ReadReply(bufio.NewReaderSize(tc, 128))
	if err != nil && werr != nil {
		return Reply{}, fmt.Errorf("sending packet: %w", werr)
	}
	return r, err
}

// readError marks a failure to read the message being sent.
type readError struct{ err error }

func (e *readError) Error() string { return "reading message: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// IsMessageReadError reports whether a Send error came from reading the
// message being sent rather than from the network.
func IsMessageReadError(err error) bool {
	var re *readError
	return errors.As(err, &re)
}

// PacketSize returns the length of the outer netstring's payload for a
// message of size bytes and the given envelope.
func PacketSize(size int64, sender string, rcpts []string) int64 {
	n := netstringLen(size) + netstringLen(int64(len(sender)))
	for _, r := range rcpts {
		n += netstringLen(int64(len(r)))
	}
	return n
}

func netstringLen(n int64) int64 {
	return int64(len(strconv.FormatInt(n, 10))) + 1 + n + 1
}

// WritePacket writes a complete QMQP packet with an exact outer length:
// the message (size bytes read from content), the sender and the
// recipients. It fails if content does not hold exactly size bytes.
func WritePacket(w io.Writer, content io.Reader, size int64, sender string, rcpts []string) error {
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriter(w)
	}
	var num [24]byte
	bw.Write(strconv.AppendInt(num[:0], PacketSize(size, sender, rcpts), 10))
	bw.WriteByte(':')
	bw.Write(strconv.AppendInt(num[:0], size, 10))
	bw.WriteByte(':')
	var buf [32 << 10]byte
	for left := size; left > 0; {
		n, err := content.Read(buf[:min(left, int64(len(buf)))])
		if n > 0 {
			if _, werr := bw.Write(buf[:n]); werr != nil {
				return werr
			}
			left -= int64(n)
		}
		if err == io.EOF && left > 0 {
			return &readError{fmt.Errorf("message shorter than %d bytes", size)}
		}
		if err != nil && err != io.EOF {
			return &readError{err}
		}
	}
	bw.WriteByte(',')
	writeNetstring(bw, sender)
	for _, r := range rcpts {
		writeNetstring(bw, r)
	}
	bw.WriteByte(',')
	if !ok {
		return bw.Flush()
	}
	return nil
}

func writeNetstring(w *bufio.Writer, s string) {
	var num [24]byte
	w.Write(strconv.AppendInt(num[:0], int64(len(s)), 10))
	w.WriteByte(':')
	w.WriteString(s)
	w.WriteByte(',')
}

// AppendPacket appends a complete QMQP packet to dst.
func AppendPacket(dst, msg []byte, sender string, rcpts []string) []byte {
	dst = strconv.AppendInt(dst, PacketSize(int64(len(msg)), sender, rcpts), 10)
	dst = append(dst, ':')
	dst = appendNetstring(dst, msg)
	dst = appendNetstring(dst, []byte(sender))
	for _, r := range rcpts {
		dst = appendNetstring(dst, []byte(r))
	}
	return append(dst, ',')
}

func appendNetstring(dst, b []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(b)), 10)
	dst = append(dst, ':')
	dst = append(dst, b...)
	return append(dst, ',')
}
