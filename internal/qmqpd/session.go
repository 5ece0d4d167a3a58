package qmqpd

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
	"syscall"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/cleanupclient"
	"github.com/qmqpd-go/qmqpd/internal/maillog"
	"github.com/qmqpd-go/qmqpd/internal/qmqp"
	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// Logger receives Postfix-format log texts; *maillog.Logger implements it.
type Logger interface {
	Log(level maillog.Level, text string)
}

// FatalError is a condition that makes Postfix's qmqpd exit (for example,
// cleanup cannot be reached). Its text is Postfix's fatal message.
type FatalError struct{ Text string }

// Error returns Postfix's fatal text.
func (e *FatalError) Error() string { return e.Text }

// session holds everything about one client connection, like Postfix's
// QMQPD_STATE.
type session struct {
	srv  *Server
	cfg  *Config
	ctx  context.Context
	conn *qmqp.TimeoutConn // raw, with per-I/O deadlines
	raw  net.Conn

	arrival time.Time // when the connection was taken (before the peer lookup)
	peer    Peer

	queued  Queued // the queue file, nil until opened
	queueID string

	err          int    // cleanup status bits accumulated so far
	whyRejected  string // reason text for err
	where        string // protocol stage
	reason       string // why the session ended early ("" = it did not)
	sender       string
	recipient    string // first recipient as received
	haveRcpt     bool
	rcptCount    int
	spool        *queuefile.Spool // the message content, until it is written
	bufs         *sessionBuffers  // reused buffers, nil until needed
	fatal        *FatalError
	replyPending []byte
}

func (s *session) log(level maillog.Level, format string, args ...any) {
	if s.srv.Log != nil {
		s.srv.Log.Log(level, fmt.Sprintf(format, args...))
	}
}

// serve runs the whole session: peer lookup, "connect from", the protocol,
// "disconnect from". It returns a FatalError when Postfix's qmqpd would
// exit.
func (s *session) serve() *FatalError {
	defer func() {
		if s.queued != nil {
			s.queued.Abort()
			s.queued = nil
		}
		if s.spool != nil && s.bufs == nil {
			s.spool.Close()
		}
		s.spool = nil
		if s.bufs != nil {
			// The spool is the buffers' own: release closes its file.
			s.srv.putBuffers(s.bufs)
			s.bufs = nil
		}
	}()
	peer, err := lookupPeer(s.ctx, s.raw, s.cfg, &s.srv.names,
		func(t string) { s.log(maillog.Warning, "%s", t) },
		func(t string) { s.log(maillog.Info, "%s", t) })
	if err != nil {
		return &FatalError{Text: err.Error()}
	}
	s.peer = peer
	if s.cfg.OwnerUID >= 0 && peer.Family != afUnspec && (os.Getuid() != s.cfg.OwnerUID || os.Geteuid() != s.cfg.OwnerUID) {
		s.log(maillog.Error, "incorrect QMQP server privileges: uid=%d euid=%d", os.Getuid(), os.Geteuid())
		return &FatalError{Text: "the Postfix QMQP server must run with $mail_owner privileges"}
	}
	if s.cfg.DebugPeers != nil {
		// Postfix raises its verbose logging level for this connection
		// (debug_peer_check); the context carries the level to the code
		// that logs verbosely (the cleanup service conversation).
		if ok, _ := s.cfg.DebugPeers.Match(peer.Name, peer.Addr); ok {
			s.ctx = maillog.WithVerbose(s.ctx, s.cfg.DebugPeerLevel)
		}
	}
	s.log(maillog.Info, "connect from %s", peer.NamAddr)
	s.proto()
	if s.fatal != nil {
		return s.fatal
	}
	s.log(maillog.Info, "disconnect from %s", peer.NamAddr)
	return nil
}

