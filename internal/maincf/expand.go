package maincf

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// LookupMode tells a lookup function how the expander uses a name: as a
// value ($name, ${name}) or only as a test (${name?...}, ${name:...}).
type LookupMode int

const (
	// LookupUse is a reference whose value is inserted.
	LookupUse LookupMode = iota
	// LookupTest is a reference that only tests for a non-empty value.
	LookupTest
)

// MacroError is the error of an expansion that met a syntax error or a
// reference loop. Postfix prints each warning, then the fatal
// "macro processing error" (postconf) or
// "dictionary mail_dict: macro processing error" (daemons).
type MacroError struct {
	Warnings []string // the warnings, in Postfix's words, in order
	Dict     string   // dictionary name for the daemon wording ("" for postconf's)
}

// Error returns the fatal text: "macro processing error", or
// "dictionary DICT: macro processing error" when Dict is set.
func (e *MacroError) Error() string {
	if e.Dict != "" {
		return "dictionary " + e.Dict + ": macro processing error"
	}
	return "macro processing error"
}

// Expander expands $name references with Postfix's syntax and semantics:
// $name, ${name}, $(name), $$, ${name?text}, ${name:text},
// ${name?{a}:{b}}, relational ${{a} OP {b}...} with == != < <= >= > and
// the compatibility-level operators ==level !=level <level <=level >level
// >=level.
type Expander struct {
	// Lookup returns the raw value of a parameter; ok is false when it is
	// undefined (which expands to nothing, without error).
	Lookup func(name string, mode LookupMode) (value string, ok bool)
	// Warn receives each syntax warning as it happens (nil = none; they are
	// also returned in the MacroError).
	Warn func(text string)
	// Once disables recursive expansion of looked-up values.
	Once bool
	// Scan parses every branch and calls Lookup for every reference without
	// producing output (postconf's reference scan).
	Scan bool
}

// Status bits of one expansion, like Postfix's MAC_PARSE_ERROR and
// MAC_PARSE_UNDEF.
const (
	statusError = 1 << iota
	statusUndef
)

// maxNesting is the depth at which Postfix declares a reference loop.
const maxNesting = 100

type expandState struct {
	e        *Expander
	warnings []string
	fatal    error
	relDepth int // nesting of relational operand expansions (Postfix has no limit here and crashes)
}

type expandCtx struct {
	st     *expandState
	result []byte
	status int
	level  int
}

// Expand expands value with lookup (recursively) and returns the result.
// The error is a *MacroError for syntax errors and loops, or a plain error
// for Postfix's fatal "mac_exp_eval: bad conversion: N".
func Expand(value string, lookup func(name string) (string, bool)) (string, error) {
	e := Expander{Lookup: func(name string, _ LookupMode) (string, bool) { return lookup(name) }}
	return e.Expand(value)
}

// Expand expands value; see Expander.
func (e *Expander) Expand(value string) (string, error) {
	out, _, err := e.ExpandStatus(value)
	return out, err
}

// ExpandStatus is Expand that also reports whether some $name reference in
// a place where its value was needed was undefined.
func (e *Expander) ExpandStatus(value string) (result string, undefined bool, err error) {
	st := &expandState{e: e}
	out, status := st.expand(value)
	if st.fatal != nil {
		return "", false, st.fatal
	}
	if status&statusError != 0 {
		return "", status&statusUndef != 0, &MacroError{Warnings: st.warnings}
	}
	return out, status&statusUndef != 0, nil
}

func (st *expandState) expand(value string) (string, int) {
	c := &expandCtx{st: st}
	status := c.parse(cString(value))
	return string(c.result), status
}

func (st *expandState) warn(format string, args ...any) {
	text := Printable(fmt.Sprintf(format, args...))
	st.warnings = append(st.warnings, text)
	if st.e.Warn != nil {
		st.e.Warn(text)
	}
}

func (c *expandCtx) parseError(format string, args ...any) int {
	c.st.warn(format, args...)
	c.status |= statusError
	return c.status
}

const (
	tokLiteral = iota
	tokExpr
)

