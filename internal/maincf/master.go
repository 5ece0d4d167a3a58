package maincf

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/qmqpd-go/qmqpd/internal/syserr"
)

// MasterEntry is one service entry of master.cf, as postconf sees it.
type MasterEntry struct {
	// The eight fixed fields as written ("-" is kept).
	Service, Type, Private, Unpriv, Chroot, Wakeup, MaxProc string
	// Command is the command name (the 8th field) as written.
	Command string
	// Args are the command's arguments, normalised as postconf does:
	// "-vo x=y" becomes "-v" "-o" "x=y", "-ox=y" becomes "-o" "x=y",
	// "-o { x = y }" becomes "-o" "x=y", and other "{ text }" arguments
	// lose their braces and the white space just inside them.
	Args []string
	// Line is the first physical line of the entry (0 when not from a file).
	Line int
	// Text is the logical line the entry was parsed from.
	Text string
}

// MasterFieldNames are postconf's names of the eight master.cf fields, in
// order.
var MasterFieldNames = [8]string{"service", "type", "private", "unprivileged", "chroot", "wakeup", "process_limit", "command"}

// MasterTypes are the valid master.cf service types.
var MasterTypes = []string{"unix", "fifo", "inet", "pass", "unix-dgram"}

// masterBlanks separate master.cf fields.
const masterBlanks = " \t\r\n"

// Fields returns the eight fixed fields (the command without arguments).
func (e *MasterEntry) Fields() [8]string {
	return [8]string{e.Service, e.Type, e.Private, e.Unpriv, e.Chroot, e.Wakeup, e.MaxProc, e.Command}
}

// Argv returns the eight fields followed by the arguments.
func (e *MasterEntry) Argv() []string {
	f := e.Fields()
	return append(f[:], e.Args...)
}

// Name returns "service/type", the name postconf uses for the entry.
func (e *MasterEntry) Name() string { return e.Service + "/" + e.Type }

// ProcessName is the read-only process_name of the entry's daemon: the
// base name of the command.
func (e *MasterEntry) ProcessName() string { return path.Base(e.Command) }

// ServiceName is the read-only service_name of the entry's daemon: the
// service field (which is also the process name when they are equal).
func (e *MasterEntry) ServiceName() string { return e.Service }

// Option is one "-o name=value" of a master.cf entry.
type Option struct {
	Name, Value string
	Index       int // index in Args of the "name=value" argument
}

// Options returns the entry's valid "-o name=value" settings in order (a
// later one for the same name wins when they are applied in order). It looks
// only at the daemon options, which end at the first argument that does not
// start with "-" or at "--".
func (e *MasterEntry) Options() []Option {
	var out []Option
	for i := 0; i < len(e.Args); i++ {
		arg := e.Args[i]
		if !strings.HasPrefix(arg, "-") || arg == "--" {
			break
		}
		if !takesValue(arg) || i+1 >= len(e.Args) {
			continue
		}
		if arg == "-o" {
			if name, value, err := SplitNameValue(e.Args[i+1]); err == nil {
				out = append(out, Option{Name: name, Value: value, Index: i + 1})
			}
		}
		i++
	}
	return out
}

// takesValue reports whether the daemon option arg ("-o", but also a lone
// "-", as in Postfix) takes the next argument as its value.
func takesValue(arg string) bool {
	return len(arg) == 1 || arg[1] == 'o'
}

// splitQuoted splits s at any of the separator bytes, keeping {...}
// groups (which may contain separators) inside one token, like Postfix's
// mystrtokq().
func splitQuoted(s, sep string) []string {
	var out []string
	i := 0
	for {
		for i < len(s) && strings.IndexByte(sep, s[i]) >= 0 {
			i++
		}
		if i >= len(s) {
			return out
		}
		start := i
		level := 0
		for ; i < len(s); i++ {
			ch := s[i]
			if ch == '{' {
				level++
			} else if level > 0 && ch == '}' {
				level--
			} else if level == 0 && strings.IndexByte(sep, ch) >= 0 {
				break
			}
		}
		out = append(out, s[start:i])
	}
}