// proto speaks QMQP: authorization, the packet, the reply.
func (s *session) proto() {
	ok, err := false, error(nil)
	if s.cfg.Authorized != nil {
		ok, err = s.cfg.Authorized.Match(s.peer.Name, s.peer.Addr)
	}
	switch {
	case ok && err == nil:
		s.receive()
	case err == nil:
		s.replyEarly(qmqp.NotAuthorized(s.peer.NamAddr))
	default:
		s.replyEarly(qmqp.ReplyConfigError)
	}
	if s.fatal != nil {
		return
	}
	if s.reason != "" && s.where != "" {
		id := s.queueID
		if id == "" {
			id = "NOQUEUE"
		}
		s.log(maillog.Info, "%s: %s: %s while %s", id, s.peer.NamAddr, s.reason, s.where)
	}
}

// ioFailure records why reading the client failed; format and size errors
// still get a reply.
func (s *session) ioFailure(err error) {
	var qe *qmqp.Error
	if !errors.As(err, &qe) {
		qe = &qmqp.Error{Kind: qmqp.KindEOF, Where: s.where, Err: err}
	}
	s.where = qe.Where
	s.reason = qe.Kind.Reason()
	if r, ok := qe.Reply(); ok {
		s.replyEarly(r)
	}
}

// receive handles an authorized client: open the queue file first, then
// read the packet while passing records on, then finish and reply.
func (s *session) receive() {
	q, err := s.srv.currentQueuer().Open(s.ctx, s.cfg.CleanupFlags)
	if err != nil {
		text := "unable to connect to the public cleanup service"
		var ce *cleanupclient.ConnectError
		if errors.As(err, &ce) {
			// mail_connect_wait's own fatal text after its last attempt.
			text = ce.Text
		}
		s.fatal = &FatalError{Text: text}
		if s.srv.OnQueueError != nil {
			s.fatal = nil
			s.srv.OnQueueError(err)
			s.reply(true, qmqp.FinalReply(qmqp.CleanupStatWrite, "", ""))
		}
		return
	}
	s.queued = q
	s.queueID = q.ID()
	s.log(maillog.Info, "%s: client=%s", s.queueID, s.peer.NamAddr)
	s.put(queuefile.RecTime, []byte(strconv.FormatInt(s.arrival.Unix(), 10)+" "+strconv.Itoa(s.arrival.Nanosecond()/1000)))
	if s.cfg.ContentFilter != "" {
		s.put(queuefile.RecFilt, []byte(s.cfg.ContentFilter))
	}

	s.bufs = s.srv.getBuffers()
	pr := s.bufs.reader(s.conn, qmqp.Limits{MessageSize: s.cfg.MessageSizeLimit, AddressSize: s.cfg.LineLengthLimit})
	s.where = qmqp.WhereHeader
	if err := pr.Header(); err != nil {
		s.ioFailure(err)
		return
	}
	s.where = qmqp.WhereContent
	if err := s.readContent(pr); err != nil {
		s.ioFailure(err)
		return
	}
	s.where = qmqp.WhereSender
	sender, err := pr.Sender()
	if err != nil {
		s.ioFailure(err)
		return
	}
	s.copySender(sender)
	s.writeAttributes()
	s.where = qmqp.WhereRecipient
	for {
		rcpt, more, err := pr.NextRecipient()
		if err != nil {
			s.ioFailure(err)
			return
		}
		if !more {
			break
		}
		if s.err == StatOK && s.queued.Record(queuefile.RecRcpt, []byte(rcpt)) != nil {
			s.err = qmqp.CleanupStatWrite
		}
		s.rcptCount++
		if !s.haveRcpt {
			s.recipient, s.haveRcpt = rcpt, true
		}
	}
	if s.err == StatOK {
		s.writeContent()
	}
	s.closeFile()
	s.sendStatus()
}

// readContent stores the message netstring: its records can only be
// written after the recipients. Like Postfix, which keeps it in memory, we
// hold it in a Spool, whose memory use is bounded (a large message goes to
// an unnamed temporary file). When the spool cannot store the message, the
// rest of it is still read (the protocol goes on) and the reply will be a
// queue file write error.
func (s *session) readContent(pr *qmqp.Reader) error {
	body, n, err := pr.Message()
	if err != nil {
		return err
	}
	s.spool = s.bufs.newSpool(s.srv.spoolDirectory(), s.srv.SpoolMemory)
	s.spool.Grow(n)
	rec := &readRecorder{r: body}
	if _, err := s.spool.ReadFrom(rec); err != nil {
		if rec.err != nil {
			return rec.err
		}
		if errors.Is(err, syscall.EFBIG) {
			// As cleanup does for a queue file that hits the file size
			// limit: the message is too large.
			s.err |= qmqp.CleanupStatSize
		} else {
			s.log(maillog.Warning, "%s: spool the message: %v", s.queueID, err)
			s.err |= qmqp.CleanupStatWrite
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return err
		}
	}
	return nil
}

