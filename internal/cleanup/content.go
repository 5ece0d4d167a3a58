package cleanup

import (
	"bytes"
	"strconv"
	"time"
)

// headerCallback processes one complete header (possibly several lines
// joined with '\n') from the MIME parser.
func (st *Stream) headerCallback(class int, h *headerOpts, buf []byte) {
	if h != nil && h.flags&hdrOptMIME != 0 {
		class = mimeHdrMultipart
	}
	if h != nil && h.typ == hdrReceived {
		st.hopCount++
	}
	if h == nil {
		st.outHeader(buf)
		return
	}
	value := cstr(buf)[len(h.name)+1:]
	for len(value) > 0 && isSpace(value[0]) {
		value = value[1:]
	}
	if st.s.Detect8BitEncodingHeader && h.typ == hdrContentTransferEncoding {
		if asciiEqualFold(value, "8bit") || asciiEqualFold(value, "binary") {
			st.encoding = "8bit"
		}
	}
	if class != mimeHdrPrimary {
		st.outHeader(buf)
		return
	}
	st.seen |= 1 << uint(h.typ)
	if h.typ == hdrMessageID {
		st.logValue(": message-id=", value)
	}
	if h.typ == hdrResentMessageID {
		st.logValue(": resent-message-id=", value)
	}
	if h.typ == hdrReceived && st.hopCount >= st.s.HopcountLimit {
		st.c.logf(true, "%s: message rejected: hopcount exceeded", st.ID())
		st.errs |= StatHops
	}
	if !st.outOK() {
		return
	}
	if h.flags&hdrOptRR != 0 {
		st.resent = "Resent-"
	}
	switch {
	case h.flags&(hdrOptSender|hdrOptRecip) != 0:
		st.rewriteHeader(h, buf)
	case h.flags&hdrOptDrop == 0:
		st.outHeader(buf)
	}
}

