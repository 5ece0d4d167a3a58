package cleanup

import "bytes"

// Rewriter canonicalizes addresses the way Postfix's trivial-rewrite(8)
// does for its "local" rewriting context, which is the context cleanup uses
// for mail that arrives by QMQP (qmqpd sends no rewrite_context attribute).
type Rewriter struct {
	Origin          string // $myorigin, appended to addresses without '@'
	Domain          string // $mydomain, appended to single-label domains
	AppendAtOrigin  bool   // append_at_myorigin
	AppendDotDomain bool   // append_dot_mydomain
	SwapBangPath    bool   // swap_bangpath: host!user -> user@host
	PercentHack     bool   // allow_percent_hack: user%host -> user@host

	// fullPath turns the shortcut for plain addresses off (for the
	// tests that compare both).
	fullPath bool
}

// External rewrites an address in external (quoted) form, as the rewrite
// service would answer a "local" request. An empty address stays empty.
func (r *Rewriter) External(addr []byte) []byte {
	return nonNil(r.external(&tokArena{}, nil, addr))
}

// Internal rewrites an address in internal (unquoted) form: it is quoted,
// rewritten, and unquoted again, like cleanup does for envelope addresses.
func (r *Rewriter) Internal(addr []byte) []byte {
	return nonNil(r.internal(&tokArena{}, nil, addr))
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// external is External appending to dst, with tokens from a (which it
// does not reset).
func (r *Rewriter) external(a *tokArena, dst, addr []byte) []byte {
	addr = cstr(addr)
	if len(addr) == 0 {
		return dst
	}
	tree := a.newTok(tokAddr)
	tree.head, tree.tail = tokScan(a, addr, 0)
	if tree.head == nil {
		// Only white space: nothing Postfix's client could send.
		return append(dst, addr...)
	}
	r.rewriteTree(a, tree)
	return externalize(a, dst, tree, strNone, nil)
}

// internal is Internal appending to dst; it resets a.
func (r *Rewriter) internal(a *tokArena, dst, addr []byte) []byte {
	if addr = cstr(addr); r.keeps(addr) {
		return append(dst, addr...)
	}
	a.reset()
	a.src = quote822Local(a.src, addr, quoteFlagDefault)
	a.dst = r.external(a, a.dst, a.src)
	return unquote822Local(dst, a.dst)
}

// rewriteTree applies the local-context rules to the tokens of one address.
func (r *Rewriter) rewriteTree(a *tokArena, tree *tok) {
	// The empty address stays as it is.
	if tree.head == tree.tail && tree.tail.typ == tokQString && len(tree.tail.s) == 0 {
		return
	}
	// A lone '@' is the empty address.
	if tree.head == tree.tail && tree.tail.typ == '@' {
		tokSubKeepBefore(tree, tree.tail)
		tokSubAppend(tree, a.newTok(tokQString))
		return
	}
	// Strip a source route: @a,@b:user@domain -> user@domain.
	if tree.head.typ == '@' {
		if colon := tokFindType(tree.head, ':'); colon != nil && colon != tree.tail {
			tokSubKeepAfter(tree, colon)
		}
	}
	// Forms without '@'.
	if tokRFindType(tree.tail, '@') == nil {
		var bang, pct *tok
		if r.SwapBangPath {
			bang = tokFindType(tree.head, '!')
		}
		if bang == nil && r.PercentHack {
			pct = tokRFindType(tree.tail, '%')
		}
		switch {
		case bang != nil:
			tokSubKeepBefore(tree, bang)
			local := tokCutAfter(bang)
			tokSubPrepend(tree, a.newTok('@'))
			if local != nil {
				tokSubPrepend(tree, local)
			}
		case pct != nil:
			pct.typ = '@'
		case r.AppendAtOrigin && r.Origin != "":
			tokSubAppend(tree, a.newTok('@'))
			h, _ := a.scanString(r.Origin, 0)
			if h != nil {
				tokSubAppend(tree, h)
			}
		}
	}
	// Append .$mydomain to a single-label domain (not a literal).
	if r.AppendDotDomain && r.Domain != "" {
		if domain := tokRFindType(tree.tail, '@'); domain != nil && domain != tree.tail &&
			tokFindType(domain, tokDomLit) == nil && tokFindType(domain, '.') == nil {
			tokSubAppend(tree, a.newTok('.'))
			h, _ := a.scanString(r.Domain, 0)
			if h != nil {
				tokSubAppend(tree, h)
			}
		}
	}
	// Strip one trailing dot, but not from "..", or "@.".
	if tree.tail != nil && tree.tail.typ == '.' && tree.tail.prev != nil &&
		tree.tail.prev.typ != '.' && tree.tail.prev.typ != '@' {
		tokSubKeepBefore(tree, tree.tail)
	}
}

// rewriteHeaderValue rewrites the addresses in value, the text after a
// header's colon (at most limit tokens of it). If any address changed, it
// returns the header rebuilt from its tokens, name, ": " and the addresses
// one per line, appended to dst, and true. warn receives warnings. It
// resets a.
func (r *Rewriter) rewriteHeaderValue(a *tokArena, dst, name, value []byte, limit int, warn func(string)) ([]byte, bool) {
	if r.headerKeeps(value, limit) {
		return dst, false
	}
	a.reset()
	tree := tokParse(a, value, limit)
	changed := false
	for tp := tree; tp != nil; tp = tp.next {
		if tp.typ == tokAddr {
			if r.rewriteAddrNode(a, tp) {
				changed = true
			}
		}
	}
	if !changed {
		return dst, false
	}
	dst = append(append(dst, name...), ':', ' ')
	return externalize(a, dst, tree, strLine|strTrnc, warn), true
}

// headerKeeps reports whether rewriting leaves every address in a header
// value unchanged, without tokenizing it: the value is a list of items
// separated by commas, each a plain address (see keeps) or a phrase of
// plain atoms followed by a plain address in angle brackets, with white
// space (space, tab, CR, LF) around items and between words. The
// tokenizer groups such a list into one address per item and leaves the
// phrases alone. Values longer than limit bytes may hold more than limit
// tokens and are not judged here.
func (r *Rewriter) headerKeeps(value []byte, limit int) bool {
	if r.fullPath || len(value) > limit {
		return false
	}
	for {
		item, rest, more := bytes.Cut(value, []byte{','})
		item = trimSpaceTabCRLF(item)
		if lt := bytes.IndexByte(item, '<'); lt >= 0 {
			if item[len(item)-1] != '>' || !r.keeps(item[lt+1:len(item)-1]) {
				return false
			}
			for _, c := range item[:lt] {
				if !isSpaceTabCRLF(c) && (c <= ' ' || c >= 0x7f || isTokOp(c)) {
					return false
				}
			}
		} else if !r.keeps(item) {
			return false
		}
		if !more {
			return true
		}
		value = rest
	}
}

// trimSpaceTabCRLF removes the white space the tokenizer skips from both
// ends of b.
func trimSpaceTabCRLF(b []byte) []byte {
	for len(b) > 0 && isSpaceTabCRLF(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpaceTabCRLF(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// keeps reports whether addr is a plain address that rewriting leaves as
// it is, in both internal and external form, so that it needs no
// tokenizing: local@domain, each side one or more atoms joined by single
// dots, atoms made of printable ASCII other than the tokenizer's
// operators (so no quoting, comments, literals, routes, '%' or '!'), and a
// domain with a dot when append_dot_mydomain would act on it.
func (r *Rewriter) keeps(addr []byte) bool {
	if r.fullPath {
		return false
	}
	at := bytes.IndexByte(addr, '@')
	if at < 0 || !isDotAtom(addr[:at]) || !isDotAtom(addr[at+1:]) {
		return false
	}
	if r.AppendDotDomain && r.Domain != "" && bytes.IndexByte(addr[at+1:], '.') < 0 {
		return false
	}
	return true
}

// isDotAtom reports whether b is one or more atoms of printable ASCII
// characters other than tokOpChars, joined by single dots.
func isDotAtom(b []byte) bool {
	if len(b) == 0 || b[0] == '.' || b[len(b)-1] == '.' {
		return false
	}
	for i, c := range b {
		if c == '.' {
			if b[i-1] == '.' {
				return false
			}
			continue
		}
		if c <= ' ' || c >= 0x7f || isTokOp(c) {
			return false
		}
	}
	return true
}

// plainTokens reports whether the tokens from head are atoms, '.' and '@'
// with no two atoms next to each other: then their external and internal
// text is the same, the tokens' text back to back.
func plainTokens(head *tok) bool {
	prevAtom := false
	for tp := head; tp != nil; tp = tp.next {
		switch tp.typ {
		case tokAtom:
			if prevAtom {
				return false
			}
			prevAtom = true
		case '.', '@':
			prevAtom = false
		default:
			return false
		}
	}
	return true
}

// rewriteAddrNode rewrites one address group of a parsed header in place
// and reports whether its text changed. The new tokens come from a.
func (r *Rewriter) rewriteAddrNode(a *tokArena, node *tok) bool {
	a.src = externalize(a, a.src[:0], node.head, strNone, nil)
	if plainTokens(node.head) && r.keeps(a.src) {
		// Unchanged; the tokens stay, and render as a rescan of the
		// same text would.
		return false
	}
	a.dst = r.external(a, a.dst[:0], a.src)
	node.head, node.tail = tokScan(a, a.dst, 0)
	return !bytes.Equal(cstr(a.src), a.dst)
}