// readRecorder remembers the error of its reader, to tell the client's
// errors from the spool's.
type readRecorder struct {
	r   io.Reader
	err error
}

func (r *readRecorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// put sends a record whose failure Postfix ignores at this point (a broken
// cleanup stream shows up as a missing final status).
func (s *session) put(typ byte, data []byte) {
	_ = s.queued.Record(typ, data)
}

// copySender handles the sender netstring, including the VERP request form
// "prefixD@origin-@[]".
func (s *session) copySender(sender string) {
	verp := ""
	if d, stripped, ok := verpRequest(sender); ok {
		verp = string([]byte{d, '='})
		if !verpDelimsOK(verp, s.cfg.VERPFilter) {
			s.err |= qmqp.CleanupStatCont
			s.whyRejected = fmt.Sprintf("Invalid VERP delimiters: \"%s\". Need two characters from \"%s\"", verp, s.cfg.VERPFilter)
		}
		sender = stripped
	}
	if s.err == StatOK && s.queued.Record(queuefile.RecFrom, []byte(sender)) != nil {
		s.err = qmqp.CleanupStatWrite
	}
	if verp != "" && s.err == StatOK && s.queued.Record(queuefile.RecVERP, []byte(verp)) != nil {
		s.err = qmqp.CleanupStatWrite
	}
	s.sender = sender
}

// verpRequest recognises Postfix's QMQP VERP convention. It returns the
// delimiter character and the sender with that character and the "-@[]"
// suffix removed.
func verpRequest(sender string) (delim byte, stripped string, ok bool) {
	endOrigin := len(sender) - 4
	if endOrigin <= 0 || sender[endOrigin:] != "-@[]" {
		return 0, "", false
	}
	at := bytes.IndexByte([]byte(sender), '@')
	endPrefix := at - 1
	if at < 0 || endPrefix >= endOrigin-2 || endPrefix <= 0 {
		return 0, "", false
	}
	return sender[endPrefix], sender[:endPrefix] + sender[endPrefix+1:endOrigin], true
}

// verpDelimsOK is Postfix's verp_delims_verify: exactly two characters,
// both in the filter.
func verpDelimsOK(delims, filter string) bool {
	if len(delims) != 2 {
		return false
	}
	for i := 0; i < 2; i++ {
		if bytes.IndexByte([]byte(filter), delims[i]) < 0 {
			return false
		}
	}
	return true
}

// writeAttributes sends the ten client attributes, in Postfix's order.
func (s *session) writeAttributes() {
	p := s.peer
	for _, a := range [...][2]string{
		{"log_client_name", p.Name},
		{"log_client_address", p.RFCAddr},
		{"log_client_port", p.Port},
		{"log_message_origin", p.NamAddr},
		{"log_protocol_name", "QMQP"},
		{"client_name", p.Name},
		{"client_address", p.Addr},
		{"client_port", p.Port},
		{"client_address_type", strconv.Itoa(p.Family)},
		{"protocol_name", "QMQP"},
	} {
		b := append(append(append(s.bufs.scratch[:0], a[0]...), '='), a[1]...)
		s.put(queuefile.RecAttr, b)
		s.bufs.scratch = b
	}
}

// writeContent sends the content segment: our Received: header, then the
// message split into records at newlines or line_length_limit.
func (s *session) writeContent() {
	s.put(queuefile.RecMesg, nil)
	hdr, ends := AppendReceivedHeader(s.bufs.scratch[:0], s.peer, s.cfg.Hostname, s.cfg.MailName, s.queueID, s.rcptCount, s.recipient, s.arrival)
	start := 0
	for _, end := range ends {
		s.put(queuefile.RecNorm, hdr[start:end])
		start = end
	}
	s.bufs.scratch = hdr
	lines, err := s.bufs.lineReader(s.spool, s.cfg.LineLengthLimit)
	if err != nil {
		s.log(maillog.Warning, "%s: read the spooled message: %v", s.queueID, err)
		s.err = qmqp.CleanupStatWrite
		return
	}
	first := true
	for {
		typ, line, ok, err := lines.next()
		if err != nil {
			s.log(maillog.Warning, "%s: read the spooled message: %v", s.queueID, err)
			s.err = qmqp.CleanupStatWrite
			return
		}
		if !ok {
			break
		}
		if first {
			if bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From ")) {
				// A stray From_ line at the top becomes a header. Postfix
				// looks past the record end here (strncmp on its buffer);
				// within the record, the result is the same.
				s.put(typ, append([]byte("X-Mailbox-Line: "), line...))
				continue
			}
			first = false
			if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
				s.put(queuefile.RecNorm, nil)
			}
		}
		if s.queued.Record(typ, line) != nil {
			s.err = qmqp.CleanupStatWrite
			return
		}
	}
}