// logValue logs "QID<label><value>" with control characters in value
// replaced by '?'.
func (st *Stream) logValue(label string, value []byte) {
	if st.c.Log == nil {
		return
	}
	b := append(append(st.w.log[:0], st.id...), label...)
	for _, c := range value {
		if isCntrl(c) {
			c = '?'
		}
		b = append(b, c)
	}
	st.w.log = b
	st.c.Log(false, string(b))
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// rewriteHeader rewrites the addresses in a sender or recipient header; if
// any address changed, the header is rebuilt from its tokens and re-folded.
func (st *Stream) rewriteHeader(h *headerOpts, buf []byte) {
	buf = cstr(buf)
	rebuilt, changed := st.rw.rewriteHeaderValue(&st.w.arena, st.w.header[:0], buf[:len(h.name)], buf[len(h.name)+1:],
		st.s.HeaderAddressTokenLimit, func(text string) { st.c.logf(true, "%s", text) })
	if changed {
		buf = rebuilt
		st.w.header = rebuilt
	}
	if h.flags&hdrOptDrop != 0 {
		return
	}
	if changed {
		st.foldHeader(buf)
	} else {
		st.outHeader(buf)
	}
}

// foldHeader joins the one-address-per-line form of a rebuilt header into
// lines shorter than 70 characters, in place, then writes it.
func (st *Stream) foldHeader(buf []byte) {
	b := cstr(buf)
	startLine := 0
	line := 0
	for {
		end := bytes.IndexByte(b[line:], '\n')
		endLine := len(b)
		if end >= 0 {
			endLine = line + end
		}
		if line > 0 {
			if endLine-startLine < 70 {
				b[line-1] = ' '
			} else {
				startLine = line
			}
		}
		if end < 0 {
			break
		}
		line = endLine + 1
	}
	st.outHeader(b)
}

// outHeader writes one (multi-line) header as text records: lines that do
// not start with white space get a TAB, text beyond header_size_limit is
// cut, and long lines are split into continuation records.
func (st *Stream) outHeader(buf []byte) {
	s := cstr(buf)
	if st.s.SMTPUTF8Enable && len(s) > 0 && !allASCII(s) {
		st.utf8 |= utf8Header
		if st.flags&FlagAutoUTF8 != 0 {
			st.utf8 |= utf8Requested
		}
	}
	limit := st.s.HeaderSizeLimit
	for pos := 0; ; {
		nl := bytes.IndexByte(s[pos:], '\n')
		lineEnd := len(s)
		next := -1
		if nl >= 0 {
			lineEnd = pos + nl
			next = lineEnd + 1
		}
		if lineEnd > limit {
			if float64(pos) > 0.9*float64(limit) {
				break
			}
			lineEnd = limit
			next = -1
		}
		line := s[pos:lineEnd]
		switch {
		case pos == 0:
			st.out(recNorm, line)
		case len(line) > 0 && isSpaceTab(line[0]):
			st.out(recNorm, line)
		default:
			st.w.rec = append(append(st.w.rec[:0], '\t'), line...)
			st.out(recNorm, st.w.rec)
		}
		if next < 0 {
			break
		}
		pos = next
	}
}

// headerDone runs at the end of the primary header block: it adds the
// Message-Id, Date and From headers (or their Resent- forms) when missing.
func (st *Stream) headerDone() {
	if !st.outOK() {
		return
	}
	if st.hopCount < 1 {
		st.c.logf(true, "%s: message rejected: no Received: header", st.ID())
		st.errs |= StatBad
		return
	}
	pick := func(plain, resent int) int {
		if st.resent != "" {
			return resent
		}
		return plain
	}
	if idType := pick(hdrMessageID, hdrResentMessageID); st.seen&(1<<uint(idType)) == 0 {
		// The record is "[Resent-]Message-Id: <ID>", the log line
		// "QID: [resent-]message-id=<ID>".
		b := append(st.w.rec[:0], st.resent...)
		b = append(b, "Message-Id: <"...)
		idStart := len(b)
		if !st.s.EnableLongQueueIDs {
			b = st.file.Created().UTC().AppendFormat(b, "20060102150405")
			b = append(b, '.')
		}
		b = append(append(append(b, st.id...), '@'), st.s.MyHostname...)
		b = append(b, '>')
		st.w.rec = b
		st.out(recNorm, b)
		if st.c.Log != nil {
			l := append(st.w.log[:0], st.id...)
			if st.resent != "" {
				l = append(l, ": resent-message-id="...)
			} else {
				l = append(l, ": message-id="...)
			}
			l = append(append(l, '<'), b[idStart:]...)
			st.w.log = l
			st.c.Log(false, string(l))
		}
		st.seen |= 1 << uint(idType)
	}
	if st.seen&(1<<hdrMessageID) == 0 {
		st.c.logf(false, "%s: message-id=<>", st.ID())
	}
	if st.seen&(1<<uint(pick(hdrDate, hdrResentDate))) == 0 {
		b := append(append(st.w.rec[:0], st.resent...), "Date: "...)
		st.w.rec = AppendMailDate(b, st.arrival, st.s.Location)
		st.out(recNorm, st.w.rec)
	}
	if st.seen&(1<<uint(pick(hdrFrom, hdrResentFrom))) == 0 {
		from := st.sender
		if len(from) == 0 {
			from = []byte("MAILER-DAEMON")
		}
		b := append(append(st.w.rec[:0], st.resent...), "From: "...)
		st.w.rec = quote822Local(b, from, quoteFlagDefault)
		st.out(recNorm, st.w.rec)
	}
	visible := uint64(1<<hdrTo | 1<<hdrResentTo | 1<<hdrCc | 1<<hdrResentCc)
	if st.seen&visible == 0 && st.s.UndisclosedRecipientsHeader != "" {
		if !isHeader(st.s.UndisclosedRecipientsHeader) {
			st.c.logf(true, "bad %s header text \"%s\" -- need \"headername: headervalue\"",
				"undisclosed_recipients_header", st.s.UndisclosedRecipientsHeader)
		} else {
			st.outString(recNorm, st.s.UndisclosedRecipientsHeader)
		}
	}
}

// bodyCallback writes one body record unchanged.
func (st *Stream) bodyCallback(typ byte, text []byte) {
	if !st.outOK() {
		return
	}
	st.out(typ, text)
}

// MailDate formats t like Postfix's mail_date() in loc (nil = time.Local):
// "Tue, 24 Nov 2026 14:32:52 +0000 (UTC)", day of month padded with a
// space. Like Postfix, an offset between -1h and 0 prints as "+00MM".
func MailDate(t time.Time, loc *time.Location) string {
	return string(AppendMailDate(nil, t, loc))
}

// AppendMailDate is MailDate appending to dst, for callers that build
// records without allocating (qmqpd's Received: header).
func AppendMailDate(dst []byte, t time.Time, loc *time.Location) []byte {
	if loc == nil {
		loc = time.Local
	}
	t = t.In(loc)
	name, off := t.Zone()
	mins := off / 60
	am := mins % 60
	if am < 0 {
		am = -am
	}
	dst = t.AppendFormat(dst, "Mon, _2 Jan 2006 15:04:05 ")
	// The hours as %+03d: sign, then at least two digits.
	h := mins / 60
	if h < 0 {
		dst = append(dst, '-')
		h = -h
	} else {
		dst = append(dst, '+')
	}
	if h < 10 {
		dst = append(dst, '0')
	}
	dst = strconv.AppendInt(dst, int64(h), 10)
	if am < 10 {
		dst = append(dst, '0')
	}
	dst = strconv.AppendInt(dst, int64(am), 10)
	dst = append(dst, " ("...)
	dst = append(dst, name...)
	return append(dst, ')')
}
