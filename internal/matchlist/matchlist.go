// Package matchlist implements Postfix's host name/address match lists
// ("namadr lists"), as used by qmqpd_authorized_clients and
// debug_peer_list: comma/space separated patterns with "!" negation,
// "/file" includes, "type:table" lookups, host names with parent-domain
// matching, addresses and net/mask patterns. The first pattern that
// matches decides.
//
// Problems are reported the way Postfix 3.7 reports them: syntax errors
// that Postfix treats as fatal make New fail with Postfix's text;
// problems Postfix finds only when matching (a bad net/mask, a table lookup
// failure) are reported through the warning callback and make Match return
// an error, which a server turns into a temporary "server configuration
// error".
package matchlist

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
	"io"
	"os"
	"strings"

	"github.com/qmqpd-go/qmqpd/internal/dict"
)

// List is a parsed match list. It is safe for concurrent use by Match
// calls.
type List struct {
	param    string
	parent   bool
	patterns []pattern
	warn     func(string)
}

type pattern struct {
	negate bool
	text   string     // case-folded pattern (non-table patterns)
	table  dict.Table // for type:table patterns
}

// maxIncludeDepth bounds nested /file includes (Postfix has no bound and
// recurses until it runs out of stack on a file that includes itself).
const maxIncludeDepth = 32

// ErrLookup is wrapped by the errors Match returns.
var ErrLookup = errors.New("match list lookup error")

// New parses the value of the list parameter param. parent selects
// parent-domain matching (the parameter is listed in
// parent_domain_matches_subdomains; see ParentStyle). Tables are opened
// through dicts (nil: a private registry that reports through warn). warn
// receives warnings in Postfix's words, without "warning: ".
//
// Errors are the ones Postfix treats as fatal, in its words, e.g.
// "qmqpd_authorized_clients: no pattern after '!'".
func New(param, value string, parent bool, dicts *dict.Registry, warn func(string)) (*List, error) {
	if warn == nil {
		warn = func(string) {}
	}
	if dicts == nil {
		dicts = dict.NewRegistry(warn)
	}
	l := &List{param: param, parent: parent, warn: warn}
	if err := l.parse(dicts, value, true, 0); err != nil {
		return nil, err
	}
	return l, nil
}

// ParentStyle reports whether param is named in the value of
// parent_domain_matches_subdomains (Postfix's match_parent_style).
func ParentStyle(param, parentDomainMatchesSubdomains string) bool {
	rest := parentDomainMatchesSubdomains
	for {
		tok, r, ok := dict.NextToken(rest, dict.Separators)
		if !ok {
			return false
		}
		if tok == param {
			return true
		}
		rest = r
	}
}

// isTable reports whether a pattern names a lookup table: it contains a
// ':' and does not start with '['.
func isTable(p string) bool { return p != "" && p[0] != '[' && strings.IndexByte(p, ':') >= 0 }

func (l *List) parse(dicts *dict.Registry, s string, match bool, depth int) error {
	rest := s
	for {
		tok, r, ok := dict.NextToken(rest, dict.Separators)
		if !ok {
			return nil
		}
		rest = r
		if tok[0] == '#' {
			l.warn(fmt.Sprintf("%s: comment at end of line is not supported: %s %s", l.param, tok, rest))
			return nil
		}
		m := match
		item := tok
		for item != "" && item[0] == '!' {
			m = !m
			item = item[1:]
		}
		switch {
		case item == "":
			return fmt.Errorf("%s: no pattern after '!'", l.param)
		case item[0] == '/':
			if err := l.include(dicts, item, m, depth); err != nil {
				return err
			}
		case isTable(item):
			t, err := dicts.Open(item)
			if err != nil {
				return err
			}
			l.patterns = append(l.patterns, pattern{negate: !m, table: t})
		default:
			l.patterns = append(l.patterns, pattern{negate: !m, text: fold(item)})
		}
	}
}