// lineReader splits the message into the records Postfix's qmqpd makes: a
// record ends at a newline (type N, the newline dropped), after limit bytes
// (type L), or at the end of the message (type L: the last line had no
// newline). Memory use is one buffer of limit+1 bytes.
//
// A message held in memory is split where it lies (mem), without copying.
type lineReader struct {
	br    *bufio.Reader
	mem   []byte // the rest of an in-memory message, when br is nil
	limit int
}

func newLineReader(r io.Reader, limit int) *lineReader {
	l := &lineReader{}
	l.reset(r, limit)
	return l
}

// reset makes l read from r, reusing its buffer when it is large enough.
func (l *lineReader) reset(r io.Reader, limit int) {
	limit = max(limit, 1)
	size := max(limit+1, 4096)
	if l.br == nil || l.br.Size() < size {
		l.br = bufio.NewReaderSize(r, size)
	} else {
		l.br.Reset(r)
	}
	l.mem, l.limit = nil, limit
}

// resetBytes makes l split b.
func (l *lineReader) resetBytes(b []byte, limit int) {
	if l.br != nil {
		l.br.Reset(nil)
	}
	l.mem, l.limit = b, max(limit, 1)
	if l.mem == nil {
		l.mem = []byte{}
	}
}

// next returns the next record; ok is false at the end of the message.
// line is valid until the following call.
func (l *lineReader) next() (typ byte, line []byte, ok bool, err error) {
	if l.mem != nil {
		return l.nextMem()
	}
	buf, perr := l.br.Peek(l.limit + 1)
	if perr != nil && perr != io.EOF && perr != bufio.ErrBufferFull {
		return 0, nil, false, perr
	}
	if len(buf) == 0 {
		return 0, nil, false, nil
	}
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		line = buf[:i:i]
		_, _ = l.br.Discard(i + 1)
		return queuefile.RecNorm, line, true, nil
	}
	n := len(buf)
	if n > l.limit {
		n = l.limit
	}
	line = buf[:n:n]
	_, _ = l.br.Discard(n)
	return queuefile.RecCont, line, true, nil
}

// nextMem is next for an in-memory message: the same records, cut from
// the same look-ahead of limit+1 bytes.
func (l *lineReader) nextMem() (typ byte, line []byte, ok bool, err error) {
	if len(l.mem) == 0 {
		return 0, nil, false, nil
	}
	buf := l.mem[:min(len(l.mem), l.limit+1)]
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		l.mem = l.mem[i+1:]
		return queuefile.RecNorm, buf[:i:i], true, nil
	}
	n := min(len(buf), l.limit)
	l.mem = l.mem[n:]
	return queuefile.RecCont, buf[:n:n], true, nil
}

// closeFile ends the record stream and lets cleanup finish the file.
func (s *session) closeFile() {
	if s.err == StatOK {
		if s.queued.Record(queuefile.RecXtra, nil) != nil || s.queued.Record(queuefile.RecEnd, nil) != nil {
			s.err = qmqp.CleanupStatWrite
		}
	}
	q := s.queued
	s.queued = nil
	if s.err == StatOK {
		s.err, s.whyRejected = q.Finish()
	} else {
		q.Abort()
	}
}

