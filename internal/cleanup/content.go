package cleanup

import (
	"bytes"
	"fmt"
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
		switch asciiLower(string(value)) {
		case "8bit", "binary":
			st.encoding = "8bit"
		}
	}
	if class != mimeHdrPrimary {
		st.outHeader(buf)
		return
	}
	st.seen |= 1 << uint(h.typ)
	if h.typ == hdrMessageID {
		st.c.logf(false, "%s: message-id=%s", st.ID(), printable(value, '?'))
	}
	if h.typ == hdrResentMessageID {
		st.c.logf(false, "%s: resent-message-id=%s", st.ID(), printable(value, '?'))
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

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// rewriteHeader rewrites the addresses in a sender or recipient header; if
// any address changed, the header is rebuilt from its tokens and re-folded.
func (st *Stream) rewriteHeader(h *headerOpts, buf []byte) {
	buf = cstr(buf)
	tree := tokParse(buf[len(h.name)+1:], st.s.HeaderAddressTokenLimit)
	changed := false
	for tp := tree; tp != nil; tp = tp.next {
		if tp.typ == tokAddr {
			if st.rw.rewriteAddrNode(tp) {
				changed = true
			}
		}
	}
	if changed {
		nb := append([]byte{}, buf[:len(h.name)]...)
		nb = append(nb, ':', ' ')
		buf = externalize(nb, tree, strLine|strTrnc, func(text string) { st.c.logf(true, "%s", text) })
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
// lines shorter than 70 characters, then writes it.
func (st *Stream) foldHeader(buf []byte) {
	b := append([]byte{}, cstr(buf)...)
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
			st.out(recNorm, append([]byte{'\t'}, line...))
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
		var id string
		if st.s.EnableLongQueueIDs {
			id = st.ID() + "@" + st.s.MyHostname
		} else {
			id = st.file.Created().UTC().Format("20060102150405") + "." + st.ID() + "@" + st.s.MyHostname
		}
		st.outString(recNorm, st.resent+"Message-Id: <"+id+">")
		label := ""
		if st.resent != "" {
			label = "resent-"
		}
		st.c.logf(false, "%s: %smessage-id=<%s>", st.ID(), label, id)
		st.seen |= 1 << uint(idType)
	}
	if st.seen&(1<<hdrMessageID) == 0 {
		st.c.logf(false, "%s: message-id=<>", st.ID())
	}
	if st.seen&(1<<uint(pick(hdrDate, hdrResentDate))) == 0 {
		st.outString(recNorm, st.resent+"Date: "+MailDate(st.arrival, st.s.Location))
	}
	if st.seen&(1<<uint(pick(hdrFrom, hdrResentFrom))) == 0 {
		from := st.sender
		if len(from) == 0 {
			from = []byte("MAILER-DAEMON")
		}
		st.out(recNorm, quote822Local([]byte(st.resent+"From: "), from, quoteFlagDefault))
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
	return fmt.Sprintf("%s %+03d%02d (%s)", t.Format("Mon, _2 Jan 2006 15:04:05"), mins/60, am, name)
}