// balancedLen returns the length of the balanced {...} at the start of s,
// or 0 when it is not balanced.
func balancedLen(s string) int {
	if s == "" || s[0] != '{' {
		return 0
	}
	level := 1
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '}':
			level--
			if level == 0 {
				return i + 1
			}
		case '{':
			level++
		}
	}
	return 0
}

// ExtractBraced removes the braces around a "{ text }" argument and the
// white space just inside them, like Postfix's extpar() with stripping.
// The warning text (without the "master.cf: " prefix) is returned for
// "missing '}' in ..." and "syntax error after '}' in ...".
func ExtractBraced(s string) (string, string) {
	var warn string
	var inner string
	switch n := balancedLen(s); {
	case !strings.HasPrefix(s, "{"):
		return s, fmt.Sprintf("no '{' at start of text in \"%s\"", s)
	case n == 0:
		warn = fmt.Sprintf("missing '}' in \"%s\"", s)
		inner = s[1:]
	default:
		if n != len(s) {
			warn = fmt.Sprintf("syntax error after '}' in \"%s\"", s)
		}
		inner = s[1 : n-1]
	}
	return trimSpace(inner), warn
}

// normalizeArgs normalises the command arguments the way postconf does.
func normalizeArgs(args []string, warn func(string)) []string {
	w := func(text string) {
		if warn != nil {
			warn(Printable("master.cf: " + text))
		}
	}
	args = append([]string(nil), args...)
	extract := func(i int) {
		inner, msg := ExtractBraced(args[i])
		if msg != "" {
			w(msg)
		}
		args[i] = inner
	}
	i := 0
	for ; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") || arg == "--" {
			break
		}
		// Split "-stuffozz" into "-stuff" and "-ozz".
		if len(arg) > 2 {
			if j := strings.IndexByte(arg[2:], 'o'); j >= 0 {
				args = append(args[:i+1], append([]string{"-" + arg[2+j:]}, args[i+1:]...)...)
				arg = arg[:2+j]
				args[i] = arg
			}
		}
		if !takesValue(arg) {
			continue
		}
		doExtract := false
		switch {
		case len(arg) > 2:
			args = append(args[:i+1], append([]string{arg[2:]}, args[i+1:]...)...)
			args[i] = arg[:2]
			i++
			doExtract = strings.HasPrefix(args[i], "{")
		case i+1 < len(args):
			i++
			doExtract = strings.HasPrefix(args[i], "{")
		}
		if doExtract {
			extract(i)
			if len(args[i-1]) > 1 && args[i-1][1] == 'o' {
				name, value, err := SplitNameValue(args[i])
				if err != nil {
					w(fmt.Sprintf("%s: \"%s\"", err, args[i]))
				} else {
					args[i] = name + "=" + value
				}
			}
		}
	}
	for ; i < len(args); i++ {
		if strings.HasPrefix(args[i], "{") {
			extract(i)
		}
	}
	return args
}

// checkMasterFields applies postconf's field checks; the error text is
// postconf's fatal message (newlines shown as spaces).
func checkMasterFields(f []string, raw string) error {
	fail := func(format string, args ...any) error {
		return errors.New(Printable(strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " ")))
	}
	valid := false
	for _, t := range MasterTypes {
		if f[1] == t {
			valid = true
		}
	}
	if !valid {
		return fail("invalid type field \"%s\" in \"%s\"", f[1], raw)
	}
	for i := 2; i <= 4; i++ {
		if len(f[i]) != 1 || strings.IndexByte("yn-", f[i][0]) < 0 {
			return fail("invalid %s field \"%s\" in \"%s\"", MasterFieldNames[i], f[i], raw)
		}
	}
	if err := CheckMasterField(5, f[5]); err != nil {
		return fail("invalid wakeup field \"%s\" in \"%s\"", f[5], raw)
	}
	if err := CheckMasterField(6, f[6]); err != nil {
		return fail("invalid process_limit field \"%s\" in \"%s\"", f[6], raw)
	}
	return nil
}