// sendStatus replies with the most severe problem, in Postfix's priority;
// every problem is logged as a warning.
func (s *session) sendStatus() {
	s.where = qmqp.WhereStatus
	s.reply(s.err != StatOK, qmqp.FinalReply(s.err, s.whyRejected, s.queueID))
}

// reply sends one status netstring. D becomes Z under soft_bounce; every
// non-K reply waits qmqpd_error_delay before it is flushed. With doLog the
// reply text is logged (info for K, warning otherwise).
func (s *session) reply(doLog bool, r qmqp.Reply) bool {
	r = r.SoftBounce(s.cfg.SoftBounce)
	if doLog {
		level := maillog.Warning
		if r.Code == qmqp.StatusOK {
			level = maillog.Info
		}
		id := s.queueID
		if id == "" {
			id = "NOQUEUE"
		}
		s.log(level, "%s: %s: %s", id, s.peer.NamAddr, r.Text)
	}
	if r.Code != qmqp.StatusOK && s.cfg.ErrorDelay > 0 {
		t := time.NewTimer(s.cfg.ErrorDelay)
		select {
		case <-t.C:
		case <-s.srv.closing():
			t.Stop()
		}
	}
	// The reply is the last thing the session sends: it leaves with the
	// FIN.
	if err := qmqp.WriteFinalReply(s.conn, r.Code, r.Text); err != nil {
		if s.reason == "" {
			s.reason = qmqp.KindEOF.Reason()
			if qmqp.IsTimeout(err) {
				s.reason = qmqp.KindTimeout.Reason()
			}
		}
		return false
	}
	return true
}

// replyEarly answers before the whole packet was read (a refused client, a
// malformed or oversized packet). Unlike Postfix, which just closes the
// socket and so often makes the client's kernel see a reset that eats the
// reply, it then stops writing and drains what the client still sends for
// a short while, so the client reads the reply and a clean end of file.
func (s *session) replyEarly(r qmqp.Reply) {
	if s.reply(false, r) {
		_ = qmqp.Drain(s.conn, qmqp.Linger{})
	}
}

// sessionBuffers are the buffers of one session that a Server keeps for
// the next one: the packet reader, the spool's memory and the record
// splitter's buffer.
type sessionBuffers struct {
	pr      *qmqp.Reader
	spool   *queuefile.Spool
	lines   lineReader
	scratch []byte // records built by the session (attributes, Received:)
}

// reader returns the packet reader, reset to read conn.
func (b *sessionBuffers) reader(conn io.Reader, lim qmqp.Limits) *qmqp.Reader {
	if b.pr == nil {
		b.pr = qmqp.NewReader(conn, lim)
	} else {
		b.pr.Reset(conn, lim)
	}
	return b.pr
}

// newSpool returns an empty Spool, with the memory of an earlier one when
// there was one.
func (b *sessionBuffers) newSpool(dir string, memLimit int) *queuefile.Spool {
	if b.spool == nil {
		b.spool = queuefile.NewSpool(dir, memLimit)
	} else {
		_ = b.spool.Reset(dir, memLimit)
	}
	return b.spool
}

// lineReader returns the record splitter over sp's message: in place when
// the message is in memory, through a buffer otherwise.
func (b *sessionBuffers) lineReader(sp *queuefile.Spool, limit int) (*lineReader, error) {
	if mem, ok := sp.Bytes(); ok {
		b.lines.resetBytes(mem, limit)
		return &b.lines, nil
	}
	r, err := sp.Reader()
	if err != nil {
		return nil, err
	}
	b.lines.reset(r, limit)
	return &b.lines, nil
}

// release drops every reference to the connection and the message, so
// that a pooled sessionBuffers holds memory only.
func (b *sessionBuffers) release() {
	if b.pr != nil {
		b.pr.Reset(nil, qmqp.Limits{})
	}
	if b.spool != nil {
		_ = b.spool.Reset("", 0)
	}
	b.lines.resetBytes(nil, 1)
}
