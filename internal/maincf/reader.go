package maincf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/qmqpd-go/qmqpd/internal/syserr"
)

// LogicalLine is one logical line of a Postfix configuration file: a line
// that starts in column 0 with text, joined with the lines that continue it.
type LogicalLine struct {
	Text string // joined text: only newlines are dropped, leading whitespace of continuation lines is kept
	Line int    // number of the first physical line
}

// isSpace reports whether b is white space in the sense of the C library's
// isspace() in the C locale.
func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}

// isAlnum reports whether b is an ASCII letter or digit.
func isAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// isAlpha reports whether b is an ASCII letter.
func isAlpha(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// isDigit reports whether b is an ASCII digit.
func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// Printable returns s with every byte that is not printable ASCII replaced
// by '?', as Postfix does with the text of its warnings and fatal errors.
func Printable(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] < 0x20 || b[j] > 0x7e {
					b[j] = '?'
				}
			}
			return string(b)
		}
	}
	return s
}

// cString returns s up to its first NUL byte, the way a C program sees it.
func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// isCommentOrBlank reports whether a physical line is empty, all white
// space, or a comment (its first non-space character is '#').
func isCommentOrBlank(line []byte) bool {
	i := 0
	for i < len(line) && isSpace(line[i]) {
		i++
	}
	return i == len(line) || line[i] == '#'
}

// ReadLogicalLines splits data into logical lines with Postfix's rules:
// comment lines, blank lines and all-whitespace lines are skipped and do not
// end a logical line; a line that starts with white space continues the
// current logical line (its newline is dropped, its leading white space is
// kept). A logical line that would start with white space (text at the top of
// the file or after only comments) is dropped with the warning
// "PATH: logical line must not start with whitespace: ...", passed to warn.
func ReadLogicalLines(path string, data []byte, warn func(string)) []LogicalLine {
	var out []LogicalLine
	var buf []byte
	first := 0
	lineno := 0
	flush := func() {
		if len(buf) == 0 {
			return
		}
		if isSpace(buf[0]) {
			if warn != nil {
				cut := string(buf)
				more := ""
				if len(cut) > 30 {
					cut, more = cut[:30], "..."
				}
				warn(Printable(fmt.Sprintf("%s: logical line must not start with whitespace: \"%s%s\"", path, cString(cut), more)))
			}
		} else {
			out = append(out, LogicalLine{Text: string(buf), Line: first})
		}
		buf = buf[:0]
	}
	rest := data
	for len(rest) > 0 {
		var line []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			line, rest = rest, nil
		}
		lineno++
		if isCommentOrBlank(line) {
			continue
		}
		if len(buf) > 0 && !isSpace(line[0]) {
			flush()
		}
		if len(buf) == 0 {
			first = lineno
		}
		buf = append(buf, line...)
	}
	flush()
	return out
}

// Name/value syntax errors, in Postfix's words.
var (
	ErrMissingName  = errors.New("missing attribute name")
	ErrMissingEqual = errors.New("missing '=' after attribute name")
)

// SplitNameValue splits "name = value" the way Postfix does: the name runs
// from the first non-space character to the next white space or '='; white
// space around '=' is skipped and the value is trimmed at both ends. The
// error is ErrMissingName or ErrMissingEqual.
func SplitNameValue(s string) (name, value string, err error) {
	s = cString(s)
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i == len(s) || s[i] == '=' {
		return "", "", ErrMissingName
	}
	start := i
	for i < len(s) && !isSpace(s[i]) && s[i] != '=' {
		i++
	}
	name = s[start:i]
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i == len(s) || s[i] != '=' {
		return "", "", ErrMissingEqual
	}
	return name, trimSpace(s[i+1:]), nil
}

// trimSpace removes C white space at both ends of s.
func trimSpace(s string) string {
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

// Entry is one "name = value" definition of main.cf.
type Entry struct {
	Name  string
	Value string
	Line  int // first physical line of the definition
}

// ParseMainCF parses the contents of a main.cf file named path. It returns
// every definition in file order (duplicates included). The error is the
// fatal "PATH, line N: missing '=' after attribute name: \"TEXT\"" (or
// "missing attribute name") of Postfix. Warnings go to warn.
func ParseMainCF(path string, data []byte, warn func(string)) ([]Entry, error) {
	var out []Entry
	for _, ll := range ReadLogicalLines(path, data, warn) {
		name, value, err := SplitNameValue(ll.Text)
		if err != nil {
			return nil, errors.New(Printable(fmt.Sprintf("%s, line %d: %s: \"%s\"", path, ll.Line, err, cString(ll.Text))))
		}
		out = append(out, Entry{Name: name, Value: value, Line: ll.Line})
	}
	return out, nil
}

// Dict is a set of parameter settings: name to raw value, as Postfix's
// configuration dictionary holds them.
type Dict struct {
	values map[string]string
	lines  map[string]int
}

// NewDict returns an empty Dict.
func NewDict() *Dict {
	return &Dict{values: map[string]string{}, lines: map[string]int{}}
}

// Lookup returns the raw value of name.
func (d *Dict) Lookup(name string) (string, bool) {
	v, ok := d.values[name]
	return v, ok
}

// Line returns the main.cf line number where name was last defined, or 0
// when it did not come from a file.
func (d *Dict) Line(name string) int { return d.lines[name] }

// Set stores a raw value.
func (d *Dict) Set(name, value string) {
	d.values[name] = value
	delete(d.lines, name)
}

// Delete removes name.
func (d *Dict) Delete(name string) {
	delete(d.values, name)
	delete(d.lines, name)
}

// Len returns the number of names in d.
func (d *Dict) Len() int { return len(d.values) }

// Names returns the names in d sorted as strcmp sorts them.
func (d *Dict) Names() []string {
	names := make([]string, 0, len(d.values))
	for n := range d.values {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Load adds the definitions of a main.cf file's contents to d, in order,
// the way Postfix loads main.cf into its dictionary: a later definition wins
// and, when it changes the value already in d, warn receives
// "PATH, line N: overriding earlier entry: NAME=OLDVALUE".
func (d *Dict) Load(path string, data []byte, warn func(string)) error {
	entries, err := ParseMainCF(path, data, warn)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if old, ok := d.values[e.Name]; ok && old != e.Value && warn != nil {
			warn(Printable(fmt.Sprintf("%s, line %d: overriding earlier entry: %s=%s", path, e.Line, e.Name, old)))
		}
		d.values[e.Name] = e.Value
		d.lines[e.Name] = e.Line
	}
	return nil
}

// LoadFile reads the main.cf file at path into d (see Load). A file that
// cannot be opened gives Postfix's "open PATH: REASON".
func (d *Dict) LoadFile(path string, warn func(string)) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return errors.New(Printable(fmt.Sprintf("open %s: %s", path, syserr.Text(err))))
	}
	return d.Load(path, data, warn)
}

// ReadMainCF reads the main.cf at path into a new Dict.
func ReadMainCF(path string, warn func(string)) (*Dict, error) {
	d := NewDict()
	if err := d.LoadFile(path, warn); err != nil {
		return nil, err
	}
	return d, nil
}
