package dict

import (
	"fmt"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
	"strings"
)

// cidrRule is one rule of a cidr table.
type cidrRule struct {
	op     int // cidrMatch, cidrIf, cidrEndif
	cidr   CIDR
	match  bool // false for a negated ("!") pattern
	value  string
	lineno int
	end    int // for cidrIf: index of the matching ENDIF, or -1
}

const (
	cidrMatch = iota
	cidrIf
	cidrEndif
)

// cidrTable is Postfix's cidr: table: first matching rule wins.
type cidrTable struct {
	name  string
	rules []cidrRule
}

func (t *cidrTable) Type() string { return "cidr" }
func (t *cidrTable) Name() string { return t.name }
func (t *cidrTable) Flags() Flags { return Pattern }

// Lookup matches the printable address key against the rules; keys that
// are not addresses match nothing.
func (t *cidrTable) Lookup(key string) (string, bool, error) {
	v6 := strings.IndexByte(key, ':') >= 0
	addr, ok := pton(key, v6)
	if !ok {
		return "", false, nil
	}
	for i := 0; i < len(t.rules); i++ {
		r := &t.rules[i]
		switch r.op {
		case cidrMatch:
			if r.cidr.v6 == v6 && r.cidr.containsBytes(addr) == r.match {
				return r.value, true, nil
			}
		case cidrIf:
			if r.cidr.v6 == v6 && r.cidr.containsBytes(addr) == r.match {
				continue
			}
			if r.end < 0 {
				return "", false, nil
			}
			i = r.end
		}
	}
	return "", false, nil
}

func (c CIDR) containsBytes(b [16]byte) bool {
	for i := 0; i < c.bytes; i++ {
		if b[i]&c.mask[i] != c.net[i] {
			return false
		}
	}
	return true
}

// hasPrefixFold reports whether s starts with the keyword kw (any case)
// not followed by a letter or digit.
func hasKeyword(s, kw string) bool {
	return len(s) >= len(kw) && strings.EqualFold(s[:len(kw)], kw) &&
		(len(s) == len(kw) || !isAlnum(s[len(kw)]))
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// skipNegation skips white space and '!'s, returning the polarity.
func skipNegation(p string) (string, bool) {
	match := true
	for p != "" {
		if p[0] == '!' {
			match = !match
		} else if !isSpace(p[0]) {
			break
		}
		p = p[1:]
	}
	return p, match
}

func parseCIDRRule(p string, nesting int) (cidrRule, string) {
	var r cidrRule
	switch {
	case hasKeyword(p, "IF"):
		p, r.match = skipNegation(p[2:])
		if p == "" {
			return r, "no address pattern"
		}
		c, err := ParseCIDR(trimSpace(p))
		if err != nil {
			return r, err.Error()
		}
		r.op, r.cidr, r.end = cidrIf, c, -1
	case hasKeyword(p, "ENDIF"):
		if trimSpace(p[5:]) != "" {
			return r, "garbage after ENDIF"
		}
		if nesting == 0 {
			return r, "ENDIF without IF"
		}
		r.op = cidrEndif
	default:
		p, r.match = skipNegation(p)
		i := 0
		for i < len(p) && !isSpace(p[i]) {
			i++
		}
		pattern, value := p[:i], trimSpace(p[i:])
		if pattern == "" {
			return r, "no address pattern"
		}
		c, err := ParseCIDR(pattern)
		if err != nil {
			return r, err.Error()
		}
		if value == "" {
			return r, "no lookup result"
		}
		r.op, r.cidr, r.value = cidrMatch, c, value
	}
	return r, ""
}

// openCIDR reads a cidr table: "pattern result" lines, "IF pattern" /
// "ENDIF" blocks, "!" negation. Bad rules are skipped with Postfix's
// warnings.
func openCIDR(r *Registry, name string) (Table, error) {
	src, err := openSource("cidr", name)
	if err != nil {
		return nil, err
	}
	return parseCIDRTable(r, name, src), nil
}

func parseCIDRTable(r *Registry, name string, src []byte) *cidrTable {
	t := &cidrTable{name: name}
	var stack []int
	for _, ll := range readLogicalLines(r, name, src) {
		rule, why := parseCIDRRule(ll.text, len(stack))
		if why != "" {
			r.warnf("cidr map %s, line %d: %s: skipping this rule", name, ll.lineno, why)
			continue
		}
		rule.lineno = ll.lineno
		switch rule.op {
		case cidrIf:
			stack = append(stack, len(t.rules))
		case cidrEndif:
			t.rules[stack[len(stack)-1]].end = len(t.rules)
			stack = stack[:len(stack)-1]
		}
		t.rules = append(t.rules, rule)
	}
	for i := len(stack) - 1; i >= 0; i-- {
		r.warnf("cidr map %s, line %d: IF has no matching ENDIF", name, t.rules[stack[i]].lineno)
	}
	return t
}

// openTexthash reads a texthash table: "key whitespace value" lines in
// postmap(1) syntax, kept in memory. Keys are stored as written (quotes
// included), like Postfix.
func openTexthash(r *Registry, name string) (Table, error) {
	src, err := readFile(name)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %s", name, syserr.Text(err))
	}
	return parseTexthash(r, name, src)
}

// parseTexthash parses texthash source text; an error (a duplicate key)
// makes the whole table unusable, as with Postfix.
func parseTexthash(r *Registry, name string, src []byte) (Table, error) {
	t := &mapTable{typ: "texthash", name: name, m: map[string]string{}}
	for _, ll := range readLogicalLines(r, name, src) {
		line := ll.text
		inQuotes := false
		i := 0
		for ; i < len(line); i++ {
			c := line[i]
			if c == '\\' {
				i++
				if i >= len(line) {
					break
				}
			} else if isSpace(c) {
				if !inQuotes {
					break
				}
			} else if c == '"' {
				inQuotes = !inQuotes
			}
		}
		if inQuotes {
			r.warnf("%s, line %d: unbalanced '\"' in '%s' -- ignoring this line", name, ll.lineno, line)
			continue
		}
		i = min(i, len(line))
		key, value := line[:i], trimSpace(line[i:])
		if key == "" || value == "" {
			r.warnf("%s, line %d: expected format: key whitespace value -- ignoring this line", name, ll.lineno)
			continue
		}
		if key[len(key)-1] == ':' {
			r.warnf("%s, line %d: record is in \"key: value\" format; is this an alias file?", name, ll.lineno)
		}
		if _, dup := t.m[key]; dup {
			return nil, fmt.Errorf("%s, line %d: duplicate entry: \"%s\"", name, ll.lineno, key)
		}
		t.m[key] = value
	}
	return t, nil
}