// parse splits value into literal text and macro expressions and hands
// them to the callback, like Postfix's mac_parse().
func (c *expandCtx) parse(value string) int {
	var buf []byte
	status := 0
	vp := 0
	for vp < len(value) {
		if c.st.fatal != nil {
			return status | statusError
		}
		switch {
		case value[vp] != '$':
			buf = append(buf, value[vp])
			vp++
		case vp+1 < len(value) && value[vp+1] == '$':
			buf = append(buf, '$')
			vp += 2
		default:
			if len(buf) > 0 {
				status |= c.callback(tokLiteral, string(buf))
				buf = buf[:0]
			}
			vp++
			if vp < len(value) && (value[vp] == '{' || value[vp] == '(') {
				open, close := value[vp], byte('}')
				if open == '(' {
					close = ')'
				}
				vp++
				level := 1
				ep := vp
				for level > 0 {
					if ep == len(value) {
						c.st.warn("truncated macro reference: \"%s\"", value)
						return status | statusError
					}
					if value[ep] == open {
						level++
					}
					if value[ep] == close {
						level--
					}
					ep++
				}
				buf = append(buf, value[vp:ep-1]...)
				vp = ep
			} else {
				ep := vp
				for ep < len(value) && (isAlnum(value[ep]) || value[ep] == '_') {
					ep++
				}
				buf = append(buf, value[vp:ep]...)
				vp = ep
			}
			if len(buf) == 0 {
				c.st.warn("empty macro name: \"%s\"", value)
				return status | statusError
			}
			status |= c.callback(tokExpr, string(buf))
			buf = buf[:0]
		}
	}
	if len(buf) > 0 && status&statusError == 0 {
		status |= c.callback(tokLiteral, string(buf))
	}
	return status
}

// spanSpace returns the number of leading white-space bytes of s.
func spanSpace(s string) int {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n' || s[i] == '\v' || s[i] == '\f') {
		i++
	}
	return i
}

// max20 returns at most the first 20 bytes of s (C's "%.20s").
func max20(s string) string {
	if len(s) > 20 {
		return s[:20]
	}
	return s
}

// findLeftCurly reports whether buf[*pos:] starts, after white space, with
// '{'; if so *pos is moved to the brace.
func findLeftCurly(buf string, pos *int) bool {
	n := spanSpace(buf[*pos:])
	if *pos+n < len(buf) && buf[*pos+n] == '{' {
		*pos += n
		return true
	}
	return false
}

// curlyPayload extracts the text of the balanced {...} at buf[*pos] and
// moves *pos past the closing brace and the white space after it.
func (c *expandCtx) curlyPayload(buf string, pos *int) (string, bool) {
	level := 1
	start := *pos + 1
	for i := start; ; i++ {
		if i >= len(buf) {
			c.parseError("unbalanced {} in attribute expression: \"%s\"", buf[*pos:])
			return "", false
		}
		switch buf[i] {
		case '{':
			level++
		case '}':
			level--
			if level <= 0 {
				payload := buf[start:i]
				i++
				*pos = i + spanSpace(buf[i:])
				return payload, true
			}
		}
	}
}

// relational operator tokens
const (
	opNone = iota
	opEQ
	opNE
	opLT
	opLE
	opGE
	opGT
)

var opTable = map[string]int{"==": opEQ, "!=": opNE, "<": opLT, "<=": opLE, ">=": opGE, ">": opGT}

const opAny = `"==" or "!="" or "<"" or "<="" or ">="" or ">"`

// relResult returns the truth of delta OP 0.
func relResult(op int, delta int) bool {
	switch op {
	case opEQ:
		return delta == 0
	case opNE:
		return delta != 0
	case opLT:
		return delta < 0
	case opLE:
		return delta <= 0
	case opGE:
		return delta >= 0
	default:
		return delta > 0
	}
}