// CheckMasterField reports whether value is acceptable for the fixed field
// with the given index (0 = service ... 7 = command), with postconf's rules.
// The error text is "invalid FIELD field \"VALUE\"" without the "in ..."
// part; callers add the context.
func CheckMasterField(field int, value string) error {
	bad := fmt.Errorf("invalid %s field \"%s\"", MasterFieldNames[field], value)
	switch field {
	case 1:
		for _, t := range MasterTypes {
			if value == t {
				return nil
			}
		}
		return bad
	case 2, 3, 4:
		if len(value) != 1 || strings.IndexByte("yn-", value[0]) < 0 {
			return bad
		}
	case 5:
		n := len(value)
		if n > 0 && value[n-1] == '?' {
			n--
		}
		if !(value != "" && value[0] == '-' && n == 1) && spanDigits(value) != n {
			return bad
		}
	case 6:
		if value != "-" && spanDigits(value) != len(value) {
			return bad
		}
	}
	return nil
}

func spanDigits(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

// ErrBadFieldCount is the error for a master.cf entry with fewer than 8
// fields.
var ErrBadFieldCount = errors.New("bad field count")

// ParseMasterEntry parses the text of one master.cf entry (a logical
// line). It returns ErrBadFieldCount for too few fields, or postconf's field
// error ("invalid type field \"tcp\" in \"...\""). Brace and -o problems are
// warnings ("master.cf: missing '}' in \"{foo\"").
func ParseMasterEntry(text string, warn func(string)) (MasterEntry, error) {
	f := splitQuoted(cString(text), masterBlanks)
	if len(f) < 8 {
		return MasterEntry{}, ErrBadFieldCount
	}
	if err := checkMasterFields(f, text); err != nil {
		return MasterEntry{}, err
	}
	return MasterEntry{
		Service: f[0], Type: f[1], Private: f[2], Unpriv: f[3], Chroot: f[4],
		Wakeup: f[5], MaxProc: f[6], Command: f[7],
		Args: normalizeArgs(f[8:], warn),
		Text: text,
	}, nil
}

// ParseMaster parses the contents of a master.cf file named path. A short
// entry gives "file PATH: line N: bad field count"; field errors have no
// prefix, as with postconf.
func ParseMaster(path string, data []byte, warn func(string)) ([]MasterEntry, error) {
	var out []MasterEntry
	for _, ll := range ReadLogicalLines(path, data, warn) {
		e, err := ParseMasterEntry(ll.Text, warn)
		if errors.Is(err, ErrBadFieldCount) {
			return nil, errors.New(Printable(fmt.Sprintf("file %s: line %d: %s", path, ll.Line, err)))
		}
		if err != nil {
			return nil, err
		}
		e.Line = ll.Line
		out = append(out, e)
	}
	return out, nil
}

// ReadMaster reads and parses the master.cf file at path. A file that
// cannot be opened gives "open PATH: REASON". Warnings are discarded; use
// ReadMasterWarn to see them.
func ReadMaster(path string) ([]MasterEntry, error) {
	return ReadMasterWarn(path, nil)
}

// ReadMasterWarn is ReadMaster with a warning callback.
func ReadMasterWarn(path string, warn func(string)) ([]MasterEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errors.New(Printable(fmt.Sprintf("open %s: %s", path, syserr.Text(err))))
	}
	return ParseMaster(path, data, warn)
}

// Layout constants of postconf's output.
const (
	lineLimit  = 80
	indentLen  = 4
	indentText = "    "
)

var masterColumns = [8]int{0, 11, 17, 25, 33, 41, 49, 57}

