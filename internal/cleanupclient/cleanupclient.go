// Package cleanupclient talks to Postfix's own cleanup(8) service over its
// UNIX-domain socket ($queue_directory/public/$cleanup_service_name), with
// the conversation Postfix's qmqpd(8) uses:
//
//  1. cleanup announces itself and the new queue ID, as "attr0" attributes
//     ("protocol\0cleanup_protocol\0queue_id\0ID\0\0");
//  2. the client sends its processing flags ("flags\0N\0\0");
//  3. the client sends the message as queue-file records (type byte,
//     base-128 length, payload), ending with the E record;
//  4. cleanup answers "status\0N\0reason\0TEXT\0\0".
//
// A client that hangs up before the E record makes cleanup discard the
// half-written queue file silently.
package cleanupclient

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// Cleanup processing flags (cleanup_user.h), as sent in the "flags" attribute.
const (
	FlagFilter   = 1 << 1 // header/body checks
	FlagBCCOK    = 1 << 4 // automatic BCC
	FlagMapOK    = 1 << 5 // address mappings
	FlagMilter   = 1 << 6 // milters
	FlagAutoUTF8 = 1 << 9 // SMTPUTF8 autodetection
	// FlagMaskExternal is what a network server such as qmqpd starts from.
	FlagMaskExternal = FlagFilter | FlagBCCOK | FlagMapOK | FlagMilter
)

// StatusWrite is cleanup's "queue file write error" status bit, which a
// client reports when it cannot read cleanup's answer.
const StatusWrite = 1 << 1

// ErrProtocol means cleanup's greeting was not the expected one.
var ErrProtocol = errors.New("cleanup protocol error")

// Client connects to one cleanup service.
type Client struct {
	// Path is the service socket, e.g. /var/spool/postfix/public/cleanup.
	Path string
	// Timeout bounds each read and write (ipc_timeout); 0 means none.
	Timeout time.Duration
	// Dial connects to Path; nil means a plain unix stream connection.
	Dial func(ctx context.Context, path string) (net.Conn, error)
}

// Stream is one message on its way into cleanup.
type Stream struct {
	conn    net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	id      string
	timeout time.Duration
	err     error // first write error
	buf     []byte
}

// Open connects, reads cleanup's greeting and sends flags. The queue file
// exists (in incoming/) when Open returns.
func (c *Client) Open(ctx context.Context, flags int) (*Stream, error) {
	dial := c.Dial
	if dial == nil {
		dial = func(ctx context.Context, path string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	}
	conn, err := dial(ctx, c.Path)
	if err != nil {
		return nil, err
	}
	s := &Stream{conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriter(conn), timeout: c.Timeout}
	s.deadline()
	attrs, err := readAttrs(s.r)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	if len(attrs) != 2 || attrs[0] != [2]string{"protocol", "cleanup_protocol"} || attrs[1][0] != "queue_id" {
		conn.Close()
		return nil, fmt.Errorf("%w: unexpected greeting %q", ErrProtocol, attrs)
	}
	s.id = attrs[1][1]
	writeAttrs(s.w, [2]string{"flags", strconv.Itoa(flags)})
	if err := s.w.Flush(); err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// ID returns the queue ID cleanup assigned.
func (s *Stream) ID() string { return s.id }

func (s *Stream) deadline() {
	if s.timeout > 0 {
		s.conn.SetDeadline(time.Now().Add(s.timeout))
	}
}

// Record sends one record. Errors are sticky.
func (s *Stream) Record(typ byte, data []byte) error {
	if s.err != nil {
		return s.err
	}
	s.buf = queuefile.AppendRecord(s.buf[:0], typ, data)
	s.deadline()
	if _, err := s.w.Write(s.buf); err != nil {
		s.err = err
		return err
	}
	return nil
}

// Finish flushes what was sent (which must end with the E record) and
// returns cleanup's status bits and reason text. If the answer cannot be
// read, the status is StatusWrite, as in Postfix.
func (s *Stream) Finish() (status int, reason string) {
	defer s.conn.Close()
	if s.err != nil {
		return StatusWrite, ""
	}
	s.deadline()
	if err := s.w.Flush(); err != nil {
		return StatusWrite, ""
	}
	attrs, err := readAttrs(s.r)
	if err != nil || len(attrs) != 2 || attrs[0][0] != "status" || attrs[1][0] != "reason" {
		return StatusWrite, ""
	}
	st, err := strconv.Atoi(attrs[0][1])
	if err != nil {
		return StatusWrite, ""
	}
	return st, attrs[1][1]
}

// Abort hangs up without finishing; cleanup removes the queue file.
func (s *Stream) Abort() { s.conn.Close() }

// writeAttrs writes one attr0 request: name\0value\0 ... \0.
func writeAttrs(w *bufio.Writer, attrs ...[2]string) {
	for _, a := range attrs {
		w.WriteString(a[0])
		w.WriteByte(0)
		w.WriteString(a[1])
		w.WriteByte(0)
	}
	w.WriteByte(0)
}

// maxAttrLen bounds one attribute name or value from cleanup.
const maxAttrLen = 1 << 16

// maxAttrs bounds the attributes of one request from cleanup (it sends
// two).
const maxAttrs = 64

// readAttrs reads one attr0 request (pairs until an empty name).
func readAttrs(r *bufio.Reader) ([][2]string, error) {
	var out [][2]string
	for {
		if len(out) >= maxAttrs {
			return nil, errors.New("too many attributes")
		}
		name, err := readString(r)
		if err != nil {
			return nil, err
		}
		if name == "" {
			return out, nil
		}
		value, err := readString(r)
		if err != nil {
			return nil, err
		}
		out = append(out, [2]string{name, value})
	}
}

func readString(r *bufio.Reader) (string, error) {
	var b bytes.Buffer
	for {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		if c == 0 {
			return b.String(), nil
		}
		if b.Len() >= maxAttrLen {
			return "", errors.New("attribute too long")
		}
		b.WriteByte(c)
	}
}
