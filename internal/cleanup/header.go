package cleanup

import (
	"bytes"
	"strings"
)

// Header types cleanup cares about (Postfix's HDR_* numbering is not
// needed; only identity matters).
const (
	hdrOther = iota
	hdrApparentlyTo
	hdrBcc
	hdrCc
	hdrContentLength
	hdrContentTransferEncoding
	hdrContentType
	hdrDate
	hdrDeliveredTo
	hdrErrorsTo
	hdrFrom
	hdrMessageID
	hdrReceived
	hdrReplyTo
	hdrResentBcc
	hdrResentCc
	hdrResentDate
	hdrResentFrom
	hdrResentMessageID
	hdrResentReplyTo
	hdrResentSender
	hdrResentTo
	hdrReturnPath
	hdrReturnReceiptTo
	hdrSender
	hdrTo
	hdrMailFollowupTo
	hdrContentDescription
	hdrContentDisposition
	hdrContentID
	hdrMIMEVersion
	hdrDispNotification
)

// Header option flags.
const (
	hdrOptDrop    = 1 << 0 // removed from the message
	hdrOptSender  = 1 << 1 // holds sender addresses
	hdrOptRecip   = 1 << 2 // holds recipient addresses
	hdrOptRR      = 1 << 3 // a Resent- header
	hdrOptExtract = 1 << 4
	hdrOptMIME    = 1 << 5 // a MIME header
	hdrOptXRecip  = hdrOptRecip | hdrOptExtract
)

// headerOpts describes one known header.
type headerOpts struct {
	name  string
	typ   int
	flags int
}

var knownHeaders = []headerOpts{
	{"Apparently-To", hdrApparentlyTo, hdrOptRecip},
	{"Bcc", hdrBcc, hdrOptXRecip},
	{"Cc", hdrCc, hdrOptXRecip},
	{"Content-Description", hdrContentDescription, hdrOptMIME},
	{"Content-Disposition", hdrContentDisposition, hdrOptMIME},
	{"Content-ID", hdrContentID, hdrOptMIME},
	{"Content-Length", hdrContentLength, 0},
	{"Content-Transfer-Encoding", hdrContentTransferEncoding, hdrOptMIME},
	{"Content-Type", hdrContentType, hdrOptMIME},
	{"Delivered-To", hdrDeliveredTo, 0},
	{"Disposition-Notification-To", hdrDispNotification, hdrOptSender},
	{"Date", hdrDate, 0},
	{"Errors-To", hdrErrorsTo, hdrOptSender},
	{"From", hdrFrom, hdrOptSender},
	{"Mail-Followup-To", hdrMailFollowupTo, hdrOptSender},
	{"Message-Id", hdrMessageID, 0},
	{"MIME-Version", hdrMIMEVersion, hdrOptMIME},
	{"Received", hdrReceived, 0},
	{"Reply-To", hdrReplyTo, hdrOptSender},
	{"Resent-Bcc", hdrResentBcc, hdrOptXRecip | hdrOptRR},
	{"Resent-Cc", hdrResentCc, hdrOptXRecip | hdrOptRR},
	{"Resent-Date", hdrResentDate, hdrOptRR},
	{"Resent-From", hdrResentFrom, hdrOptSender | hdrOptRR},
	{"Resent-Message-Id", hdrResentMessageID, hdrOptRR},
	{"Resent-Reply-To", hdrResentReplyTo, hdrOptRecip | hdrOptRR},
	{"Resent-Sender", hdrResentSender, hdrOptSender | hdrOptRR},
	{"Resent-To", hdrResentTo, hdrOptXRecip | hdrOptRR},
	{"Return-Path", hdrReturnPath, hdrOptSender},
	{"Return-Receipt-To", hdrReturnReceiptTo, hdrOptSender},
	{"Sender", hdrSender, hdrOptSender},
	{"To", hdrTo, hdrOptXRecip},
}

// headerTable maps lower-case header names to their options, including
// the names listed in message_drop_headers.
type headerTable map[string]*headerOpts

func newHeaderTable(dropHeaders []string) headerTable {
	t := headerTable{}
	for i := range knownHeaders {
		h := knownHeaders[i]
		t[strings.ToLower(h.name)] = &h
	}
	for _, name := range dropHeaders {
		key := asciiLower(name)
		if h, ok := t[key]; ok {
			h.flags |= hdrOptDrop
		} else {
			t[key] = &headerOpts{name: key, typ: hdrOther, flags: hdrOptDrop}
		}
	}
	return t
}

