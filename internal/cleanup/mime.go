package cleanup

import "bytes"

// Record types of the queue file format used in the content pipeline.
const (
	recNorm byte = 'N' // text line, newline removed
	recCont byte = 'L' // chunk of a longer line (also: content_filter)
	recXtra byte = 'X' // end of content
)

// Header classes, as the header callback sees them.
const (
	mimeHdrPrimary   = 1 // the message's own headers
	mimeHdrMultipart = 2 // headers after a multipart boundary
	mimeHdrNested    = 3 // headers of an attached message/rfc822
	mimeStateBody    = 4
)

const (
	ctypeOther = iota
	ctypeText
	ctypeMessage
	ctypeMultipart
)

const (
	stypeOther = iota
	stypePlain
	stypeRFC822
	stypePartial
	stypeExternBody
	stypeGlobal
)

// mimeBoundary is one open multipart boundary.
type mimeBoundary struct {
	defCtype, defStype int
	boundary           []byte
}

// mimeSink receives what the MIME parser finds: complete headers, the end
// of the primary header block, and body records.
type mimeSink interface {
	headerCallback(class int, h *headerOpts, buf []byte)
	headerDone()
	bodyCallback(typ byte, text []byte)
}

// mimeParser splits the content records into header and body pieces the
// way Postfix's MIME state machine does with no strict options: it
// recognizes and joins header lines (primary, multipart and nested
// message/rfc822 header blocks), tracks multipart boundaries, and hands
// complete headers and body records to its callbacks. Its memory use is
// bounded by header_size_limit plus one record.
type mimeParser struct {
	disableMIME  bool
	headerLimit  int
	maxDepth     int
	boundLimit   int
	headers      headerTable
	sink         mimeSink
	state        int
	ctype, stype int
	out          []byte // the header being collected
	prevRecType  byte
	nesting      int
	stack        []mimeBoundary // open boundaries; slots beyond len keep their buffers
	toks         []headerToken  // contentType's tokens
	tokText      []byte         // unquoted text of quoted-string tokens
}

// init starts the parser on a new message, keeping the buffers of an
// earlier one.
func (m *mimeParser) init(s *Settings, headers headerTable, sink mimeSink) {
	*m = mimeParser{
		disableMIME: s.DisableMIMEInputProcessing,
		headerLimit: s.HeaderSizeLimit,
		maxDepth:    s.MIMENestingLimit,
		boundLimit:  s.MIMEBoundaryLengthLimit,
		headers:     headers,
		sink:        sink,
		state:       mimeHdrPrimary,
		ctype:       ctypeText,
		stype:       stypePlain,
		nesting:     -1,
		out:         m.out[:0],
		stack:       m.stack[:0],
		toks:        m.toks[:0],
		tokText:     m.tokText[:0],
	}
}

// maxKeptBoundaries bounds the boundary slots kept for the next message.
const maxKeptBoundaries = 16

// release drops the message's references and buffers too large to keep.
func (m *mimeParser) release() {
	m.headers, m.sink = nil, nil
	m.out = trimBuffer(m.out)
	m.tokText = trimBuffer(m.tokText)
	if cap(m.stack) > maxKeptBoundaries {
		m.stack = nil
	}
	for i := range m.stack[:cap(m.stack)] {
		m.stack[:cap(m.stack)][i].boundary = trimBuffer(m.stack[:cap(m.stack)][i].boundary)
	}
	m.stack = m.stack[:0]
	clear(m.toks[:cap(m.toks)])
	m.toks = m.toks[:0]
}

// push opens a boundary, reusing the buffer of a slot used before.
func (m *mimeParser) push(defCtype, defStype int, boundary []byte) {
	if len(m.stack) < cap(m.stack) {
		m.stack = m.stack[:len(m.stack)+1]
	} else {
		m.stack = append(m.stack, mimeBoundary{})
	}
	top := &m.stack[len(m.stack)-1]
	top.defCtype, top.defStype = defCtype, defStype
	top.boundary = append(top.boundary[:0], boundary...)
}

func (m *mimeParser) setState(state, ctype, stype int) {
	m.state, m.ctype, m.stype = state, ctype, stype
}

