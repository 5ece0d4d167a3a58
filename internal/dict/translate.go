package dict

import (
	"errors"
	"regexp/syntax"
	"strings"
)

// errBackref is reported for back references, which Go's regexp engine
// (RE2 syntax) does not support.
var errBackref = &syntax.Error{Code: "invalid back reference", Expr: ""}

func backrefError(expr string) error { return &syntax.Error{Code: errBackref.Code, Expr: expr} }

// translatePOSIX turns a POSIX regular expression, as glibc's regcomp(3)
// accepts it for Postfix regexp tables, into Go syntax. ERE is the
// default; o.extended false selects BRE. Case folding and REG_NEWLINE
// become Go flags.
func translatePOSIX(re string, o reOpts) (string, error) {
	var b strings.Builder
	switch {
	case o.icase && !o.newline:
		b.WriteString("(?is)")
	case o.icase:
		b.WriteString("(?im)")
	case !o.newline:
		b.WriteString("(?s)")
	default:
		b.WriteString("(?m)")
	}
	bre := !o.extended
	depth := 0
	atStart := true // where '*' is literal in BRE and '^' is an anchor
	for i := 0; i < len(re); i++ {
		c := re[i]
		start := atStart
		atStart = false
		switch {
		case c == '[':
			j, err := copyBracket(&b, re, i)
			if err != nil {
				return "", err
			}
			i = j
		case c == '\\':
			if i+1 >= len(re) {
				return "", &syntax.Error{Code: syntax.ErrTrailingBackslash, Expr: ""}
			}
			i++
			d := re[i]
			switch {
			case bre && d == '(':
				b.WriteByte('(')
				depth++
				atStart = true
			case bre && d == ')':
				if depth == 0 {
					return "", &syntax.Error{Code: syntax.ErrUnexpectedParen, Expr: re}
				}
				depth--
				b.WriteByte(')')
			case bre && (d == '{' || d == '}' || d == '|' || d == '+' || d == '?'):
				b.WriteByte(d)
				if d == '|' {
					atStart = true
				}
			case d >= '1' && d <= '9':
				return "", backrefError(re[:i+1])
			case d == '<' || d == '>':
				b.WriteString(`\b`)
			case d == '`':
				b.WriteString(`\A`)
			case d == '\'':
				b.WriteString(`\z`)
			case d == 'w' || d == 'W' || d == 's' || d == 'S' || d == 'b' || d == 'B':
				b.WriteByte('\\')
				b.WriteByte(d)
			default:
				writeLiteral(&b, d)
			}
		case bre && (c == '(' || c == ')' || c == '{' || c == '}' || c == '|' || c == '+' || c == '?'):
			writeLiteral(&b, c)
		case bre && c == '*' && start:
			writeLiteral(&b, c)
		case bre && c == '^' && !start:
			writeLiteral(&b, c)
		case bre && c == '$' && !(i == len(re)-1 || strings.HasPrefix(re[i+1:], `\)`)):
			writeLiteral(&b, c)
		case !bre && c == '(':
			depth++
			b.WriteByte(c)
			atStart = true
		case !bre && c == ')' && depth == 0:
			b.WriteString(`\)`)
		case !bre && c == ')':
			depth--
			b.WriteByte(c)
		case c == '^':
			b.WriteByte(c)
			atStart = true
		case !bre && c == '|':
			b.WriteByte(c)
			atStart = true
		default:
			b.WriteByte(c)
		}
	}
	if depth > 0 {
		return "", &syntax.Error{Code: syntax.ErrMissingParen, Expr: re}
	}
	return b.String(), nil
}

func writeLiteral(b *strings.Builder, c byte) {
	if strings.IndexByte(`\.+*?()|[]{}^$`, c) >= 0 {
		b.WriteByte('\\')
	}
	b.WriteByte(c)
}

