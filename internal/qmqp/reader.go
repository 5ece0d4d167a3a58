package qmqp

import (
	"bufio"
	"errors"
	"io"
	"math"
)

// Limits bounds what a client may send. A limit of zero or less means
// "no limit", as in Postfix.
type Limits struct {
	// MessageSize bounds the message netstring (message_size_limit).
	MessageSize int64
	// AddressSize bounds the sender and each recipient (line_length_limit).
	AddressSize int
}

// bufferSize is the read buffer of a Reader, the only fixed allocation a
// client controls no part of.
const bufferSize = 4096

type stage int

const (
	stageHeader stage = iota
	stageContent
	stageSender
	stageRecipients
	stageDone
)

// Reader parses one QMQP packet from a stream with Postfix qmqpd's rules.
//
// Call Message, Sender and NextRecipient in that order (Message may be
// skipped: Sender then discards the content). Reading a later field
// discards what is left of an earlier one. The first error is sticky: every
// later call returns it. Errors are *Error values.
//
// Memory use does not depend on what the client claims: content is
// streamed, and an address buffer only grows as address bytes actually
// arrive, never beyond Limits.AddressSize.
type Reader struct {
	br      *bufio.Reader
	lim     Limits
	stage   stage
	content contentReader
	buf     []byte
	err     error
}

// NewReader returns a Reader that parses a packet from r with the given
// limits. Bytes after the packet's final comma are never read from the
// Reader's buffer by any method, but r may have been read ahead.
func NewReader(r io.Reader, lim Limits) *Reader {
	rd := &Reader{br: bufio.NewReaderSize(r, bufferSize), lim: lim}
	rd.content.r = rd
	return rd
}

// Reset makes r parse a new packet from src with the given limits, as a
// Reader fresh from NewReader would, keeping its buffers (a server reuses
// Readers across connections).
func (r *Reader) Reset(src io.Reader, lim Limits) {
	r.br.Reset(src)
	buf := r.buf[:0]
	*r = Reader{br: r.br, lim: lim, buf: buf}
	r.content.r = r
}

// Where returns the stage the Reader is in, in qmqpd's words (for example
// "receiving sender address"), for logging a failure that happened outside
// the Reader, such as a write error while the content was being copied.
func (r *Reader) Where() string {
	switch r.stage {
	case stageHeader:
		return WhereHeader
	case stageContent:
		return WhereContent
	case stageSender:
		return WhereSender
	case stageRecipients:
		return WhereRecipient
	}
	return WhereStatus
}

// Header reads the outer netstring's length, which Postfix reads and then
// ignores. Message calls it when needed.
func (r *Reader) Header() error {
	if r.err != nil {
		return r.err
	}
	if r.stage != stageHeader {
		return nil
	}
	if _, err := r.readLength(WhereHeader); err != nil {
		return r.fail(err)
	}
	r.stage = stageContent
	return nil
}

// Message reads the length of the message netstring and returns a reader
// for its content, and the content's length. The content reader returns
// io.EOF after the last byte once the netstring's terminating comma has
// been checked, or an *Error. Content longer than Limits.MessageSize is
// refused before any of it is read.
func (r *Reader) Message() (io.Reader, int64, error) {
	if err := r.Header(); err != nil {
		return nil, 0, err
	}
	if r.stage != stageContent || r.content.started {
		return nil, 0, errors.New("qmqp: Message called twice or out of order")
	}
	n, err := r.readLength(WhereContent)
	if err != nil {
		return nil, 0, r.fail(err)
	}
	if r.lim.MessageSize > 0 && n > r.lim.MessageSize {
		return nil, 0, r.fail(&Error{Kind: KindSize, Where: WhereContent})
	}
	r.content.started = true
	r.content.remaining = n
	return &r.content, n, nil
}

// finishContent discards any unread content and checks its terminator.
func (r *Reader) finishContent() error {
	if r.stage == stageHeader {
		if err := r.Header(); err != nil {
			return err
		}
	}
	if r.stage != stageContent {
		return nil
	}
	if !r.content.started {
		if _, _, err := r.Message(); err != nil {
			return err
		}
	}
	if _, err := io.Copy(io.Discard, &r.content); err != nil {
		return err
	}
	return nil
}

// Sender reads the sender netstring (at most Limits.AddressSize bytes). The
// content is not validated; an empty sender is the null sender.
func (r *Reader) Sender() (string, error) {
	b, err := r.SenderBytes()
	return string(b), err
}

// SenderBytes is like Sender but returns a slice of an internal buffer that
// is valid until the next call on r.
func (r *Reader) SenderBytes() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	if err := r.finishContent(); err != nil {
		return nil, err
	}
	if r.stage != stageSender {
		return nil, errors.New("qmqp: Sender called twice or out of order")
	}
	b, err := r.readAddress(WhereSender)
	if err != nil {
		return nil, r.fail(err)
	}
	r.stage = stageRecipients
	return b, nil
}