// update feeds one record (N, L, or X at the end).
func (m *mimeParser) update(typ byte, text []byte) {
	isText := typ == recNorm || typ == recCont
	if !isText && m.prevRecType == recCont {
		m.update(recNorm, nil)
	}
	if m.state != mimeStateBody {
		if len(m.out) > 0 {
			if isText {
				if m.prevRecType == recCont {
					if len(m.out) < m.headerLimit {
						m.out = append(m.out, text...)
					}
					m.prevRecType = typ
					return
				}
				if len(text) > 0 && isSpaceTab(text[0]) {
					if len(m.out) < m.headerLimit {
						m.out = append(m.out, '\n')
						m.out = append(m.out, text...)
					}
					m.prevRecType = typ
					return
				}
			}
			// Another header, a non-header, or the end: emit the saved one.
			h := m.headers.find(cstr(m.out))
			if !m.disableMIME && h != nil {
				if h.typ == hdrContentType {
					m.contentType(h)
				}
			}
			m.sink.headerCallback(m.state, h, m.out)
			m.prevRecType = 0
			m.out = m.out[:0]
		}
		if isText {
			if n := isHeaderBuf(text); n > 0 {
				m.out = append(m.out[:0], text[:n]...)
				rest := text[n:]
				for len(rest) > 0 && isSpaceTab(rest[0]) {
					rest = rest[1:]
				}
				m.out = append(m.out, rest...)
				m.prevRecType = typ
				return
			}
		}
		// The header block ends here.
		if m.state == mimeHdrPrimary {
			m.sink.headerDone()
		}
		if isText {
			if len(text) == 0 {
				switch {
				case m.ctype == ctypeMessage && (m.stype == stypeRFC822 || m.stype == stypeGlobal):
					m.setState(mimeHdrNested, ctypeText, stypePlain)
				case m.ctype == ctypeMultipart:
					m.setState(mimeStateBody, ctypeOther, stypeOther)
				default:
					m.state = mimeStateBody
				}
			} else {
				// Not a header and not the blank line: a blank line is
				// inserted only after the primary headers.
				if m.state == mimeHdrPrimary {
					m.sink.bodyCallback(recNorm, nil)
				}
				m.state = mimeStateBody
			}
		} else {
			m.state = mimeStateBody
		}
	}
	// Body text: look for boundaries.
	if isText {
		if len(m.stack) > 0 && m.prevRecType != recCont && len(text) > 2 && text[0] == '-' && text[1] == '-' {
			for i := len(m.stack) - 1; i >= 0; i-- {
				sp := m.stack[i]
				bl := len(sp.boundary)
				if len(text) >= 2+bl && bytes.Equal(cstr(text[2:2+bl]), sp.boundary) {
					m.stack = m.stack[:i+1]
					m.nesting = i
					if len(text) >= 4+bl && text[2+bl] == '-' && text[3+bl] == '-' {
						m.pop()
						m.setState(mimeStateBody, ctypeOther, stypeOther)
					} else {
						m.setState(mimeHdrMultipart, sp.defCtype, sp.defStype)
					}
					break
				}
			}
		}
		m.sink.bodyCallback(typ, text)
	}
	m.prevRecType = typ
}

func (m *mimeParser) pop() {
	m.stack = m.stack[:len(m.stack)-1]
	m.nesting--
}

const rfc2045TSpecials = "()<>@,;:\\\"/[]?="

// contentType interprets a Content-Type header held in m.out.
func (m *mimeParser) contentType(h *headerOpts) {
	value := cstr(m.out)[len(h.name)+1:]
	match := func(t headerToken, s string) bool {
		return t.typ == htokToken && asciiEqualFold(t.val, s)
	}
	toks, n := m.headerTokens(&value, 3, rfc2045TSpecials, ';')
	if n <= 0 {
		m.ctype = ctypeOther
		return
	}
	switch {
	case match(toks[0], "text"):
		m.ctype = ctypeText
		if n >= 3 && toks[1].typ == '/' && match(toks[2], "plain") {
			m.stype = stypePlain
		} else {
			m.stype = stypeOther
		}
	case match(toks[0], "message"):
		m.ctype = ctypeMessage
		m.stype = stypeOther
		if n >= 3 && toks[1].typ == '/' {
			switch {
			case match(toks[2], "rfc822"):
				m.stype = stypeRFC822
			case match(toks[2], "partial"):
				m.stype = stypePartial
			case match(toks[2], "external-body"):
				m.stype = stypeExternBody
			case match(toks[2], "global"):
				m.stype = stypeGlobal
			}
		}
	case match(toks[0], "multipart"):
		m.ctype = ctypeMultipart
		defC, defS := ctypeText, stypePlain
		if n >= 3 && toks[1].typ == '/' && match(toks[2], "digest") {
			defC, defS = ctypeMessage, stypeRFC822
		}
		for {
			toks, n = m.headerTokens(&value, 3, rfc2045TSpecials, ';')
			if n < 0 {
				break
			}
			if n >= 3 && match(toks[0], "boundary") && toks[1].typ == '=' {
				if m.nesting > m.maxDepth {
					continue
				}
				b := cstr(toks[2].val)
				if len(b) > m.boundLimit {
					b = b[:m.boundLimit]
				}
				m.nesting++
				m.push(defC, defS, b)
			}
		}
	default:
		m.ctype = ctypeOther
	}
}