// copyBracket copies the POSIX bracket expression starting at re[i] ('[')
// to b, quoting backslashes (literal inside POSIX brackets), and returns
// the index of its closing ']'.
func copyBracket(b *strings.Builder, re string, i int) (int, error) {
	b.WriteByte('[')
	j := i + 1
	if j < len(re) && re[j] == '^' {
		b.WriteByte('^')
		j++
	}
	if j < len(re) && re[j] == ']' {
		b.WriteString(`\]`)
		j++
	}
	for ; j < len(re); j++ {
		c := re[j]
		switch {
		case c == ']':
			b.WriteByte(']')
			return j, nil
		case c == '[' && j+1 < len(re) && (re[j+1] == ':' || re[j+1] == '=' || re[j+1] == '.'):
			kind := re[j+1]
			end := strings.Index(re[j+2:], string(kind)+"]")
			if end < 0 {
				return 0, &syntax.Error{Code: syntax.ErrMissingBracket, Expr: re[i:]}
			}
			inner := re[j+2 : j+2+end]
			switch kind {
			case ':':
				b.WriteString("[:" + inner + ":]")
			default: // collating element or equivalence class: one character
				if len(inner) != 1 {
					return 0, &syntax.Error{Code: syntax.ErrInvalidCharRange, Expr: re[j:]}
				}
				writeClassLiteral(b, inner[0])
			}
			j += 2 + end + 1
		default:
			writeClassLiteral(b, c)
		}
	}
	return 0, &syntax.Error{Code: syntax.ErrMissingBracket, Expr: re[i:]}
}

func writeClassLiteral(b *strings.Builder, c byte) {
	if c == '\\' || c == '[' {
		b.WriteByte('\\')
	}
	b.WriteByte(c)
}

// translatePCRE adapts the common PCRE syntax to Go's: the pattern options
// become flags, the 'x' option drops white space and comments, '$' and \Z
// also match before a final newline (unless the 'E' option is given), and
// 'A' anchors the match. Back references, look-around assertions, atomic
// groups and possessive quantifiers are not supported and fail to
// compile.
func translatePCRE(re string, o reOpts) (string, error) {
	var b strings.Builder
	flags := ""
	if o.icase {
		flags += "i"
	}
	if o.multiline {
		flags += "m"
	}
	if o.dotall {
		flags += "s"
	}
	if o.ungreedy {
		flags += "U"
	}
	if flags != "" {
		b.WriteString("(?" + flags + ")")
	}
	if o.anchored {
		b.WriteString(`\A(?:`)
	}
	endDollar := `(?:\n?\z)`
	if o.multiline {
		endDollar = "$"
	} else if o.dollarEnd {
		endDollar = `\z`
	}
	inClass := false
	for i := 0; i < len(re); i++ {
		c := re[i]
		if c == '\\' {
			if i+1 >= len(re) {
				return "", &syntax.Error{Code: syntax.ErrTrailingBackslash, Expr: ""}
			}
			d := re[i+1]
			i++
			switch {
			case d >= '1' && d <= '9' && !inClass:
				return "", backrefError(re[:i+1])
			case d == 'Z' && !inClass:
				b.WriteString(`(?:\n?\z)`)
			case d == 'e':
				b.WriteString(`\x1b`)
			case d == 'h':
				if inClass {
					b.WriteString(`\t \x{a0}`)
				} else {
					b.WriteString(`[\t \x{a0}]`)
				}
			case d == 'Q':
				end := strings.Index(re[i+1:], `\E`)
				lit := re[i+1:]
				if end >= 0 {
					lit = re[i+1 : i+1+end]
					i += 1 + end + 1
				} else {
					i = len(re)
				}
				for k := 0; k < len(lit); k++ {
					if inClass {
						writeClassLiteral(&b, lit[k])
					} else {
						writeLiteral(&b, lit[k])
					}
				}
			case d == 'E':
			default:
				b.WriteByte('\\')
				b.WriteByte(d)
			}
			continue
		}
		if inClass {
			if c == ']' {
				inClass = false
			}
			if c == '[' && i+1 < len(re) && re[i+1] == ':' {
				end := strings.Index(re[i:], ":]")
				if end > 0 {
					b.WriteString(re[i : i+end+2])
					i += end + 1
					continue
				}
			}
			b.WriteByte(c)
			continue
		}
		switch {
		case c == '[':
			inClass = true
			b.WriteByte(c)
			if i+1 < len(re) && re[i+1] == '^' {
				b.WriteByte('^')
				i++
			}
			if i+1 < len(re) && re[i+1] == ']' {
				b.WriteString(`\]`)
				i++
			}
		case o.extended && isSpace(c):
		case o.extended && c == '#':
			for i < len(re) && re[i] != '\n' {
				i++
			}
		case c == '$':
			b.WriteString(endDollar)
		case c == '(' && strings.HasPrefix(re[i:], "(?#"):
			end := strings.IndexByte(re[i:], ')')
			if end < 0 {
				return "", &syntax.Error{Code: syntax.ErrMissingParen, Expr: re[i:]}
			}
			i += end
		case c == '(' && (strings.HasPrefix(re[i:], "(?=") || strings.HasPrefix(re[i:], "(?!") ||
			strings.HasPrefix(re[i:], "(?<=") || strings.HasPrefix(re[i:], "(?<!") || strings.HasPrefix(re[i:], "(?>")):
			return "", &syntax.Error{Code: "lookaround and atomic groups are not supported", Expr: re[i:]}
		default:
			b.WriteByte(c)
		}
	}
	if o.anchored {
		b.WriteString(")")
	}
	return b.String(), nil
}

