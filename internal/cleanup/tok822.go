package cleanup

import (
	"bytes"
	"strings"
)

// This file holds an RFC 822 address tokenizer and parser that behaves like
// the one Postfix uses for envelope and header address rewriting: the same
// token classes, the same right-to-left grouping of addresses, and the same
// rules for turning a token tree back into text. Byte-compatibility of
// rewritten headers depends on these details, so they are kept literal.

// Token types. Operators use their own byte value (< tokMin).
const (
	tokMin      = 256
	tokAtom     = 256 // run of non-special characters
	tokQString  = 257 // text between double quotes (stored unquoted)
	tokComment  = 258 // comment, stored with its parentheses
	tokDomLit   = 259 // text between [ and ] (stored without brackets)
	tokAddr     = 260 // group node: the tokens of one address
	tokStartGrp = 261 // the ':' that starts a named group
)

// Flags for externalize and internalize.
const (
	strNone = 0
	strLine = 1 << 2 // newline after each comma
	strTrnc = 1 << 3 // strip excessive non-address text
)

// tokOpChars are the characters that form single-character operator tokens.
const tokOpChars = "|%!()<>@,;:\\\".[]"

// lexSpecials are RFC 822's special characters.
const lexSpecials = "()<>@,;:\\\".[]"

// tok is one token or a group of tokens.
type tok struct {
	typ        int
	s          []byte
	next, prev *tok
	head, tail *tok // children of a group node
	owner      *tok // group node this token belongs to, if any
}

// tokChunk is how many tokens a tokArena allocates at a time.
const tokChunk = 64

// tokArena hands out tokens and token text for the parse of one header or
// address and takes them all back at once with reset, so that their memory
// is reused from message to message. Tokens and text from before a reset
// must no longer be used.
type tokArena struct {
	chunks [][]tok // token storage, tokChunk tokens each
	n      int     // tokens handed out since the last reset
	text   []byte  // token text, back to back
	in     []byte  // input copied from a string, for scanString
	tmp    []byte  // externalize's scratch
	src    []byte  // rewriteAddrNode's address text before rewriting
	dst    []byte  // rewriteAddrNode's address text after rewriting
}

// newTok returns a zeroed token of type typ.
func (a *tokArena) newTok(typ int) *tok {
	c := a.n / tokChunk
	if c == len(a.chunks) {
		a.chunks = append(a.chunks, make([]tok, tokChunk))
	}
	t := &a.chunks[c][a.n%tokChunk]
	*t = tok{typ: typ}
	a.n++
	return t
}

// maxArenaChunks bounds the token storage an arena keeps across resets:
// a header with thousands of addresses must not pin its tokens forever.
const maxArenaChunks = 16

// maxKeptBuffer bounds the capacity of a scratch buffer kept for reuse.
const maxKeptBuffer = 64 << 10

// reset takes back every token and all text handed out. Tokens are
// zeroed when handed out again; until then they point only into the
// arena's own memory.
func (a *tokArena) reset() {
	if len(a.chunks) > maxArenaChunks {
		clear(a.chunks[maxArenaChunks:])
		a.chunks = a.chunks[:maxArenaChunks]
	}
	if cap(a.text) > maxKeptBuffer {
		// The text is dropped below; stale tokens must not keep it.
		for _, c := range a.chunks {
			clear(c)
		}
	}
	a.n = 0
	a.text = trimBuffer(a.text)
	a.in = trimBuffer(a.in)
	a.tmp = trimBuffer(a.tmp)
	a.src = trimBuffer(a.src)
	a.dst = trimBuffer(a.dst)
}

// trimBuffer empties b for reuse, or drops it when it grew too large to
// keep.
func trimBuffer(b []byte) []byte {
	if cap(b) > maxKeptBuffer {
		return nil
	}
	return b[:0]
}

// scanString is tokScan for text held in a string.
func (a *tokArena) scanString(s string, limit int) (head, tail *tok) {
	a.in = append(a.in[:0], s...)
	return tokScan(a, a.in, limit)
}