// include reads a /file pattern: each line not starting with '#' is parsed
// as more patterns, negated when the file name was.
func (l *List) include(dicts *dict.Registry, path string, match bool, depth int) error {
	if depth >= maxIncludeDepth {
		return fmt.Errorf("%s: file %s: too many nested includes", l.param, path)
	}
	f, err := os.Open(path)
	if err != nil {
		reason := "open file " + path + ": " + syserr.Text(err)
		t := dicts.Surrogate("non-existent", path, reason)
		l.patterns = append(l.patterns, pattern{negate: !match, table: t})
		return nil
	}
	defer f.Close()
	br := bufio.NewReader(f)
	for {
		line, rerr := br.ReadString('\n')
		if line != "" && line[0] != '#' {
			if err := l.parse(dicts, line, match, depth+1); err != nil {
				return err
			}
		}
		if rerr != nil {
			if rerr == io.EOF {
				return nil
			}
			return fmt.Errorf("match_list_parse: read file %s: %s", path, syserr.Text(rerr))
		}
	}
}

// fold lower-cases ASCII letters, as Postfix's casefold does when SMTPUTF8
// support is off.
func fold(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// Match reports whether the client with the given host name (or
// "unknown") and printable address is matched by the list: the first
// pattern that matches the name or, failing that, the address decides,
// and its "!" negates. An empty list matches nothing.
//
// A non-nil error means a pattern could not be evaluated (a table lookup
// failed, or a net/mask pattern is malformed); the match result is then
// false, the problem has been reported through the warning callback, and
// a server should answer with a temporary configuration error.
func (l *List) Match(hostname, addr string) (bool, error) {
	name := fold(hostname)
	addr = fold(addr)
	for _, p := range l.patterns {
		ok, err := l.matchHostname(name, p)
		if err == nil && !ok {
			ok, err = l.matchHostaddr(addr, p)
		}
		if err != nil {
			return false, err
		}
		if ok {
			return !p.negate, nil
		}
	}
	return false, nil
}

// Len returns the number of patterns, after /file expansion.
func (l *List) Len() int { return len(l.patterns) }

// lookupError reports a failed table lookup the way match_ops does.
func (l *List) lookupError(t dict.Table) error {
	text := fmt.Sprintf("%s: %s:%s: table lookup problem", l.param, t.Type(), t.Name())
	l.warn(text)
	return fmt.Errorf("%s: %w", text, ErrLookup)
}

func (l *List) matchHostname(name string, p pattern) (bool, error) {
	if p.table != nil {
		fixed := p.table.Flags()&dict.Fixed != 0
		entry := name
		first := true
		for entry != "" {
			if first || fixed {
				_, found, err := p.table.Lookup(entry)
				if found {
					return true, nil
				}
				if err != nil {
					return false, l.lookupError(p.table)
				}
			}
			first = false
			i := strings.IndexByte(entry[1:], '.')
			if i < 0 {
				break
			}
			entry = entry[1+i:]
			if l.parent {
				entry = entry[1:]
			}
		}
		return false, nil
	}
	pat := p.text
	if name == pat {
		return true, nil
	}
	if l.parent {
		if len(name) > len(pat) && name[len(name)-len(pat)-1] == '.' && name[len(name)-len(pat):] == pat {
			return true, nil
		}
	} else if pat != "" && pat[0] == '.' {
		if len(name) > len(pat) && name[len(name)-len(pat):] == pat {
			return true, nil
		}
	}
	return false, nil
}

const (
	v4Chars = "01234567890."
	v6Chars = v4Chars + "abcdefABCDEF:"
)

func allIn(s, set string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}

func (l *List) matchHostaddr(addr string, p pattern) (bool, error) {
	if !allIn(addr, v6Chars) {
		return false, nil
	}
	if p.table != nil {
		_, found, err := p.table.Lookup(addr)
		if found {
			return true, nil
		}
		if err != nil {
			return false, l.lookupError(p.table)
		}
		return false, nil
	}
	pat := p.text
	if pat == "" || pat[0] != '[' {
		if addr == pat {
			return true, nil
		}
	} else if strings.HasPrefix(pat[1:], addr) && pat[1+len(addr):] == "]" {
		return true, nil
	}
	if strings.Contains(addr, ":") != strings.Contains(pat, ":") ||
		!strings.ContainsAny(pat, ":/") ||
		allIn(pat, v4Chars) ||
		!allIn(pat, v6Chars+"[]/") {
		return false, nil
	}
	c, err := dict.ParseCIDR(pat)
	if err != nil {
		text := fmt.Sprintf("%s: %s", l.param, err.Error())
		l.warn(text)
		return false, fmt.Errorf("%s: %w", text, ErrLookup)
	}
	return c.Contains(addr), nil
}