// reErrorText turns a compile error into glibc regerror(3)-style text
// where there is an equivalent.
func reErrorText(err error) string {
	var se *syntax.Error
	if !errors.As(err, &se) {
		return err.Error()
	}
	switch se.Code {
	case syntax.ErrMissingParen:
		return `Unmatched ( or \(`
	case syntax.ErrUnexpectedParen:
		return `Unmatched ) or \)`
	case syntax.ErrMissingBracket:
		return "Unmatched [, [^, [:, [., or [="
	case syntax.ErrInvalidCharRange:
		return "Invalid range end"
	case syntax.ErrTrailingBackslash:
		return "Trailing backslash"
	case syntax.ErrMissingRepeatArgument, syntax.ErrInvalidRepeatOp:
		return "Invalid preceding regular expression"
	case syntax.ErrInvalidRepeatSize:
		return `Invalid content of \{\}`
	case syntax.ErrInvalidCharClass:
		return "Invalid character class name"
	case syntax.ErrLarge, syntax.ErrNestingDepth:
		return "Regular expression too big"
	case errBackref.Code:
		return "Invalid back reference"
	}
	return string(se.Code)
}

// pcreErrorText turns a compile error into PCRE2-style text where there
// is an equivalent.
func pcreErrorText(err error) string {
	var se *syntax.Error
	if !errors.As(err, &se) {
		return err.Error()
	}
	switch se.Code {
	case syntax.ErrMissingParen:
		return "missing closing parenthesis"
	case syntax.ErrUnexpectedParen:
		return "unmatched closing parenthesis"
	case syntax.ErrMissingBracket:
		return "missing terminating ] for character class"
	case syntax.ErrInvalidCharRange:
		return "range out of order in character class"
	case syntax.ErrTrailingBackslash:
		return "\\ at end of pattern"
	case syntax.ErrMissingRepeatArgument:
		return "quantifier does not follow a repeatable item"
	case errBackref.Code:
		return "reference to non-existent subpattern"
	}
	return string(se.Code)
}

// errorOffset guesses where in re a compile error is, the way PCRE
// reports it: the end of the pattern for an unclosed group or class.
func errorOffset(re string, err error) int {
	var se *syntax.Error
	if !errors.As(err, &se) {
		return 0
	}
	switch se.Code {
	case syntax.ErrMissingParen, syntax.ErrMissingBracket, syntax.ErrTrailingBackslash:
		return len(re)
	case errBackref.Code:
		return len(se.Expr)
	}
	if se.Expr != "" {
		if i := strings.Index(re, se.Expr); i >= 0 {
			return i
		}
	}
	return 0
}