func isSpaceTabCRLF(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
func isSpaceTab(c byte) bool     { return c == ' ' || c == '\t' }
func isCntrl(c byte) bool        { return c < 0x20 || c == 0x7f }

// cstr returns b up to (not including) its first NUL byte, as C string
// functions would see it.
func cstr(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// tokAppend inserts list t2 after t1 and returns the end of the inserted list.
func tokAppend(t1, t2 *tok) *tok {
	next := t1.next
	t1.next = t2
	t2.prev = t1
	t2.owner = t1.owner
	for t2.next != nil {
		t2 = t2.next
		t2.owner = t1.owner
	}
	t2.next = next
	if next != nil {
		next.prev = t2
	}
	return t2
}

// tokPrepend inserts list t2 before t1 and returns the end of the inserted list.
func tokPrepend(t1, t2 *tok) *tok {
	prev := t1.prev
	if prev != nil {
		prev.next = t2
	}
	t2.prev = prev
	t2.owner = t1.owner
	for t2.next != nil {
		t2 = t2.next
		t2.owner = t1.owner
	}
	t2.next = t1
	t1.prev = t2
	return t2
}

func tokCutBefore(tp *tok) *tok {
	prev := tp.prev
	if prev != nil {
		prev.next = nil
		tp.prev = nil
	}
	return prev
}

func tokCutAfter(tp *tok) *tok {
	next := tp.next
	if next != nil {
		next.prev = nil
		tp.next = nil
	}
	return next
}

func tokUnlink(tp *tok) *tok {
	prev, next := tp.prev, tp.next
	if prev != nil {
		prev.next = next
	}
	if next != nil {
		next.prev = prev
	}
	tp.prev, tp.next = nil, nil
	return prev
}

func tokSubAppend(t1, t2 *tok) *tok {
	if t1.head != nil {
		t1.tail = tokAppend(t1.tail, t2)
		return t1.tail
	}
	t1.head = t2
	t2.owner = t1
	for t2.next != nil {
		t2 = t2.next
		t2.owner = t1
	}
	t1.tail = t2
	return t2
}

func tokSubPrepend(t1, t2 *tok) *tok {
	if t1.head != nil {
		tp := tokPrepend(t1.head, t2)
		t1.head = t2
		return tp
	}
	t1.head = t2
	t2.owner = t1
	for t2.next != nil {
		t2 = t2.next
		t2.owner = t1
	}
	t1.tail = t2
	return t2
}

func tokSubKeepBefore(t1, t2 *tok) {
	if t1.tail = tokCutBefore(t2); t1.tail == nil {
		t1.head = nil
	}
}

func tokSubKeepAfter(t1, t2 *tok) {
	if t1.head = tokCutAfter(t2); t1.head == nil {
		t1.tail = nil
	}
}

func tokFindType(head *tok, typ int) *tok {
	tp := head
	for tp != nil && tp.typ != typ {
		tp = tp.next
	}
	return tp
}

func tokRFindType(tail *tok, typ int) *tok {
	tp := tail
	for tp != nil && tp.typ != typ {
		tp = tp.prev
	}
	return tp
}

// collect gathers token text from s[i:] while cond holds; a backslash makes
// the next character part of the text unconditionally. White space is
// stored as a plain space. It returns the index where collection stopped.
func collect(a *tokArena, t *tok, s []byte, i int, cond func(c byte) bool) int {
	start := len(a.text)
	for i < len(s) {
		c := s[i]
		if c == '\\' {
			i++
			if i >= len(s) {
				break
			}
			c = s[i]
		} else if !cond(c) {
			break
		}
		if isSpaceTabCRLF(c) {
			c = ' '
		}
		a.text = append(a.text, c)
		i++
	}
	t.s = a.text[start:len(a.text):len(a.text)]
	return i
}

// tokScan splits s (up to its first NUL) into a flat token list. With
// limit > 0 it stops after that many tokens.
func tokScan(a *tokArena, s []byte, limit int) (head, tail *tok) {
	s = cstr(s)
	count := 0
	for i := 0; i < len(s); {
		c := s[i]
		i++
		if isSpaceTabCRLF(c) {
			continue
		}
		var tp *tok
		switch {
		case c == '(':
			tp = a.newTok(tokComment)
			i = scanComment(a, tp, s, i)
		case c == '[':
			tp = a.newTok(tokDomLit)
			i = collect(a, tp, s, i, func(c byte) bool { return c != ']' })
			if i < len(s) {
				i++
			}
		case c == '"':
			tp = a.newTok(tokQString)
			i = collect(a, tp, s, i, func(c byte) bool { return c != '"' })
			if i < len(s) {
				i++
			}
		case c != '\\' && isTokOp(c):
			tp = a.newTok(int(c))
		default:
			tp = a.newTok(tokAtom)
			i = collect(a, tp, s, i-1, func(c byte) bool {
				return !isSpaceTabCRLF(c) && !isTokOp(c)
			})
			quoteAtom(tp)
		}
		if head == nil {
			head, tail = tp, tp
		} else {
			tail = tokAppend(tail, tp)
		}
		count++
		if limit > 0 && count >= limit {
			break
		}
	}
	return head, tail
}

// isTokOp reports whether c is one of tokOpChars.
func isTokOp(c byte) bool {
	switch c {
	case '|', '%', '!', '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '.', '[', ']':
		return true
	}
	return false
}

// quoteAtom turns an atom that would need quoting into a quoted string.
func quoteAtom(tp *tok) {
	for _, c := range tp.s {
		if c == ' ' || isCntrl(c) || isTokOp(c) {
			tp.typ = tokQString
			return
		}
	}
}

// scanComment collects a (possibly nested) comment, keeping its external
// form including the parentheses and backslashes.
func scanComment(a *tokArena, tp *tok, s []byte, i int) int {
	start := len(a.text)
	level := 1
	a.text = append(a.text, '(')
	for i < len(s) {
		c := s[i]
		a.text = append(a.text, c)
		i++
		if c == '(' {
			level++
		} else if c == ')' {
			level--
			if level == 0 {
				break
			}
		} else if c == '\\' {
			if i >= len(s) {
				break
			}
			a.text = append(a.text, s[i])
			i++
		}
	}
	tp.s = a.text[start:len(a.text):len(a.text)]
	return i
}

// tokGroup moves the tokens strictly between left and right under a new
// group node inserted after left, optionally followed by a synthetic
// separator token. It returns left.
func tokGroup(a *tokArena, groupType int, left, right *tok, syncType int) *tok {
	if left != right {
		first := left.next
		if first != right {
			tokCutBefore(right)
			tokCutBefore(first)
			group := a.newTok(groupType)
			tokSubAppend(group, first)
			tokAppend(left, group)
			tokAppend(group, right)
			if syncType != 0 {
				tokAppend(left, a.newTok(syncType))
			}
		}
	}
	return left
}

// tokParse tokenizes s and groups the tokens of each address under an
// address node, working from right to left like Postfix does. Comments are
// moved out of addresses; missing commas between addresses are added.
func tokParse(a *tokArena, s []byte, limit int) *tok {
	first, last := tokScan(a, s, limit)
	if first == nil {
		return nil
	}
	head := a.newTok(0)
	head.next, first.prev = first, head
	tail := a.newTok(0)
	last.next, tail.prev = tail, last

	const (
		doWord  = 1 << 0
		doGroup = 1 << 1
	)
	moveComment := func(tp *tok, right **tok) *tok {
		prev := tokUnlink(tp)
		*right = tokPrepend(*right, tp)
		return prev
	}
	state := doWord
	right := tail
	tp := tail.prev
	for tp.typ != 0 {
		switch {
		case tp.typ == tokComment:
			tp = moveComment(tp, &right)
			continue
		case tp.typ == ';':
			right = tokGroup(a, tokAddr, tp, right, ',')
			state = doGroup | doWord
		case tp.typ == ':' && state&doGroup != 0:
			tp.typ = tokStartGrp
			tokGroup(a, tokAddr, tp, right, 0)
			for tp.typ != 0 && tp.typ != ',' {
				tp = tp.prev
			}
			right = tp
			continue
		case tp.typ == '>':
			right = tokGroup(a, tokAddr, tp, right, ',')
			for tp.typ != 0 && tp.typ != '<' {
				if tp.typ == tokComment {
					tp = moveComment(tp, &right)
					continue
				}
				tp = tp.prev
			}
			tokGroup(a, tokAddr, tp, right, 0)
			for tp.typ != 0 && (tp.typ > 0xff || strings.IndexByte(">;,:", byte(tp.typ)) < 0) {
				tp = tp.prev
			}
			right = tp
			state |= doWord
			continue
		case tp.typ == tokAtom || tp.typ == tokQString || tp.typ == tokDomLit:
			if state&doWord == 0 {
				right = tokGroup(a, tokAddr, tp, right, ',').next
			}
			state &^= doWord
		case tp.typ == ',':
			right = tokGroup(a, tokAddr, tp, right, 0)
			state |= doWord
		default:
			state |= doWord
		}
		tp = tp.prev
	}
	tokGroup(a, tokAddr, tp, right, 0)

	var result *tok
	if head.next != tail {
		result = head.next
	}
	tokCutBefore(head.next)
	tokCutBefore(tail)
	return result
}

// appendSpace reports whether a space goes after tp when the tree is
// turned back into text.
func appendSpace(tp *tok) bool {
	if tp == nil || tp.next == nil || tp.owner != nil {
		return false
	}
	next := tp.next
	if tp.typ == ',' || tp.typ == tokStartGrp || next.typ == '<' {
		return true
	}
	nonOp := func(t *tok) bool {
		return t.typ == tokAtom || t.typ == tokQString || t.typ == tokComment ||
			t.typ == tokDomLit || t.typ == tokAddr
	}
	return nonOp(tp) && nonOp(next)
}

// internalize renders a token list in internal (unquoted) form.
func internalize(dst []byte, tree *tok, flags int) []byte {
	for tp := tree; tp != nil; tp = tp.next {
		switch tp.typ {
		case ',':
			dst = append(dst, ',')
			if flags&strLine != 0 {
				dst = append(dst, '\n')
				continue
			}
		case tokAddr:
			dst = internalize(dst, tp.head, strNone)
		case tokComment, tokAtom, tokQString:
			dst = append(dst, tp.s...)
		case tokDomLit:
			dst = append(dst, '[')
			dst = append(dst, tp.s...)
			dst = append(dst, ']')
		case tokStartGrp:
			dst = append(dst, ':')
		default:
			dst = append(dst, byte(tp.typ))
		}
		if appendSpace(tp) {
			dst = append(dst, ' ')
		}
	}
	return dst
}

// maxNonAddrLength bounds the phrase and comment text kept around one
// address when a header is re-serialized.
const maxNonAddrLength = 250

// externalize renders a token list in external (quoted) form, appending it
// to dst. warn receives the warning Postfix logs when it strips excess
// non-address text. The arena lends a scratch buffer; dst must not be
// that buffer.
func externalize(a *tokArena, dst []byte, tree *tok, flags int, warn func(string)) []byte {
	var (
		start   int
		addr    *tok
		addrLen int
	)
	reset := func() { start, addr, addrLen = len(dst), nil, 0 }
	enforce := func() {
		if addr != nil && len(dst)-addrLen > start+maxNonAddrLength {
			if warn != nil {
				warn("stripping too many comments from address: " +
					string(printable(truncBytes(cstr(dst[start:]), 100), '?')) + "...")
			}
			dst = dst[:start]
			dst = append(dst, '<')
			if addr.head != nil {
				a.tmp = internalize(a.tmp[:0], addr.head, strNone)
				dst = quote822Local(dst, a.tmp, quoteFlag8BitClean)
			}
			dst = append(dst, '>')
		}
	}
	if flags&strTrnc != 0 {
		reset()
	}
	for tp := tree; tp != nil; tp = tp.next {
		switch tp.typ {
		case ',':
			if flags&strTrnc != 0 {
				enforce()
			}
			dst = append(dst, ',')
			if flags&strLine != 0 {
				dst = append(dst, '\n')
			} else {
				dst = append(dst, ' ')
			}
			if flags&strTrnc != 0 {
				reset()
			}
			continue
		case tokAddr:
			addr = tp
			a.tmp = internalize(a.tmp[:0], tp.head, strNone)
			before := len(dst)
			dst = quote822Local(dst, a.tmp, quoteFlag8BitClean)
			addrLen = len(dst) - before
		case tokAtom, tokComment:
			dst = append(dst, tp.s...)
		case tokQString:
			dst = append(dst, '"')
			dst = copyQuoted(dst, tp.s, "\"\\\r\n")
			dst = append(dst, '"')
		case tokDomLit:
			dst = append(dst, '[')
			dst = copyQuoted(dst, tp.s, "\\\r\n")
			dst = append(dst, ']')
		case tokStartGrp:
			dst = append(dst, ':')
		case '<':
			if tp.next != nil && tp.next.typ == '>' {
				addr = tp
				addrLen = 0
			}
			dst = append(dst, '<')
		default:
			dst = append(dst, byte(tp.typ))
		}
		if appendSpace(tp) {
			dst = append(dst, ' ')
		}
	}
	if flags&strTrnc != 0 {
		enforce()
	}
	return dst
}

func copyQuoted(dst, s []byte, quoteSet string) []byte {
	for _, c := range cstr(s) {
		if strings.IndexByte(quoteSet, c) >= 0 {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return dst
}

func truncBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// Flags for quote822Local.
const (
	quoteFlag8BitClean = 1 << 0
	quoteFlagDefault   = quoteFlag8BitClean
)

// isDotString reports whether a local part is an RFC 822 dot-string that
// needs no quoting.
func isDotString(local []byte, flags int) bool {
	if len(local) == 0 || local[0] == '.' {
		return false
	}
	for i, c := range local {
		if c == '.' && i+1 < len(local) && local[i+1] == '.' {
			return false
		}
		if c > 127 && flags&quoteFlag8BitClean == 0 {
			return false
		}
		if c == ' ' || isCntrl(c) {
			return false
		}
		switch c {
		case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '[', ']':
			return false
		}
	}
	return local[len(local)-1] != '.'
}

// quote822Local appends mbox to dst with its local part (the text before the
// last '@', after any source route) quoted when it is not a dot-string.
func quote822Local(dst, mbox []byte, flags int) []byte {
	mbox = cstr(mbox)
	start := 0
	if len(mbox) > 0 && mbox[0] == '@' {
		if c := bytes.IndexByte(mbox, ':'); c >= 0 {
			start = c + 1
		}
	}
	end := len(mbox)
	if at := bytes.LastIndexByte(mbox[start:], '@'); at >= 0 {
		end = start + at
	}
	if isDotString(mbox[start:end], flags) {
		return append(dst, mbox...)
	}
	dst = append(dst, mbox[:start]...)
	dst = append(dst, '"')
	for _, c := range mbox[start:end] {
		if (c > 127 && flags&quoteFlag8BitClean == 0) || c == '"' || c == '\\' || c == '\r' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	dst = append(dst, '"')
	return append(dst, mbox[end:]...)
}

// unquote822Local undoes quote822Local, appending to dst: quotes and
// backslashes are removed before the last unquoted '@'; a source route is
// kept as is.
func unquote822Local(dst, mbox []byte) []byte {
	mbox = cstr(mbox)
	start := 0
	if len(mbox) > 0 && mbox[0] == '@' {
		if c := bytes.IndexByte(mbox, ':'); c >= 0 {
			start = c + 1
			dst = append(dst, mbox[:start]...)
		}
	}
	inQuote := false
	bareAtDst, bareAtSrc := -1, -1
	for i := start; i < len(mbox); i++ {
		c := mbox[i]
		if c == '"' {
			inQuote = !inQuote
			continue
		} else if c == '@' {
			if !inQuote {
				bareAtDst, bareAtSrc = len(dst), i
			}
		} else if c == '\\' {
			if i+1 >= len(mbox) {
				continue
			}
			i++
			c = mbox[i]
		}
		dst = append(dst, c)
	}
	if bareAtDst >= 0 {
		dst = append(dst[:bareAtDst], mbox[bareAtSrc:]...)
	}
	return dst
}

// printable replaces bytes that Postfix would not log verbatim (ASCII
// control characters) with repl.
func printable(b []byte, repl byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if isCntrl(c) {
			c = repl
		}
		out[i] = c
	}
	return out
}
