package dict

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// flavor holds what differs between regexp: and pcre: tables.
type flavor struct {
	typ string
	// defaultOpts and the option letters the flavor accepts.
	defaultOpts reOpts
	option      func(o *reOpts, c byte) (ok bool)
	// noDelimiter is the end of the "no closing regexp delimiter" warning.
	noDelimiter string
	// badIndex is the warning for $0 (the two flavors spell it differently).
	badIndex string
	// secondPattern: regexp tables accept "/re1/!/re2/".
	secondPattern bool
	translate     func(pattern string, o reOpts) (string, error)
	compileError  func(err error) string
}

// reOpts are the options of one pattern.
type reOpts struct {
	icase     bool
	newline   bool // regexp 'm': POSIX REG_NEWLINE
	extended  bool // regexp: ERE (true) or BRE (false); pcre: 'x' flag
	multiline bool // pcre 'm'
	dotall    bool // pcre 's'
	anchored  bool // pcre 'A'
	dollarEnd bool // pcre 'E'
	ungreedy  bool // pcre 'U'
}

var regexpFlavor = &flavor{
	typ:         "regexp",
	defaultOpts: reOpts{icase: true, extended: true},
	option: func(o *reOpts, c byte) bool {
		switch c {
		case 'i':
			o.icase = !o.icase
		case 'm':
			o.newline = !o.newline
		case 'x':
			o.extended = !o.extended
		default:
			return false
		}
		return true
	},
	noDelimiter:   "skipping this rule",
	badIndex:      "out-of-range replacement index",
	secondPattern: true,
	translate:     translatePOSIX,
}

var pcreFlavor = &flavor{
	typ:         "pcre",
	defaultOpts: reOpts{icase: true, dotall: true},
	option: func(o *reOpts, c byte) bool {
		switch c {
		case 'i':
			o.icase = !o.icase
		case 'm':
			o.multiline = !o.multiline
		case 's':
			o.dotall = !o.dotall
		case 'x':
			o.extended = !o.extended
		case 'A':
			o.anchored = !o.anchored
		case 'E':
			o.dollarEnd = !o.dollarEnd
		case 'U':
			o.ungreedy = !o.ungreedy
		case 'X':
		default:
			return false
		}
		return true
	},
	noDelimiter: "ignoring this rule",
	badIndex:    "out of range replacement index",
	translate:   translatePCRE,
}

const (
	reMatch = iota
	reIf
	reEndif
)

type reRule struct {
	op          int
	first       *regexp.Regexp
	firstMatch  bool
	second      *regexp.Regexp
	secondMatch bool
	replacement string
	maxSub      int
	end         int
	lineno      int
}

// reTable is a regexp: or pcre: table: the first matching rule wins.
type reTable struct {
	fl    *flavor
	name  string
	rules []reRule
}

func (t *reTable) Type() string { return t.fl.typ }
func (t *reTable) Name() string { return t.name }
func (t *reTable) Flags() Flags { return Pattern }