// allDigits reports whether s is a non-empty run of ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// compare evaluates the plain relational operators: numerically when both
// sides are all digits, else with strcmp.
func (st *expandState) compare(left string, op int, right string) bool {
	if allDigits(left) && allDigits(right) {
		l, err := strconv.ParseInt(left, 10, 64)
		if err != nil {
			st.fatal = fmt.Errorf("mac_exp_eval: bad conversion: %s", left)
			return false
		}
		r, err := strconv.ParseInt(right, 10, 64)
		if err != nil {
			st.fatal = fmt.Errorf("mac_exp_eval: bad conversion: %s", right)
			return false
		}
		return relResult(op, cmpInt64(l, r))
	}
	return relResult(op, strings.Compare(left, right))
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// callback handles one token of mac_parse, like Postfix's
// mac_expand_callback().
func (c *expandCtx) callback(typ int, buf string) int {
	if c.st.fatal != nil {
		c.status |= statusError
		return c.status
	}
	old := c.level
	c.level++
	if old > maxNesting {
		c.parseError("unreasonable macro call nesting: \"%s\"", buf)
	}
	if c.status&statusError != 0 {
		return c.status
	}
	e := c.st.e
	if typ == tokLiteral {
		if !e.Scan {
			c.result = append(c.result, buf...)
		}
		c.level--
		return c.status
	}

	pos := 0
	var lookup string
	var defined bool
	var ch byte
	if findLeftCurly(buf, &pos) {
		var ok bool
		lookup, defined, ok = c.relational(buf, &pos)
		if !ok {
			return c.status
		}
		if pos < len(buf) {
			ch = buf[pos]
			if ch != '?' && ch != ':' {
				return c.parseError("\"?\" or \":\" expected at: \"...}>>>%s\"", max20(buf[pos:]))
			}
			pos++
		}
	} else {
		pos = spanSpace(buf)
		start := pos
		mode := LookupUse
		var name string
		for {
			n := spanSpace(buf[pos:])
			if pos+n == len(buf) {
				name = buf[start:pos]
				ch = 0
				break
			}
			if buf[pos+n] == '?' || buf[pos+n] == ':' {
				ch = buf[pos+n]
				name = buf[start:pos]
				pos += n + 1
				mode = LookupTest
				break
			}
			if b := buf[pos]; !isAlnum(b) && b != '_' {
				return c.parseError("attribute name syntax error at: \"...%s>>>%s\"", buf[:pos], max20(buf[pos:]))
			}
			pos++
		}
		if e.Lookup != nil {
			lookup, defined = e.Lookup(name, mode)
		}
	}

	switch ch {
	case '?':
		var iftrue string
		if findLeftCurly(buf, &pos) {
			var ok bool
			if iftrue, ok = c.curlyPayload(buf, &pos); !ok {
				return c.status
			}
		} else {
			iftrue = buf[pos:]
			pos = len(buf)
		}
		if (defined && lookup != "") || e.Scan {
			c.status |= c.parse(iftrue)
		}
		if pos == len(buf) {
			break
		}
		if buf[pos] != ':' {
			return c.parseError("\":\" expected at: \"...%s}>>>%s\"", iftrue, max20(buf[pos:]))
		}
		pos++
		fallthrough
	case ':':
		var iffalse string
		if findLeftCurly(buf, &pos) {
			var ok bool
			if iffalse, ok = c.curlyPayload(buf, &pos); !ok {
				return c.status
			}
		} else {
			iffalse = buf[pos:]
			pos = len(buf)
		}
		if !defined || lookup == "" || e.Scan {
			c.status |= c.parse(iffalse)
		}
		if pos != len(buf) {
			return c.parseError("unexpected input at: \"...%s}>>>%s\"", iffalse, max20(buf[pos:]))
		}
	default:
		switch {
		case !defined:
			c.status |= statusUndef
		case lookup == "" || e.Scan:
		case !e.Once:
			c.status |= c.parse(cString(lookup))
		default:
			c.result = append(c.result, cString(lookup)...)
		}
	}
	c.level--
	return c.status
}

// relational parses and evaluates "{A} OP {B}" at buf[*pos]. It returns
// the fake lookup result ("true" or "") and whether it is defined (it is
// not, in scan mode).
func (c *expandCtx) relational(buf string, pos *int) (string, bool, bool) {
	left, ok := c.curlyPayload(buf, pos)
	if !ok {
		return "", false, false
	}
	opPos := *pos
	opLen := 0
	for opPos+opLen < len(buf) && strings.IndexByte("<>!=?+-*/~&|%", buf[opPos+opLen]) >= 0 {
		opLen++
	}
	op := opTable[buf[opPos:opPos+opLen]]
	if op == opNone {
		c.parseError("%s expected at: \"...%s}>>>%s\"", opAny, left, max20(buf[opPos:]))
		return "", false, false
	}
	*pos += opLen
	level := false
	if *pos < len(buf) && isAlnum(buf[*pos]) {
		typeLen := 0
		for *pos+typeLen < len(buf) && isAlnum(buf[*pos+typeLen]) {
			typeLen++
		}
		suffix := buf[*pos : *pos+typeLen]
		*pos += typeLen
		if suffix != "level" {
			c.parseError("bad operator suffix at: \"...%s>>>%s\"", buf[opPos:opPos+opLen], suffix)
			return "", false, false
		}
		level = true
	}
	if !findLeftCurly(buf, pos) {
		c.parseError("\"{expression}\" expected at: \"...{%s} %s>>>%s\"", left, buf[opPos:opPos+opLen], max20(buf[*pos:]))
		return "", false, false
	}
	right, ok := c.curlyPayload(buf, pos)
	if !ok {
		return "", false, false
	}

	st := c.st
	if st.relDepth > maxNesting {
		// Postfix recurses without limit here and crashes; report a loop.
		c.parseError("unreasonable macro call nesting: \"%s\"", buf)
		return "", false, false
	}
	st.relDepth++
	lval, lstatus := st.expand(left)
	rval, rstatus := st.expand(right)
	st.relDepth--
	c.status |= lstatus | rstatus
	if st.fatal != nil {
		c.status |= statusError
		return "", false, false
	}
	var result bool
	if !st.e.Scan {
		if level {
			l, lerr := ParseCompatLevel(lval)
			r, rerr := int64(0), error(nil)
			if lerr == nil {
				r, rerr = ParseCompatLevel(rval)
			}
			switch {
			case lerr != nil:
				st.warn("%s", lerr.Error())
				c.status |= statusError
			case rerr != nil:
				st.warn("%s", rerr.Error())
				c.status |= statusError
			default:
				result = relResult(op, cmpInt64(l, r))
			}
		} else {
			result = st.compare(lval, op, rval)
			if st.fatal != nil {
				c.status |= statusError
			}
		}
	}
	if c.status&statusError != 0 {
		return "", false, false
	}
	if st.e.Scan {
		return "", false, true
	}
	if result {
		return "true", true, true
	}
	return "", true, true
}

// Compatibility level encoding: major, minor and patch in bit fields, as
// Postfix compares them.
const (
	compatPatchWidth = 10
	compatMinorWidth = 10
	compatMinorShift = compatPatchWidth
	compatMajorShift = compatMinorShift + compatMinorWidth
	compatMaxMinor   = 1<<compatMinorWidth - 1
	compatMaxPatch   = 1<<compatPatchWidth - 1
)

// CStrtol parses a base-10 integer like C's strtol(): leading white space
// and a sign are accepted; it returns the value, the number of bytes used
// (0 when there were no digits) and whether the value overflowed 64 bits.
func CStrtol(s string) (val int64, n int, overflow bool) {
	i := spanSpace(s)
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var u uint64
	for i < len(s) && isDigit(s[i]) {
		d := uint64(s[i] - '0')
		if u > (1<<63)/10 || u*10 > 1<<63-d {
			overflow = true
		} else {
			u = u*10 + d
		}
		i++
	}
	if i == start {
		return 0, 0, false
	}
	switch {
	case overflow:
		if neg {
			return -1 << 63, i, true
		}
		return 1<<63 - 1, i, true
	case neg:
		return -int64(u), i, false
	case u > 1<<63-1:
		return 1<<63 - 1, i, true
	}
	return int64(u), i, false
}

// ParseCompatLevel converts a compatibility level such as "2", "3.6" or
// "3.6.1" into a number that compares like the level. The error text is
// Postfix's "malformed compatibility level syntax: \"S\"".
func ParseCompatLevel(s string) (int64, error) {
	bad := errors.New(Printable(fmt.Sprintf("malformed compatibility level syntax: \"%s\"", s)))
	major, n, of := CStrtol(s)
	if n == 0 || of || major < 0 || major > (1<<63-1)>>compatMajorShift {
		return -1, bad
	}
	rest := s[n:]
	res := major << compatMajorShift
	if rest == "" {
		return res, nil
	}
	if rest[0] != '.' {
		return -1, bad
	}
	rest = rest[1:]
	minor, n, of := CStrtol(rest)
	if n == 0 || of || minor < 0 || minor > compatMaxMinor {
		return -1, bad
	}
	res |= minor << compatMinorShift
	rest = rest[n:]
	if rest == "" {
		return res, nil
	}
	if rest[0] != '.' {
		return -1, bad
	}
	rest = rest[1:]
	patch, n, of := CStrtol(rest)
	if n == 0 || of || patch < 0 || patch > compatMaxPatch || n != len(rest) {
		return -1, bad
	}
	return res | patch, nil
}