// Format returns the entry in postconf -M layout, ending in a newline: the
// eight fields at columns 0, 11, 17, 25, 33, 41, 49 and 57 (at least one
// space apart), then the arguments. With fold, "-o name=value" options go on
// their own 4-space-indented lines and other arguments wrap before column
// 80 (postconf -Mf). Values and arguments with white space are wrapped in
// {}. When expand is not nil it is applied to each -o value (postconf
// -Mx).
func (e *MasterEntry) Format(fold bool, expand func(value string) string) string {
	var b strings.Builder
	lineLen := 0
	for i, f := range e.Fields() {
		if lineLen > 0 {
			for {
				b.WriteByte(' ')
				lineLen++
				if lineLen >= masterColumns[i] {
					break
				}
			}
		}
		b.WriteString(f)
		lineLen += len(f)
	}
	formatArgs(&b, lineLen, e.Args, fold, expand, 3)
	b.WriteString("\n")
	return b.String()
}

// FieldFormat says how FormatField prints a field (postconf -F).
type FieldFormat struct {
	Fold      bool                      // -f
	HideName  bool                      // -h
	HideValue bool                      // -H
	Expand    func(value string) string // -x: applied to -o values
}

// FormatField returns one field of the entry as postconf -F prints it,
// ending in a newline: "service/type/field = value"; for the command field
// the value includes the arguments.
func (e *MasterEntry) FormatField(field int, f FieldFormat) string {
	var b strings.Builder
	lineLen := 0
	if !f.HideName {
		s := e.Service + "/" + e.Type + "/" + MasterFieldNames[field]
		b.WriteString(s)
		lineLen += len(s)
	}
	if !f.HideName && !f.HideValue {
		b.WriteString(" = ")
		lineLen += 3
	}
	if !f.HideValue {
		v := e.Fields()[field]
		if lineLen > 0 && lineLen+len(v) > lineLimit {
			b.WriteString("\n" + indentText)
			lineLen = indentLen
		}
		b.WriteString(v)
		lineLen += len(v)
		if field == 7 {
			formatArgs(&b, lineLen, e.Args, f.Fold, f.Expand, 1)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// formatArgs appends the command arguments with postconf's grouping and
// folding rules. optExtra is what an "-o value" pair adds to the length
// estimate besides the value (3 for -M, 1 for -F, as in Postfix).
func formatArgs(b *strings.Builder, lineLen int, args []string, fold bool, expand func(string) string, optExtra int) {
	add := func(s string) {
		b.WriteString(s)
		lineLen += len(s)
	}
	inOptions := true
	for i := 0; i < len(args); i++ {
		arg := args[i]
		argLen := len(arg)
		aval := ""
		hasVal := false
		needParens := false
		if inOptions {
			// As in Postfix, the first non-option argument is never
			// wrapped in braces.
			if !strings.HasPrefix(arg, "-") || arg == "--" {
				inOptions = false
			} else if takesValue(arg) && i+1 < len(args) {
				hasVal = true
				aval = args[i+1]
				lineLen = lineLimit
				if arg == "-o" && expand != nil {
					aval = expand(aval)
				}
				argLen += len(aval) + optExtra
				if strings.ContainsAny(aval, masterBlanks) {
					needParens = true
					argLen += 2
				}
			}
		} else {
			needParens = strings.ContainsAny(arg, masterBlanks)
		}
		if lineLen > indentLen {
			if !fold || lineLen+1+argLen < lineLimit {
				add(" ")
			} else {
				b.WriteString("\n" + indentText)
				lineLen = indentLen
			}
		}
		if !inOptions && needParens {
			add("{" + arg + "}")
		} else {
			add(arg)
		}
		if hasVal {
			add(" ")
			if needParens {
				add("{" + aval + "}")
			} else {
				add(aval)
			}
			i++
			lineLen = lineLimit
		}
	}
}