// Lookup returns the replacement text of the first rule that matches key,
// with $n substituted.
func (t *reTable) Lookup(key string) (string, bool, error) {
	for i := 0; i < len(t.rules); i++ {
		r := &t.rules[i]
		switch r.op {
		case reMatch:
			var sub []int
			if r.maxSub > 0 {
				sub = r.first.FindStringSubmatchIndex(key)
				if (sub != nil) != r.firstMatch {
					continue
				}
			} else if r.first.MatchString(key) != r.firstMatch {
				continue
			}
			if r.second != nil && r.second.MatchString(key) != r.secondMatch {
				continue
			}
			if r.maxSub == 0 {
				return r.replacement, true, nil
			}
			return expandReplacement(r.replacement, key, sub), true, nil
		case reIf:
			if r.first.MatchString(key) == r.firstMatch {
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

// expandReplacement substitutes $n, ${n} and $(n) with submatches; $$ is $.
func expandReplacement(repl, key string, sub []int) string {
	var b strings.Builder
	macParse(repl, func(isName bool, s string) bool {
		if !isName {
			b.WriteString(s)
			return true
		}
		n, _ := strconv.Atoi(s)
		if 2*n+1 < len(sub) && sub[2*n] >= 0 {
			b.WriteString(key[sub[2*n]:sub[2*n+1]])
		}
		return true
	}, nil)
	return b.String()
}

// macParse splits text like Postfix's mac_parse: literal runs (with $$
// turned into $) and $name, ${name} or $(name) references. action returns
// false to flag an error. warn gets mac_parse's own warnings. It reports
// whether parsing succeeded.
func macParse(s string, action func(isName bool, text string) bool, warn func(string)) bool {
	ok := true
	var lit strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			lit.WriteByte(s[i])
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			lit.WriteByte('$')
			i += 2
			continue
		}
		if lit.Len() > 0 {
			ok = action(false, lit.String()) && ok
			lit.Reset()
		}
		i++
		var name string
		if i < len(s) && (s[i] == '{' || s[i] == '(') {
			open, closer := s[i], byte('}')
			if open == '(' {
				closer = ')'
			}
			level := 1
			j := i + 1
			for ; level > 0; j++ {
				if j >= len(s) {
					if warn != nil {
						warn(fmt.Sprintf("truncated macro reference: \"%s\"", s))
					}
					return false
				}
				if s[j] == open {
					level++
				}
				if s[j] == closer {
					level--
				}
			}
			name = s[i+1 : j-1]
			i = j
		} else {
			j := i
			for j < len(s) && (isAlnum(s[j]) || s[j] == '_') {
				j++
			}
			name = s[i:j]
			i = j
		}
		if name == "" {
			if warn != nil {
				warn(fmt.Sprintf("empty macro name: \"%s\"", s))
			}
			return false
		}
		ok = action(true, name) && ok
	}
	if lit.Len() > 0 && ok {
		ok = action(false, lit.String()) && ok
	}
	return ok
}

// getPattern parses "[!...]/regexp/flags" at the start of p.
func (fl *flavor) getPattern(r *Registry, name string, lineno int, p string) (re string, o reOpts, match bool, rest string, ok bool) {
	p, match = skipNegation(p)
	if p == "" {
		r.warnf("%s map %s, line %d: no regexp: skipping this rule", fl.typ, name, lineno)
		return "", o, false, "", false
	}
	delim := p[0]
	p = p[1:]
	i := 0
	for i < len(p) {
		if p[i] == '\\' {
			if i+1 < len(p) {
				i++
			} else {
				break
			}
		} else if p[i] == delim {
			break
		}
		i++
	}
	// A regexp table takes a trailing backslash for the closing
	// delimiter (a quirk of Postfix's parser); a pcre table does not.
	if i >= len(p) || (fl.typ == "pcre" && p[i] != delim) {
		r.warnf("%s map %s, line %d: no closing regexp delimiter \"%c\": %s", fl.typ, name, lineno, delim, fl.noDelimiter)
		return "", o, false, "", false
	}
	re, p = p[:i], p[i+1:]
	o = fl.defaultOpts
	for p != "" && !isSpace(p[0]) && !(fl.secondPattern && p[0] == '!') {
		if !fl.option(&o, p[0]) {
			r.warnf("%s map %s, line %d: unknown regexp option \"%c\": skipping this rule", fl.typ, name, lineno, p[0])
			return "", o, false, "", false
		}
		if fl.typ == "pcre" && p[0] == 'X' {
			r.warnf("pcre map %s, line %d: ignoring obsolete regexp option \"X\"", name, lineno)
		}
		p = p[1:]
	}
	return re, o, match, p, true
}

func (fl *flavor) compile(r *Registry, name string, lineno int, re string, o reOpts) *regexp.Regexp {
	expr, err := fl.translate(re, o)
	var c *regexp.Regexp
	if err == nil {
		c, err = regexp.Compile(expr)
	}
	if err != nil {
		if fl.typ == "pcre" {
			r.warnf("pcre map %s, line %d: error in regex at offset %d: %s", name, lineno, errorOffset(re, err), pcreErrorText(err))
		} else {
			r.warnf("regexp map %s, line %d: %s", name, lineno, reErrorText(err))
		}
		return nil
	}
	if fl.typ == "regexp" {
		c.Longest()
	}
	return c
}

func (fl *flavor) parseRule(r *Registry, name string, lineno int, p string, nesting int) (reRule, bool) {
	var rule reRule
	rule.lineno = lineno
	switch {
	case p != "" && !isAlnum(p[0]):
		re, o, match, rest, ok := fl.getPattern(r, name, lineno, p)
		if !ok {
			return rule, false
		}
		var re2 string
		var o2 reOpts
		match2 := true
		hasSecond := false
		if fl.secondPattern && strings.HasPrefix(rest, "!") {
			re2, o2, match2, rest, ok = fl.getPattern(r, name, lineno, rest)
			if !ok {
				return rule, false
			}
			hasSecond = true
		}
		rest = strings.TrimLeft(rest, " \t\r\n\v\f")
		if rest == "" {
			r.warnf("%s map %s, line %d: no replacement text: using empty string", fl.typ, name, lineno)
		}
		maxSub := 0
		var literal string
		ok = macParse(rest, func(isName bool, s string) bool {
			if !isName {
				if maxSub == 0 {
					literal = s
				}
				return true
			}
			literal = ""
			if !allDigits(s) {
				r.warnf("%s map %s, line %d: non-numeric replacement index \"%s\"", fl.typ, name, lineno, s)
				return false
			}
			n := int(atoi(s))
			if n < 1 {
				r.warnf("%s map %s, line %d: %s \"%s\"", fl.typ, name, lineno, fl.badIndex, s)
				return false
			}
			maxSub = max(maxSub, n)
			return true
		}, r.Warn)
		if !ok {
			r.warnf("%s map %s, line %d: bad replacement syntax: skipping this rule", fl.typ, name, lineno)
			return rule, false
		}
		if maxSub > 0 && !match {
			r.warnf("%s map %s, line %d: $number found in negative match replacement text: skipping this rule", fl.typ, name, lineno)
			return rule, false
		}
		first := fl.compile(r, name, lineno, re, o)
		if first == nil {
			return rule, false
		}
		if maxSub > first.NumSubexp() {
			r.warnf("%s map %s, line %d: out of range replacement index \"%d\": skipping this rule", fl.typ, name, lineno, maxSub)
			return rule, false
		}
		rule.op, rule.first, rule.firstMatch, rule.maxSub = reMatch, first, match, maxSub
		if hasSecond {
			if rule.second = fl.compile(r, name, lineno, re2, o2); rule.second == nil {
				return rule, false
			}
			rule.secondMatch = match2
		}
		rule.replacement = rest
		if maxSub == 0 {
			rule.replacement = literal
		}
		return rule, true
	case hasKeyword(p, "IF"):
		p = strings.TrimLeft(p[2:], " \t\r\n\v\f")
		re, o, match, rest, ok := fl.getPattern(r, name, lineno, p)
		if !ok {
			return rule, false
		}
		if rest = strings.TrimLeft(rest, " \t\r\n\v\f"); rest != "" {
			r.warnf("%s map %s, line %d: ignoring extra text after IF statement: \"%s\"", fl.typ, name, lineno, rest)
			r.warnf("%s map %s, line %d: do not prepend whitespace to statements between IF and ENDIF", fl.typ, name, lineno)
		}
		c := fl.compile(r, name, lineno, re, o)
		if c == nil {
			return rule, false
		}
		rule.op, rule.first, rule.firstMatch, rule.end = reIf, c, match, -1
		return rule, true
	case hasKeyword(p, "ENDIF"):
		if nesting == 0 {
			r.warnf("%s map %s, line %d: ignoring ENDIF without matching IF", fl.typ, name, lineno)
			return rule, false
		}
		if strings.TrimLeft(p[5:], " \t\r\n\v\f") != "" {
			r.warnf("%s map %s, line %d: ignoring extra text after ENDIF", fl.typ, name, lineno)
		}
		rule.op = reEndif
		return rule, true
	}
	r.warnf("%s map %s, line %d: ignoring unrecognized request", fl.typ, name, lineno)
	return rule, false
}

func (fl *flavor) open(r *Registry, name string) (Table, error) {
	src, err := openSource(fl.typ, name)
	if err != nil {
		return nil, err
	}
	return fl.parse(r, name, src), nil
}

func (fl *flavor) parse(r *Registry, name string, src []byte) *reTable {
	t := &reTable{fl: fl, name: name}
	var stack []int
	for _, ll := range readLogicalLines(r, name, src) {
		p := strings.TrimRight(ll.text, " \t\r\n\v\f")
		if p == "" {
			continue
		}
		rule, ok := fl.parseRule(r, name, ll.lineno, p, len(stack))
		if !ok {
			continue
		}
		switch rule.op {
		case reIf:
			stack = append(stack, len(t.rules))
		case reEndif:
			t.rules[stack[len(stack)-1]].end = len(t.rules)
			stack = stack[:len(stack)-1]
		}
		t.rules = append(t.rules, rule)
	}
	for i := len(stack) - 1; i >= 0; i-- {
		r.warnf("%s map %s, line %d: IF has no matching ENDIF", fl.typ, name, t.rules[stack[i]].lineno)
	}
	return t
}

func openRegexp(r *Registry, name string) (Table, error) { return regexpFlavor.open(r, name) }
func openPCRE(r *Registry, name string) (Table, error)   { return pcreFlavor.open(r, name) }
