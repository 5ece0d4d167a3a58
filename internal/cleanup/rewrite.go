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
}

// External rewrites an address in external (quoted) form, as the rewrite
// service would answer a "local" request. An empty address stays empty.
func (r *Rewriter) External(addr []byte) []byte {
	addr = cstr(addr)
	if len(addr) == 0 {
		return []byte{}
	}
	tree := &tok{typ: tokAddr}
	tree.head, tree.tail = tokScan(addr, 0)
	if tree.head == nil {
		// Only white space: nothing Postfix's client could send.
		return append([]byte{}, addr...)
	}
	r.rewriteTree(tree)
	return externalize(nil, tree, strNone, nil)
}

// Internal rewrites an address in internal (unquoted) form: it is quoted,
// rewritten, and unquoted again, like cleanup does for envelope addresses.
func (r *Rewriter) Internal(addr []byte) []byte {
	ext := quote822Local(nil, addr, quoteFlagDefault)
	return unquote822Local(r.External(ext))
}

// rewriteTree applies the local-context rules to the tokens of one address.
func (r *Rewriter) rewriteTree(tree *tok) {
	// The empty address stays as it is.
	if tree.head == tree.tail && tree.tail.typ == tokQString && len(tree.tail.s) == 0 {
		return
	}
	// A lone '@' is the empty address.
	if tree.head == tree.tail && tree.tail.typ == '@' {
		tokSubKeepBefore(tree, tree.tail)
		tokSubAppend(tree, newTok(tokQString, ""))
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
			tokSubPrepend(tree, &tok{typ: '@'})
			if local != nil {
				tokSubPrepend(tree, local)
			}
		case pct != nil:
			pct.typ = '@'
		case r.AppendAtOrigin && r.Origin != "":
			tokSubAppend(tree, &tok{typ: '@'})
			h, _ := tokScan([]byte(r.Origin), 0)
			if h != nil {
				tokSubAppend(tree, h)
			}
		}
	}
	// Append .$mydomain to a single-label domain (not a literal).
	if r.AppendDotDomain && r.Domain != "" {
		if domain := tokRFindType(tree.tail, '@'); domain != nil && domain != tree.tail &&
			tokFindType(domain, tokDomLit) == nil && tokFindType(domain, '.') == nil {
			tokSubAppend(tree, &tok{typ: '.'})
			h, _ := tokScan([]byte(r.Domain), 0)
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

// rewriteAddrNode rewrites one address group of a parsed header in place
// and reports whether its text changed.
func (r *Rewriter) rewriteAddrNode(node *tok) bool {
	src := externalize(nil, node.head, strNone, nil)
	dst := r.External(src)
	node.head, node.tail = tokScan(dst, 0)
	return !bytes.Equal(cstr(src), dst)
}
