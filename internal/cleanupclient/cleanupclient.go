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
	"github.com/qmqpd-go/qmqpd/internal/syserr"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/maillog"
	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// Cleanup processing flags (cleanup_user.h), as sent in the "flags" attribute.
const (
	FlagBounce    = 1 << 0 // bounce bad messages
	FlagFilter    = 1 << 1 // header/body checks
	FlagHold      = 1 << 2 // put the message on hold
	FlagDiscard   = 1 << 3 // discard the message
	FlagBCCOK     = 1 << 4 // automatic BCC
	FlagMapOK     = 1 << 5 // address mappings
	FlagMilter    = 1 << 6 // milters
	FlagSMTPReply = 1 << 7 // SMTP-style replies
	FlagSMTPUTF8  = 1 << 8 // SMTPUTF8 requested
	FlagAutoUTF8  = 1 << 9 // SMTPUTF8 autodetection
	// FlagMaskExternal is what a network server such as qmqpd starts from.
	FlagMaskExternal = FlagFilter | FlagBCCOK | FlagMapOK | FlagMilter
)

// flagNames are the names Postfix's verbose logging gives the flags, in
// its order.
var flagNames = [...]struct {
	flag int
	name string
}{
	{FlagBounce, "enable_bad_mail_bounce"},
	{FlagFilter, "enable_header_body_filter"},
	{FlagHold, "hold_message"},
	{FlagDiscard, "discard_message"},
	{FlagBCCOK, "enable_automatic_bcc"},
	{FlagMapOK, "enable_address_mapping"},
	{FlagMilter, "enable_milters"},
	{FlagSMTPReply, "enable_smtp_reply"},
	{FlagSMTPUTF8, "smtputf8_requested"},
	{FlagAutoUTF8, "smtputf8_autodetect"},
}

// FlagsString names the flags as Postfix's verbose lines do ("none" for
// 0, else the names separated by spaces); unknown bits are shown in hex.
func FlagsString(flags int) string {
	if flags == 0 {
		return "none"
	}
	var names []string
	for _, f := range flagNames {
		if flags&f.flag != 0 {
			names = append(names, f.name)
			flags &^= f.flag
		}
	}
	if flags != 0 {
		names = append(names, fmt.Sprintf("0x%x", flags))
	}
	return strings.Join(names, " ")
}

// StatusWrite is cleanup's "queue file write error" status bit, which a
// client reports when it cannot read cleanup's answer.
const StatusWrite = 1 << 1

// ConnectError is returned by Open when every connection attempt failed
// (Client.Attempts > 1). Text is Postfix's fatal message, e.g. "connect
// #11 to subsystem public/cleanup: No such file or directory".
type ConnectError struct {
	Text string
	Err  error
}

// Error returns Text.
func (e *ConnectError) Error() string { return e.Text }

// Unwrap returns the last dial error.
func (e *ConnectError) Unwrap() error { return e.Err }

// ErrProtocol means cleanup's greeting was not the expected one.
var ErrProtocol = errors.New("cleanup protocol error")