// NextRecipient reads the next recipient netstring. It returns ok == false,
// with a nil error, when the outer netstring's comma ends the list; zero
// recipients are fine at this level.
func (r *Reader) NextRecipient() (rcpt string, ok bool, err error) {
	b, ok, err := r.NextRecipientBytes()
	return string(b), ok, err
}

// NextRecipientBytes is like NextRecipient but returns a slice of an
// internal buffer that is valid until the next call on r.
func (r *Reader) NextRecipientBytes() ([]byte, bool, error) {
	if r.err != nil {
		return nil, false, r.err
	}
	if r.stage == stageDone {
		return nil, false, nil
	}
	if r.stage != stageRecipients {
		if _, err := r.SenderBytes(); err != nil {
			return nil, false, err
		}
	}
	c, err := r.br.ReadByte()
	if err != nil {
		return nil, false, r.fail(ioError(err, WhereRecipient))
	}
	if c == ',' {
		r.stage = stageDone
		return nil, false, nil
	}
	_ = r.br.UnreadByte()
	b, err := r.readAddress(WhereRecipient)
	if err != nil {
		return nil, false, r.fail(err)
	}
	return b, true, nil
}

// Done reports whether the whole packet, up to its final comma, was read.
func (r *Reader) Done() bool { return r.stage == stageDone && r.err == nil }

func (r *Reader) fail(err error) error {
	if r.err == nil {
		r.err = err
	}
	return r.err
}

// readLength reads a netstring length and its ':' like Postfix: digits
// only, possibly none (length 0), leading zeros allowed, overflow of a
// signed 64-bit value is a size error.
func (r *Reader) readLength(where string) (int64, error) {
	var n int64
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			return 0, ioError(err, where)
		}
		if c == ':' {
			return n, nil
		}
		if c < '0' || c > '9' {
			return 0, &Error{Kind: KindFormat, Where: where}
		}
		d := int64(c - '0')
		if n > math.MaxInt64/10 || n*10 > math.MaxInt64-d {
			return 0, &Error{Kind: KindSize, Where: where}
		}
		n = n*10 + d
	}
}

// readTerminator consumes the ',' that ends a netstring. Like Postfix, it
// treats end of file, a timeout or a read error in this position as a
// format error: anything but ',' is. The read error is kept in Err.
func (r *Reader) readTerminator(where string) error {
	c, err := r.br.ReadByte()
	if err != nil || c != ',' {
		return &Error{Kind: KindFormat, Where: where, Err: err}
	}
	return nil
}

// readAddress reads a sender or recipient netstring into r.buf, which
// grows only as bytes arrive.
func (r *Reader) readAddress(where string) ([]byte, error) {
	n, err := r.readLength(where)
	if err != nil {
		return nil, err
	}
	if r.lim.AddressSize > 0 && n > int64(r.lim.AddressSize) {
		return nil, &Error{Kind: KindSize, Where: where}
	}
	r.buf = r.buf[:0]
	for n > 0 {
		chunk, err := r.br.Peek(1)
		if len(chunk) == 0 {
			return nil, ioError(err, where)
		}
		chunk, _ = r.br.Peek(min(r.br.Buffered(), int(min(n, bufferSize))))
		r.buf = append(r.buf, chunk...)
		_, _ = r.br.Discard(len(chunk))
		n -= int64(len(chunk))
	}
	if err := r.readTerminator(where); err != nil {
		return nil, err
	}
	return r.buf, nil
}

// contentReader streams the message netstring's payload.
type contentReader struct {
	r         *Reader
	started   bool
	remaining int64
	finished  bool
}

// Read returns content bytes, then io.EOF once the terminating comma has
// been seen, or an *Error.
func (c *contentReader) Read(p []byte) (int, error) {
	r := c.r
	if r.err != nil {
		return 0, r.err
	}
	if c.remaining == 0 {
		if !c.finished {
			if err := r.readTerminator(WhereContent); err != nil {
				return 0, r.fail(err)
			}
			c.finished = true
			r.stage = stageSender
		}
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := r.br.Read(p)
	c.remaining -= int64(n)
	if n > 0 {
		return n, nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return 0, r.fail(ioError(err, WhereContent))
}

// WriteTo copies the rest of the content to w without an intermediate
// buffer of the caller's.
func (c *contentReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	r := c.r
	for c.remaining > 0 && r.err == nil {
		if _, err := r.br.Peek(1); err != nil {
			return total, r.fail(ioError(err, WhereContent))
		}
		chunk, _ := r.br.Peek(int(min(int64(r.br.Buffered()), c.remaining)))
		n, err := w.Write(chunk)
		_, _ = r.br.Discard(n)
		c.remaining -= int64(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	_, err := c.Read(nil)
	if err == io.EOF {
		err = nil
	}
	return total, err
}