// find looks up the header whose text (starting with "name:") is line.
func (t headerTable) find(line []byte) *headerOpts {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return nil
	}
	name := trimSpaceRight(line[:colon])
	var buf [64]byte
	if len(name) > len(buf) {
		return t[asciiLower(string(name))]
	}
	lower := buf[:len(name)]
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	return t[string(lower)]
}

// asciiEqualFold reports whether b equals s, ignoring the case of ASCII
// letters only (asciiLower(string(b)) == asciiLower(s)).
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i, c := range b {
		d := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// isHeaderBuf reports the length of the header name if line begins a
// message header ("name:" with optional white space before the colon),
// or 0.
func isHeaderBuf(line []byte) int {
	const (
		stInit = iota
		stChar
		stCharSpace
	)
	state, n := stInit, 0
	for _, c := range line {
		switch c {
		case ' ', '\t':
			if state == stChar {
				state = stCharSpace
			}
			if state == stCharSpace {
				continue
			}
			return 0
		case ':':
			if state == stChar || state == stCharSpace {
				return n
			}
			return 0
		default:
			if c == 0 || c > 127 || isCntrl(c) {
				return 0
			}
			if state == stInit {
				state = stChar
			}
			if state == stChar {
				n++
				continue
			}
			return 0
		}
	}
	return 0
}

// isHeader reports whether s is a "name: value" header.
func isHeader(s string) bool { return isHeaderBuf([]byte(s)) > 0 }

// Header token types for the MIME header parser.
const (
	htokToken   = 256
	htokQString = 257
)

type headerToken struct {
	typ int
	val []byte
}

// headerTokens parses up to max tokens from *s, stopping at terminator (if
// not 0), like Postfix's MIME header tokenizer: comments are skipped, quoted
// strings unfolded. It returns -1 at the end of input with no tokens. The
// tokens are valid until the next call; their values point into *s or
// into m.tokText.
func (m *mimeParser) headerTokens(s *[]byte, max int, specials string, terminator byte) ([]headerToken, int) {
	toks := m.toks[:0]
	m.tokText = m.tokText[:0]
	cp := *s
	i := 0
	count := 0
	var ch byte
	for i < len(cp) && (terminator != 0 || count < max) {
		ch = cp[i]
		i++
		if isSpaceTabCRLF(ch) {
			continue
		}
		if terminator != 0 && ch == terminator {
			break
		}
		if ch == '(' {
			level := 1
			for i < len(cp) {
				c := cp[i]
				i++
				if c == '(' {
					level++
				} else if c == ')' {
					level--
					if level == 0 {
						break
					}
				} else if c == '\\' {
					if i >= len(cp) {
						break
					}
					i++
				}
			}
			continue
		}
		if ch == '"' {
			start := len(m.tokText)
			v := m.tokText
			for i < len(cp) {
				c := cp[i]
				i++
				if c == '"' {
					break
				}
				if c == '\n' {
					if count < max {
						for len(v) > start && isSpaceTabCRLF(v[len(v)-1]) {
							v = v[:len(v)-1]
						}
					}
					continue
				}
				if c == '\\' {
					if i >= len(cp) {
						break
					}
					c = cp[i]
					i++
				}
				v = append(v, c)
			}
			m.tokText = v
			if count < max {
				toks = append(toks, headerToken{htokQString, v[start:len(v):len(v)]})
				count++
			}
			continue
		}
		if strings.IndexByte(specials, ch) >= 0 || isCntrl(ch) {
			if count < max {
				toks = append(toks, headerToken{int(ch), cp[i-1 : i : i]})
				count++
			}
			continue
		}
		start := i - 1
		for i < len(cp) {
			c := cp[i]
			if isSpaceTabCRLF(c) || isCntrl(c) || strings.IndexByte(specials, c) >= 0 {
				break
			}
			i++
		}
		if count < max {
			toks = append(toks, headerToken{htokToken, cp[start:i:i]})
			count++
		}
	}
	*s = cp[i:]
	m.toks = toks[:0]
	if count == 0 && i >= len(cp) {
		return toks, -1
	}
	return toks, count
}