// Client connects to one cleanup service.
type Client struct {
	// Path is the service socket, e.g. /var/spool/postfix/public/cleanup.
	Path string
	// Name is the service as Postfix's log lines name it, relative to the
	// queue directory ("public/cleanup"); "" means Path.
	Name string
	// Timeout bounds each read and write (ipc_timeout); 0 means none.
	Timeout time.Duration
	// Dial connects to Path; nil means a plain unix stream connection.
	Dial func(ctx context.Context, path string) (net.Conn, error)
	// Verbose is the process's verbose logging level (-v); a connection's
	// context can raise it (maillog.WithVerbose, from debug_peer_list).
	Verbose int
	// Info receives the verbose lines of the conversation, in Postfix's
	// words ("connect to subsystem public/cleanup", "send attr flags =
	// 114", attribute dumps); nil discards them.
	Info func(text string)
	// Attempts is how often Open tries to connect before it gives up,
	// RetryDelay apart; each failure but the last is a warning ("connect
	// #1 to subsystem public/cleanup: No such file or directory"). Postfix
	// makes 11 attempts 10 seconds apart, so that a cleanup service being
	// restarted does not lose the client. 0 or 1: one attempt, and the
	// dial error is returned as it is.
	Attempts   int
	RetryDelay time.Duration
	// Warn receives the warnings Postfix logs when cleanup's answers are
	// malformed or cut short ("premature end-of-input on public/cleanup
	// socket while reading input attribute name"); nil discards them.
	Warn func(text string)
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
	sc      scanner
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
	name := c.Name
	if name == "" {
		name = c.Path
	}
	verbose := max(c.Verbose, maillog.Verbose(ctx)) > 0
	info := func(string) {}
	if verbose && c.Info != nil {
		info = c.Info
	}
	warn := c.Warn
	if warn == nil {
		warn = func(string) {}
	}
	var conn net.Conn
	for attempt := 1; ; attempt++ {
		var err error
		conn, err = dial(ctx, c.Path)
		if err == nil {
			break
		}
		info(fmt.Sprintf("connect to subsystem %s: %s", name, syserr.Text(err)))
		if c.Attempts <= 1 {
			return nil, err
		}
		text := fmt.Sprintf("connect #%d to subsystem %s: %s", attempt, name, syserr.Text(err))
		if attempt >= c.Attempts {
			return nil, &ConnectError{Text: text, Err: err}
		}
		warn(text)
		t := time.NewTimer(c.RetryDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, &ConnectError{Text: text, Err: ctx.Err()}
		}
	}
	info("connect to subsystem " + name)
	s := &Stream{conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriter(conn), timeout: c.Timeout,
		sc: scanner{path: name + " socket", info: info, warn: warn}}
	s.deadline()
	s.sc.r = s.r
	vals, err := s.sc.scan(want{name: "protocol", expect: "cleanup_protocol"}, want{name: "queue_id"})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	s.id = vals[1]
	writeAttrs(s.w, [2]string{"flags", strconv.Itoa(flags)})
	info(fmt.Sprintf("send attr flags = %d", uint32(flags)))
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
	vals, err := s.sc.scan(want{name: "status", number: true}, want{name: "reason"})
	if err != nil {
		return StatusWrite, ""
	}
	st, _ := strconv.ParseUint(vals[0], 10, 32)
	return int(int32(st)), vals[1]
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

// readString reads up to a null byte; on error it returns what it read.
func readString(r *bufio.Reader) (string, error) {
	var b bytes.Buffer
	for {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return b.String(), err
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

// want is one attribute the client expects from cleanup, in order.
type want struct {
	name   string
	expect string // required value ("" = any)
	number bool   // an unsigned decimal number
}

// scanner reads cleanup's attribute lists the way Postfix's attr_scan0
// does with ATTR_FLAG_STRICT: every wanted attribute in order, then the
// list terminator; anything else is an error, with Postfix's warning. With
// verbose logging it reports each step in Postfix's words.
type scanner struct {
	r    *bufio.Reader
	path string // "public/cleanup socket"
	info func(string)
	warn func(string)
}

// errScan is returned after the scanner has logged what went wrong.
var errScan = errors.New("malformed attribute list")

// scan reads one attribute list and returns the values of wants.
func (sc *scanner) scan(wants ...want) ([]string, error) {
	vals := make([]string, 0, len(wants))
	for _, w := range wants {
		sc.info(sc.path + ": wanted attribute: " + w.name)
		name, err := sc.str("input attribute name")
		if err != nil {
			return nil, err
		}
		if name == "" {
			sc.warn(fmt.Sprintf("missing attribute %s in input from %s", w.name, sc.path))
			return nil, fmt.Errorf("%w: missing attribute %s", errScan, w.name)
		}
		if name != w.name {
			sc.warn(fmt.Sprintf("unexpected attribute %s from %s (expecting: %s)", name, sc.path, w.name))
			return nil, fmt.Errorf("%w: unexpected attribute %s", errScan, name)
		}
		val, err := sc.str("input attribute value")
		if err != nil {
			return nil, err
		}
		if w.expect != "" && val != w.expect {
			sc.warn(fmt.Sprintf("unexpected %s %s from %s (expected: %s)", name, val, sc.path, w.expect))
			return nil, fmt.Errorf("%w: unexpected %s %s", errScan, name, val)
		}
		if w.number && !isUnsigned(val) {
			sc.warn(fmt.Sprintf("malformed numerical data from %s while reading input attribute value: %.100s", sc.path, val))
			return nil, fmt.Errorf("%w: malformed number %q", errScan, val)
		}
		vals = append(vals, val)
	}
	sc.info(sc.path + ": wanted attribute: (list terminator)")
	name, err := sc.str("input attribute name")
	if err != nil {
		return nil, err
	}
	if name != "" {
		sc.warn(fmt.Sprintf("unexpected attribute %s from %s (expecting: (list terminator))", name, sc.path))
		return nil, fmt.Errorf("%w: unexpected attribute %s", errScan, name)
	}
	return vals, nil
}

// str reads one null-terminated string; context names it in messages.
func (sc *scanner) str(context string) (string, error) {
	s, err := readString(sc.r)
	if err != nil {
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			sc.warn(fmt.Sprintf("timeout on %s while reading %s", sc.path, context))
		case err == io.ErrUnexpectedEOF && s != "":
			sc.warn(fmt.Sprintf("unexpected end-of-input from %s while reading %s", sc.path, context))
		case err == io.ErrUnexpectedEOF || errors.Is(err, io.EOF) || isConnError(err):
			sc.warn(fmt.Sprintf("premature end-of-input on %s while reading %s", sc.path, context))
		default:
			sc.warn(fmt.Sprintf("%s from %s while reading %s", err, sc.path, context))
		}
		return "", err
	}
	if s == "" {
		sc.info(context + ": (end)")
	} else {
		sc.info(context + ": " + s)
	}
	return s, nil
}

// isConnError reports a read error of the connection itself (reset etc.),
// which Postfix's stream layer reports as end of input.
func isConnError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe)
}

// isUnsigned reports whether s is what sscanf("%u") takes in full: optional
// blanks, an optional sign and decimal digits, nothing after.
func isUnsigned(s string) bool {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
